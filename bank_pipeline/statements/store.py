"""Where generated statements are kept: a directory per period, a folder per format, and a manifest.

    <root>/2026-01/manifest.jsonl          one JSON object per statement, in account id order
    <root>/2026-01/pdf/<account>-2026-01.pdf
    <root>/2026-01/camt053/<account>-2026-01.xml  ...
    <root>/ranges/2026-01-05_2026-02-04/...       ad-hoc ranges

`<root>/2026-01` is a symbolic link to one generation, `<root>/.generations/2026-01.<id>`. A run writes a new
generation beside the current one and then replaces the link in one atomic rename, so readers see the previous
generation or the new one, never a mix or nothing, and a failed or killed run leaves the previous one in place
(its leftovers are swept by the period's next run). Runs of one period take turns on a file lock. A file name is
the statement id with every character outside [A-Za-z0-9._-] percent-encoded, so two accounts never share
a file. The manifest holds no wall-clock time: regenerating a period from the same events gives the same
manifest, byte for byte.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bank_pipeline.domain.statements import Statement, StatementPeriod

if TYPE_CHECKING:
    from bank_pipeline.statements.csv_bulk import CsvStatement
from bank_pipeline.statements.formats import FILE_EXTENSIONS

MANIFEST = "manifest.jsonl"
GENERATIONS = ".generations"


class StatementStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def period_directory(self, period: StatementPeriod, *, adhoc: bool = False) -> Path:
        return self.root / "ranges" / period.label if adhoc else self.root / period.label

    def manifest_path(self, period: StatementPeriod, *, adhoc: bool = False) -> Path:
        return self.period_directory(period, adhoc=adhoc) / MANIFEST

    def read_manifest(self, period: StatementPeriod, *, adhoc: bool = False) -> list[dict] | None:
        """The manifest of a generated period, or None if it was never generated."""
        path = self.manifest_path(period, adhoc=adhoc)
        if not path.exists():
            return None
        with path.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines]

    @contextmanager
    def writing(self, period: StatementPeriod, *, adhoc: bool = False) -> Iterator[PeriodWriter]:
        """Write a period's statements; on success they replace the period's previous generation atomically."""
        link = self.period_directory(period, adhoc=adhoc)
        generations = link.parent / GENERATIONS
        generations.mkdir(parents=True, exist_ok=True)
        with _locked(generations / f"{link.name}.lock"):
            _sweep(generations, link)
            staging = generations / f"{link.name}.{uuid.uuid4().hex[:12]}"
            staging.mkdir()
            try:
                writer = PeriodWriter(staging)
                yield writer
                writer.close()
                _point(link, staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise

    def generated_periods(self) -> Iterator[Path]:
        """The link of every generated period, monthly ones and ad-hoc ranges."""
        for base in (self.root, self.root / "ranges"):
            if base.is_dir():
                yield from (link for link in sorted(base.iterdir()) if link.is_symlink() and (link / MANIFEST).exists())

    def period_links(self) -> Iterator[Path]:
        """The link of every period a run has ever started, generated or not yet (its lock file is made when the
        run starts): what erasure must visit, first runs still writing included."""
        for base in (self.root, self.root / "ranges"):
            generations = base / GENERATIONS
            if generations.is_dir():
                yield from (base / lock.name.removesuffix(".lock") for lock in sorted(generations.glob("*.lock")))

    def rewrite(
        self,
        link: Path,
        replacement: Callable[[dict], tuple[Statement | CsvStatement, dict[str, bytes]] | Drop | None],
        *,
        mentions: str | None = None,
        wait_seconds: float | None = None,
    ) -> list[str] | None:
        """A new generation of the period at `link` (a `period_links()` link) in which each statement for which
        `replacement(manifest line)` gives (statement, {format: document}) is replaced by it, its manifest line
        and digests made anew, each for which it gives DROP is left out (files and manifest line), and every
        other statement is kept byte for byte (hard-linked). Swapped in atomically, under the period's lock, like
        `writing`. Returns the accounts whose statement was replaced or dropped ([] when the period was never
        generated, or its manifest does not contain `mentions`: nothing is rewritten then), or None when the
        lock stayed taken `wait_seconds` long (a run is writing the period: its generation is not visible yet).
        What erasure uses to re-render an erased customer's stored statements (statements/redaction.py)."""
        generations = link.parent / GENERATIONS
        generations.mkdir(parents=True, exist_ok=True)
        with _locked(generations / f"{link.name}.lock", wait_seconds=wait_seconds) as locked:
            if not locked:
                return None
            if not (link.is_symlink() and (link / MANIFEST).exists()):
                return []
            current = link.resolve()
            text = (current / MANIFEST).read_text(encoding="utf-8")
            if mentions is not None and mentions not in text:
                return []  # a cheap look first: most periods hold no statement of the one asked about
            lines = [json.loads(line) for line in text.splitlines() if line]
            staging = generations / f"{link.name}.{uuid.uuid4().hex[:12]}"
            staging.mkdir()
            replaced = []
            try:
                with (staging / MANIFEST).open("w", encoding="utf-8", newline="\n") as manifest:
                    for line in lines:
                        new = replacement(line)
                        if new is None:
                            for entry in line["files"].values():
                                _keep(current / entry["path"], staging / entry["path"])
                        elif new is DROP:
                            replaced.append(line["account_id"])
                            continue
                        else:
                            statement, documents = new
                            line = manifest_line(statement, _write_documents(staging, statement, documents))
                            replaced.append(line["account_id"])
                        manifest.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
                if not replaced:
                    shutil.rmtree(staging, ignore_errors=True)
                    return []
                _point(link, staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return replaced


class Drop:
    """What a `rewrite` replacement returns for a statement to leave out of the period."""


DROP = Drop()


def _keep(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def _write_documents(directory: Path, statement: Statement | CsvStatement, documents: dict[str, bytes]) -> dict:
    files = {}
    for format_name in sorted(documents):
        content = documents[format_name]
        relative = f"{format_name}/{file_name(statement, format_name)}"
        (directory / format_name).mkdir(exist_ok=True)
        with (directory / relative).open("xb") as file:
            file.write(content)
        files[format_name] = {"path": relative, "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    return files


class PeriodWriter:
    def __init__(self, directory: Path):
        self.directory = directory
        self._manifest = (directory / MANIFEST).open("w", encoding="utf-8", newline="\n")
        self._format_directories: set[str] = set()
        self.statements = 0
        self.files = 0
        self.bytes = 0

    def add(self, statement: Statement | CsvStatement, documents: dict[str, bytes]) -> None:
        """One statement rendered in one or more formats, and its manifest line."""
        files = {}
        for format_name in sorted(documents):
            content = documents[format_name]
            relative = f"{format_name}/{file_name(statement, format_name)}"
            if format_name not in self._format_directories:
                (self.directory / format_name).mkdir()
                self._format_directories.add(format_name)
            with (self.directory / relative).open("xb") as file:  # "x": a second statement never overwrites one
                file.write(content)
            files[format_name] = {
                "path": relative,
                "sha256": hashlib.sha256(content).hexdigest(),
                "bytes": len(content),
            }
            self.files += 1
            self.bytes += len(content)
        self._manifest.write(json.dumps(manifest_line(statement, files), sort_keys=True, ensure_ascii=False) + "\n")
        self.statements += 1

    def close(self) -> None:
        self._manifest.close()


def file_name(statement: Statement | CsvStatement, format_name: str) -> str:
    safe_id = urllib.parse.quote(statement.statement_id, safe="-._")
    return f"{safe_id}.{FILE_EXTENSIONS[format_name]}"


def manifest_line(statement: Statement | CsvStatement, files: dict[str, dict]) -> dict:
    return {
        "account_id": statement.account.account_id,
        "customer_id": statement.account.customer_id,
        "currency": statement.account.currency,
        "first_day": statement.period.first_day.isoformat(),
        "last_day": statement.period.last_day.isoformat(),
        "opening_balance": statement.opening_balance,
        "credits": statement.credits,
        "debits": statement.debits,
        "closing_balance": statement.closing_balance,
        "entries": statement.entry_count,
        "pending_holds": statement.pending_hold_total,
        "generated_at": statement.generated_at.isoformat(),
        "files": files,
    }


def manifest_digest(period_directory: Path) -> str:
    return hashlib.sha256((period_directory / MANIFEST).read_bytes()).hexdigest()


@contextmanager
def _locked(path: Path, *, wait_seconds: float | None = None) -> Iterator[bool]:
    """Hold the file lock at `path`; yields True once held. With `wait_seconds`, gives up after that long
    (yields False, the lock not held); without, waits as long as it takes."""
    with path.open("a") as lock:
        if wait_seconds is None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _point(link: Path, generation: Path) -> None:
    """Make `link` point at `generation` in one rename, then remove the generation it pointed at before."""
    previous = link.resolve() if link.is_symlink() else None
    if link.exists() and not link.is_symlink():  # a plain directory (an older layout): move it aside first
        os.rename(link, link.parent / GENERATIONS / f"{link.name}.{uuid.uuid4().hex[:12]}")
    temporary = link.parent / f".{link.name}.{uuid.uuid4().hex[:12]}.link"
    os.symlink(Path(GENERATIONS) / generation.name, temporary)
    os.replace(temporary, link)
    if previous is not None and previous != generation.resolve():
        shutil.rmtree(previous, ignore_errors=True)


def _sweep(generations: Path, link: Path) -> None:
    """Remove what killed runs of this period left behind: generations the link does not point at."""
    current = link.resolve() if link.is_symlink() else None
    for leftover in generations.glob(f"{link.name}.*"):
        if leftover.is_dir() and leftover.resolve() != current:
            shutil.rmtree(leftover, ignore_errors=True)
    for stale_link in link.parent.glob(f".{link.name}.*.link"):
        stale_link.unlink(missing_ok=True)


def changed_accounts(before: list[dict] | None, after: list[dict]) -> list[str]:
    """The accounts whose statement differs between two generations of a period (any file), or is only in one."""
    if before is None:
        return []
    old = {line["account_id"]: line for line in before}
    new = {line["account_id"]: line for line in after}
    return sorted(account for account in old.keys() | new.keys() if old.get(account) != new.get(account))
