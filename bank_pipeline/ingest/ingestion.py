"""Ingesting one landing file: read it, validate it, turn its rows into commands, and account for every row.

    received = accepted + duplicate + quarantined

- accepted: the row's commands were applied (events appended);
- duplicate: its commands were already applied (a redelivered row or file, or this file's own interrupted
  earlier run): the idempotency keys replayed them;
- quarantined: a row in ingest.quarantine says why (validation, a domain refusal, a record id reused
  with other content, or a file that could not be read at all).

Files are ingested in landing order (landing.LandingFile): a file waits while an earlier one in the
landing zone is not finished, so customers exist before their accounts, and accounts before their money.
"""

import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from psycopg_pool import ConnectionPool

from bank_pipeline.application import CommandBus, CommandHandler, CommandResult
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.ingest.commands import RecordCommand, UnmappableRecord, commands_for
from bank_pipeline.ingest.errors import ContentChanged, EarlierFilesPending, IngestionError
from bank_pipeline.ingest.landing import LandingFile, recognise
from bank_pipeline.ingest.reading import ParsedFile, read_landing_file
from bank_pipeline.ingest.validation import Validation, validate
from bank_pipeline.store import IdempotencyConflict

FINAL_STATUSES = ("ingested", "unreadable", "duplicate_file")


@dataclass(frozen=True)
class Quarantined:
    line: int | None
    record_id: str | None
    reason_code: str
    reason: str
    record: dict[str, Any]


@dataclass(frozen=True)
class FileOutcome:
    file_name: str
    kind: str
    schema_version: int
    status: str  # ingested | unreadable | duplicate_file
    received: int
    accepted: int
    duplicate: int
    quarantined: int
    events_appended: int
    quarantined_by_reason: dict[str, int]
    seconds: float
    validation: Validation | None = None
    duplicate_of: str | None = None
    already_done: bool = False  # this call found the file finished and changed nothing

    @property
    def rejection_rate(self) -> float:
        if self.status == "unreadable":
            return 1.0
        return self.quarantined / self.received if self.received else 0.0


@dataclass
class _Tally:
    accepted: int = 0
    duplicate: int = 0
    events: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)


class Ingestion:
    """Ingests landing files through one CommandBus (group commit), for one process. Use as a context
    manager, or call close()."""

    def __init__(self, handler: CommandHandler, pool: ConnectionPool, landing_dir: Path):
        self.handler, self.pool, self.landing_dir = handler, pool, landing_dir
        self.bus = CommandBus(handler)

    def __enter__(self) -> "Ingestion":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.bus.close()

    # -- the landing zone -----------------------------------------------------------------------

    def landing_files(self) -> list[LandingFile]:
        """Every landing file in the zone, in ingestion order."""
        if not self.landing_dir.is_dir():
            return []
        found = (recognise(path) for path in self.landing_dir.iterdir() if path.is_file())
        return sorted(f for f in found if f is not None)

    def pending_files(self) -> list[LandingFile]:
        """Landing files not finished yet, in ingestion order."""
        finished = self._finished_names()
        return [f for f in self.landing_files() if f.name not in finished]

    def ingest_pending(self) -> Iterable[FileOutcome]:
        for landing in self.pending_files():
            yield self.ingest(self.landing_dir / landing.name)

    # -- one file -------------------------------------------------------------------------------

    def ingest(self, path: Path) -> FileOutcome:
        started = time.perf_counter()
        landing = recognise(path)
        if landing is None:
            raise IngestionError(f"{path.name} is not a landing file name (see bank_pipeline/ingest/landing.py)")
        if not path.is_file():
            raise IngestionError(f"{path} does not exist: was it moved out of the landing zone?")
        self._require_earlier_files_done(landing)
        parsed = read_landing_file(path)
        done = self._finished(landing, parsed)
        if done is not None:
            return done
        self._mark_started(landing, parsed, path.stat().st_size)

        if parsed.unreadable is not None:
            problem = Quarantined(None, None, "unreadable_file", parsed.unreadable, {"file": landing.name})
            return self._finish(landing, "unreadable", 0, _Tally(quarantined=[problem]), None, started)
        received = parsed.records.height
        earlier_copy = self._same_bytes_ingested(landing, parsed.content_sha256)
        if earlier_copy is not None:
            tally = _Tally(duplicate=received)
            return self._finish(landing, "duplicate_file", received, tally, None, started, duplicate_of=earlier_copy)

        validation = validate(parsed)
        tally = self._apply(landing, parsed, validation)
        return self._finish(landing, "ingested", received, tally, validation, started)

    def _apply(self, landing: LandingFile, parsed: ParsedFile, validation: Validation) -> _Tally:
        """Quarantine the rows validation rejects; send the others' commands to the bus in file order and
        sort each row by what became of its commands."""
        tally = _Tally()
        submitted: list[tuple[dict[str, Any], list[Future[CommandResult]]]] = []
        for index, row in enumerate(parsed.records.iter_rows(named=True)):
            record = {k: v for k, v in row.items()}
            line = record.pop("line")
            reasons = validation.failures.get(index)
            if reasons:
                tally.quarantined.append(_quarantined(line, record, "validation", "; ".join(reasons)))
                continue
            try:
                commands = commands_for(landing.kind, record)
            except UnmappableRecord as error:
                tally.quarantined.append(_quarantined(line, record, "unmappable", str(error)))
                continue
            record["line"] = line
            submitted.append((record, [self._submit(command) for command in commands]))
        for record, futures in submitted:
            self._sort(record, futures, tally)
        return tally

    def _submit(self, command: RecordCommand) -> Future[CommandResult]:
        return self.bus.submit(
            command.command, idempotency_key=command.idempotency_key, actor="ingestion", occurred_at=command.occurred_at
        )

    @staticmethod
    def _sort(record: dict[str, Any], futures: list[Future[CommandResult]], tally: _Tally) -> None:
        line = record.pop("line")
        results: list[CommandResult] = []
        for future in futures:
            try:
                results.append(future.result())
            except DomainError as refusal:  # the record's later commands fail on the first one's refusal
                tally.quarantined.append(_quarantined(line, record, refusal.code, str(refusal)))
                return
            except IdempotencyConflict as conflict:
                reason = f"{conflict}: the record id was already ingested with other content"
                tally.quarantined.append(_quarantined(line, record, "record_id_reused", reason))
                return
        if all(r.replayed for r in results):
            tally.duplicate += 1
        else:
            tally.accepted += 1
            tally.events += sum(len(r.global_positions) for r in results if not r.replayed)

    # -- the ledger (ingest.files, ingest.quarantine) ---------------------------------------------

    def _finished_names(self) -> set[str]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT file_name FROM ingest.files WHERE status = ANY(%s)", (list(FINAL_STATUSES),))
            return {row[0] for row in rows}

    def _require_earlier_files_done(self, landing: LandingFile) -> None:
        earlier = [f.name for f in self.pending_files() if f < landing]
        if earlier:
            raise EarlierFilesPending(landing.name, earlier)

    def _finished(self, landing: LandingFile, parsed: ParsedFile) -> FileOutcome | None:
        """The stored outcome when this file was already finished; None when it still has to be ingested."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT status, content_sha256, received, accepted, duplicate, quarantined, events_appended, "
                "duplicate_of FROM ingest.files WHERE file_name = %s",
                (landing.name,),
            ).fetchone()
            if row is None or row[0] not in FINAL_STATUSES:
                return None
            status, sha, received, accepted, duplicate, quarantined, events, duplicate_of = row
            if sha != parsed.content_sha256:
                raise ContentChanged(
                    f"{landing.name} was already ingested with other content (sha256 {sha[:12]}…, now "
                    f"{parsed.content_sha256[:12]}…). Deliver a correction as a new file (next sequence number); "
                    "a landing file is never ingested twice under one name."
                )
            reasons = dict(
                conn.execute(
                    "SELECT reason_code, count(*) FROM ingest.quarantine WHERE file_name = %s GROUP BY 1",
                    (landing.name,),
                ).fetchall()
            )
        return FileOutcome(
            landing.name, landing.kind, landing.schema_version, status, received, accepted, duplicate, quarantined,
            events, reasons, 0.0, duplicate_of=duplicate_of, already_done=True,
        )  # fmt: skip

    def _mark_started(self, landing: LandingFile, parsed: ParsedFile, size: int) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ingest.files (file_name, kind, schema_version, business_day, content_sha256, size_bytes, "
                "status) VALUES (%s, %s, %s, %s, %s, %s, 'ingesting') ON CONFLICT (file_name) DO UPDATE "
                "SET content_sha256 = excluded.content_sha256, size_bytes = excluded.size_bytes",
                (landing.name, landing.kind, landing.schema_version, landing.day, parsed.content_sha256, size),
            )

    def _same_bytes_ingested(self, landing: LandingFile, sha: str) -> str | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT file_name FROM ingest.files WHERE content_sha256 = %s AND file_name <> %s "
                "AND status = 'ingested' ORDER BY file_name LIMIT 1",
                (sha, landing.name),
            ).fetchone()
        return row[0] if row else None

    def _finish(
        self,
        landing: LandingFile,
        status: str,
        received: int,
        tally: _Tally,
        validation: Validation | None,
        started: float,
        *,
        duplicate_of: str | None = None,
    ) -> FileOutcome:
        quarantined = len(tally.quarantined)
        with self.pool.connection() as conn, conn.transaction():
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO ingest.quarantine (file_name, line, record_id, reason_code, reason, record) "
                    "VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
                    [
                        (landing.name, q.line, q.record_id, q.reason_code, q.reason, orjson.dumps(q.record).decode())
                        for q in tally.quarantined
                    ],
                )
            conn.execute(
                "UPDATE ingest.files SET status = %s, received = %s, accepted = %s, duplicate = %s, quarantined = %s, "
                "events_appended = %s, duplicate_of = %s, finished_at = now() WHERE file_name = %s",
                (status, received, tally.accepted, tally.duplicate, quarantined, tally.events, duplicate_of,
                 landing.name),
            )  # fmt: skip
        return FileOutcome(
            landing.name, landing.kind, landing.schema_version, status, received, tally.accepted, tally.duplicate,
            quarantined, tally.events, dict(Counter(q.reason_code for q in tally.quarantined)),
            time.perf_counter() - started, validation, duplicate_of,
        )  # fmt: skip


def _quarantined(line: int | None, record: dict[str, Any], code: str, reason: str) -> Quarantined:
    return Quarantined(line, record.get("record_id") or record.get("customer_id"), code, reason, record)


def quarantine_summary(pool: ConnectionPool) -> pl.DataFrame:
    """Quarantined rows by file and reason: what an operator works through."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT file_name, reason_code, count(*)::int AS rows, min(reason) AS example FROM ingest.quarantine "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    return pl.DataFrame(rows, schema=["file_name", "reason_code", "rows", "example"], orient="row")
