"""Where generated statements are kept: a directory per period, a folder per format, and a manifest.

    <root>/2026-01/manifest.jsonl          one JSON object per statement, in account id order
    <root>/2026-01/pdf/<account>-2026-01.pdf
    <root>/2026-01/camt053/<account>-2026-01.xml  ...
    <root>/ranges/2026-01-05_2026-02-04/...       ad-hoc ranges

A period is written into a staging directory beside it and swapped in whole, so readers see the previous
generation or the new one, never a mix, and a failed run leaves the previous one in place. The manifest holds
no wall-clock time: regenerating a period from the same events gives the same manifest, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bank_pipeline.domain.statements import Statement, StatementPeriod

if TYPE_CHECKING:
    from bank_pipeline.statements.csv_bulk import CsvStatement
from bank_pipeline.statements.formats import FILE_EXTENSIONS

MANIFEST = "manifest.jsonl"
_UNSAFE_IN_FILE_NAMES = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the period directory
    sha256: str
    size: int


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
        """Write a period's statements; on success they replace the period's previous generation in one swap."""
        target = self.period_directory(period, adhoc=adhoc)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.staging"
        staging.mkdir()
        try:
            writer = PeriodWriter(staging)
            yield writer
            writer.close()
            _swap_in(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


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
            (self.directory / relative).write_bytes(content)
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
    safe_id = _UNSAFE_IN_FILE_NAMES.sub("_", statement.statement_id)
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


def _swap_in(staging: Path, target: Path) -> None:
    """Replace `target` with `staging`: two renames, so the old generation is only removed once the new one is in."""
    retired = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.retired"
    if target.exists():
        os.rename(target, retired)
    os.rename(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def changed_accounts(before: list[dict] | None, after: list[dict]) -> list[str]:
    """The accounts whose statement differs between two generations of a period (any file), or is only in one."""
    if before is None:
        return []
    old = {line["account_id"]: line for line in before}
    new = {line["account_id"]: line for line in after}
    return sorted(account for account in old.keys() | new.keys() if old.get(account) != new.get(account))
