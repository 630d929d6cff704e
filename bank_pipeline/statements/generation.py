"""Generate a period's statements into the statement store: every account open in the period, or chosen ones."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bank_pipeline.domain.errors import UnknownStatementFormat
from bank_pipeline.domain.statements import Statement, StatementPeriod
from bank_pipeline.statements.csv_bulk import CsvStatement, csv_statements, csv_statements_for_period
from bank_pipeline.statements.formats import FORMATS, renderers
from bank_pipeline.statements.reading import (
    DEFAULT_BATCH_SIZE,
    StatementAccountNotFound,
    read_statements,
    statements_for_period,
)
from bank_pipeline.statements.store import StatementStore, manifest_digest


@dataclass(frozen=True)
class GenerationReport:
    period: StatementPeriod
    directory: Path
    formats: tuple[str, ...]
    statements: int
    files: int
    bytes: int
    entries: int
    manifest_sha256: str
    seconds: float


def check_formats(names: Iterable[str]) -> tuple[str, ...]:
    """Known format names, in the canonical order; a typed error names an unknown one."""
    chosen = {name.strip().lower() for name in names if name.strip()}
    unknown = chosen - set(FORMATS)
    if unknown or not chosen:
        given = ", ".join(sorted(unknown)) or "(none given)"
        raise UnknownStatementFormat(f"unknown statement format(s) {given}: choose from {', '.join(FORMATS)}")
    return tuple(name for name in FORMATS if name in chosen)


def generate_statements(
    conn: psycopg.Connection,
    period: StatementPeriod,
    store: StatementStore,
    formats: Sequence[str] = FORMATS,
    *,
    account_ids: Sequence[str] | None = None,
    adhoc: bool = False,
    schema: str = "projections",
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> GenerationReport:
    """Render the statements and swap them into the store as the period's new generation (all or nothing).
    With `account_ids`, those accounts only (each must exist); otherwise every account open in the period."""
    formats = check_formats(formats)
    started = time.perf_counter()
    entries = 0
    with store.writing(period, adhoc=adhoc) as writer:
        for batch in _rendered_batches(conn, period, formats, account_ids, schema, batch_size):
            for statement, documents in batch:
                writer.add(statement, documents)
                entries += statement.entry_count
            if on_progress is not None:
                on_progress(len(batch))
    directory = store.period_directory(period, adhoc=adhoc)
    return GenerationReport(
        period=period,
        directory=directory,
        formats=formats,
        statements=writer.statements,
        files=writer.files,
        bytes=writer.bytes,
        entries=entries,
        manifest_sha256=manifest_digest(directory),
        seconds=time.perf_counter() - started,
    )


def _rendered_batches(
    conn: psycopg.Connection,
    period: StatementPeriod,
    formats: tuple[str, ...],
    account_ids: Sequence[str] | None,
    schema: str,
    batch_size: int,
) -> Iterator[list[tuple[Statement | CsvStatement, dict[str, bytes]]]]:
    """Batches of (statement, {format: document}). CSV alone takes the column-wise path (`csv_bulk`), which
    makes the same bytes as `render_csv` many times faster; any other format needs each `Statement`."""
    if formats == ("csv",):
        read_csv = functools.partial(csv_statements, schema=schema)
        for batch in _batches(conn, period, account_ids, schema, batch_size, read_csv, csv_statements_for_period):
            yield [(statement, {"csv": statement.document}) for statement in batch]
        return
    render = {name: renderer for name, renderer in renderers().items() if name in formats}
    read = functools.partial(read_statements, schema=schema)
    for batch in _batches(conn, period, account_ids, schema, batch_size, read, statements_for_period):
        yield [(statement, {name: render[name](statement) for name in formats}) for statement in batch]


def _batches(conn, period, account_ids, schema, batch_size, read_accounts, read_period) -> Iterator[list]:
    """Every account open in the period (`read_period`), or the chosen ones (`read_accounts`), each of which
    must exist."""
    if account_ids is None:
        yield from read_period(conn, period, schema=schema, batch_size=batch_size)
        return
    wanted = sorted(set(account_ids))
    for start in range(0, len(wanted), batch_size):
        chunk = wanted[start : start + batch_size]
        batch = read_accounts(conn, chunk, period)
        found = {statement.account.account_id for statement in batch}
        missing = [account for account in chunk if account not in found]
        if missing:
            raise StatementAccountNotFound(missing[0])
        yield batch
