"""Ingesting one landing file: read it, validate it, turn its rows into commands, and account for every row.

    received = accepted + duplicate + quarantined

- accepted: the row's commands were applied (events appended), in this run or in this file's own
  interrupted earlier run (its events name the file as their causation);
- duplicate: its commands had been applied from another file (a redelivered row or file): the idempotency
  keys replayed them; or a customers row re-delivered after that customer's erasure (ignored, not kept);
- quarantined: a row in ingest.quarantine says why (a validation rule, a domain refusal, a record id reused
  with other content, a file rejected as a whole, or a file that could not be read at all — which counts
  as one received record).

Files are ingested in landing order (landing.LandingFile): a file waits while an earlier one in the
landing zone is not finished, so customers exist before their accounts, and accounts before their money.
One process at a time per file: an advisory lock on its name.
"""

import logging
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import psycopg
from psycopg_pool import ConnectionPool

from bank_pipeline.application import CommandBus, CommandHandler, CommandResult
from bank_pipeline.domain.errors import CustomerErased, DomainError
from bank_pipeline.domain.personal_data import ERASED_MARKER, PERSONAL_FIELDS
from bank_pipeline.ingest.commands import RecordCommand, UnmappableRecord, commands_for
from bank_pipeline.ingest.errors import ContentChanged, EarlierFilesPending, FileBeingIngested, IngestionError
from bank_pipeline.ingest.landing import LandingFile, landing_files_in, recognise
from bank_pipeline.ingest.reading import ParsedFile, read_landing_file
from bank_pipeline.ingest.validation import Validation, validate
from bank_pipeline.settings import get_settings
from bank_pipeline.store import IdempotencyConflict

log = logging.getLogger(__name__)
FINAL_STATUSES = ("ingested", "unreadable", "duplicate_file", "rejected")


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
    status: str  # ingested | unreadable | duplicate_file | rejected
    received: int
    accepted: int
    duplicate: int
    quarantined: int
    events_appended: int
    quarantined_by_reason: dict[str, int]
    seconds: float
    validation: dict[str, Any] | None = None  # validation_summary(): suite, rows, rows_passed, failed expectations
    duplicate_of: str | None = None
    already_done: bool = False  # this call found the file finished and changed nothing

    @property
    def rejection_rate(self) -> float:
        return self.quarantined / self.received if self.received else 0.0


@dataclass
class _Tally:
    accepted: int = 0
    duplicate: int = 0
    events: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)


class Ingestion:
    """Ingests landing files through one CommandBus (group commit), for one process. Use as a context
    manager, or call close(). `max_rejection_rate`: a file whose rows fail validation beyond this share is
    rejected whole (nothing applied); default BANK_PIPELINE_MAX_REJECTION_RATE."""

    def __init__(
        self, handler: CommandHandler, pool: ConnectionPool, landing_dir: Path, max_rejection_rate: float | None = None
    ):
        self.handler, self.pool, self.landing_dir = handler, pool, landing_dir
        self.max_rejection_rate = (
            max_rejection_rate if max_rejection_rate is not None else get_settings().max_rejection_rate
        )
        self.bus = CommandBus(handler)

    def __enter__(self) -> "Ingestion":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.bus.close()

    # -- the landing zone -----------------------------------------------------------------------

    def pending_files(self) -> list[LandingFile]:
        """Landing files not finished yet, in ingestion order."""
        finished = finished_file_names(self.pool)
        return [f for f in landing_files_in(self.landing_dir) if f.name not in finished]

    def ingest_pending(self) -> Iterator[FileOutcome]:
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
        with self._only_ingester(landing):
            self._require_earlier_files_done(landing)
            parsed = read_landing_file(path)
            done = self._finished(landing, parsed)
            if done is not None:
                return done
            redo = self._mark_started(landing, parsed)

            if parsed.unreadable is not None:  # the file is the one record received
                problem = Quarantined(None, None, "unreadable_file", parsed.unreadable, {"file": landing.name})
                return self._finish(landing, "unreadable", 1, _Tally(quarantined=[problem]), None, started)
            received = parsed.records.height
            earlier_copy = self._same_file_ingested(landing, parsed.content_sha256)
            if earlier_copy is not None:
                tally = _Tally(duplicate=received)
                return self._finish(
                    landing, "duplicate_file", received, tally, None, started, duplicate_of=earlier_copy
                )

            validation = validate(parsed)
            # A redo finishes what an interrupted run began, which may have applied rows already: no whole-file
            # rejection then (its "nothing applied" would be untrue, whatever the threshold is now).
            if not redo and received and len(validation.failures) / received > self.max_rejection_rate:
                tally = self._reject_whole_file(parsed, validation)
                return self._finish(landing, "rejected", received, tally, validation, started)
            tally = self._apply(landing, parsed, validation, redo)
            return self._finish(landing, "ingested", received, tally, validation, started)

    def _apply(self, landing: LandingFile, parsed: ParsedFile, validation: Validation, redo: bool) -> _Tally:
        """Quarantine the rows validation rejects; send the others' commands to the bus in file order and
        sort each row by what became of its commands."""
        tally = _Tally()
        submitted: list[tuple[int | None, dict[str, Any], list[Future[CommandResult]]]] = []
        for index, row in enumerate(parsed.records.iter_rows(named=True)):
            line = row.pop("line")
            reasons = validation.failures.get(index)
            if reasons:
                tally.quarantined.append(_quarantined(line, row, _validation_code(reasons), "; ".join(reasons)))
                continue
            try:
                commands = commands_for(landing, row)
            except UnmappableRecord as error:
                tally.quarantined.append(_quarantined(line, row, "unmappable", str(error)))
                continue
            futures = [self._submit(command, landing, line) for command in commands]
            submitted.append((line, row, futures))
        replays: list[tuple[list[CommandResult], int]] = []  # rows whose commands all replayed
        for line, row, futures in submitted:
            results = self._results(line, row, futures, tally)
            if results is None:
                continue
            if all(r.replayed for r in results):
                replays.append((results, line))
            else:
                tally.accepted += 1
                tally.events += sum(len(r.global_positions) for r in results if not r.replayed)
        ours = self._caused_by(landing, replays) if redo else set()
        for results, line in replays:
            if line in ours:  # applied by this file's own interrupted run
                tally.accepted += 1
                tally.events += sum(len(r.global_positions) for r in results)
            else:
                tally.duplicate += 1
        return tally

    def _submit(self, command: RecordCommand, landing: LandingFile, line: int | None) -> Future[CommandResult]:
        return self.bus.submit(
            command.command,
            idempotency_key=command.idempotency_key,
            actor="ingestion",
            causation_id=landing.name,  # every event names the file and line it came from
            correlation_id=f"{landing.name}:{line}",
            occurred_at=command.occurred_at,
        )

    @staticmethod
    def _results(
        line: int | None, row: dict[str, Any], futures: list[Future[CommandResult]], tally: _Tally
    ) -> list[CommandResult] | None:
        """The row's command results, or None when it was quarantined (its first refusal says why: the
        later commands of a record fail because of it)."""
        results: list[CommandResult] = []
        for future in futures:
            try:
                results.append(future.result())
            except CustomerErased as refusal:
                if not _holds_personal_data(row):
                    tally.quarantined.append(_quarantined(line, row, refusal.code, str(refusal)))
                    return None
                # A customers row re-delivered after the customer's erasure: what it asks was done before the
                # erasure, which forbids recording their personal data again. Not kept (a quarantined row
                # would hold it in plain text): counted as a duplicate.
                log.info("line %s: customer %s is erased; the re-delivered row is ignored", line, row["customer_id"])
                tally.duplicate += 1
                return None
            except DomainError as refusal:
                tally.quarantined.append(_quarantined(line, row, refusal.code, str(refusal)))
                return None
            except IdempotencyConflict as conflict:
                reason = f"{conflict}: the record id was already ingested with other content"
                tally.quarantined.append(_quarantined(line, row, "record_id_reused", reason))
                return None
        return results

    def _caused_by(self, landing: LandingFile, replays: list[tuple[list[CommandResult], int]]) -> set[int]:
        """The lines among `replays` whose events this file itself appended (in an interrupted earlier run)."""
        positions = [p for results, _ in replays for r in results for p in r.global_positions]
        if not positions:
            return set()
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT metadata->>'correlation_id' FROM event_store.events "
                "WHERE global_position = ANY(%s) AND metadata->>'causation_id' = %s",
                (positions, landing.name),
            ).fetchall()
        prefix = f"{landing.name}:"
        return {int(c[len(prefix) :]) for (c,) in rows if c and c.startswith(prefix) and c[len(prefix) :].isdigit()}

    def _reject_whole_file(self, parsed: ParsedFile, validation: Validation) -> _Tally:
        share = len(validation.failures) / parsed.records.height
        why = (
            f"the file was rejected whole: {share:.0%} of its rows failed validation, above the "
            f"{self.max_rejection_rate:.0%} threshold; nothing of it was applied. "
            "Fix it upstream and deliver it again under the next sequence number"
        )
        tally = _Tally()
        for index, row in enumerate(parsed.records.iter_rows(named=True)):
            line = row.pop("line")
            reasons = validation.failures.get(index)
            code = _validation_code(reasons) if reasons else "file_rejected"
            tally.quarantined.append(_quarantined(line, row, code, "; ".join([*(reasons or []), why])))
        return tally

    # -- the ledger (ingest.files, ingest.quarantine) ---------------------------------------------

    @contextmanager
    def _only_ingester(self, landing: LandingFile) -> Iterator[None]:
        """Hold a session advisory lock on the file's name while this process ingests it."""
        key = f"ingest:{landing.name}"
        with self.pool.connection() as conn:
            (locked,) = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()
            if not locked:
                raise FileBeingIngested(landing.name)
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))

    def _require_earlier_files_done(self, landing: LandingFile) -> None:
        earlier = [f.name for f in self.pending_files() if f < landing]
        if earlier:
            raise EarlierFilesPending(landing.name, earlier)

    def _finished(self, landing: LandingFile, parsed: ParsedFile) -> FileOutcome | None:
        """The stored outcome when this file was already finished; None when it still has to be ingested."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT status, content_sha256, received, accepted, duplicate, quarantined, events_appended, "
                "duplicate_of, validation FROM ingest.files WHERE file_name = %s",
                (landing.name,),
            ).fetchone()
            if row is None or row[0] not in FINAL_STATUSES:
                return None
            status, sha, received, accepted, duplicate, quarantined, events, duplicate_of, validation = row
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
            events, reasons, 0.0, validation, duplicate_of, already_done=True,
        )  # fmt: skip

    def _mark_started(self, landing: LandingFile, parsed: ParsedFile) -> bool:
        """Record that the file is being ingested; True when an earlier run of it was interrupted."""
        with self.pool.connection() as conn:
            (inserted,) = conn.execute(
                "INSERT INTO ingest.files (file_name, kind, schema_version, business_day, content_sha256, size_bytes, "
                "status) VALUES (%s, %s, %s, %s, %s, %s, 'ingesting') ON CONFLICT (file_name) DO UPDATE "
                "SET content_sha256 = excluded.content_sha256, size_bytes = excluded.size_bytes "
                "RETURNING xmax = 0",
                (
                    landing.name,
                    landing.kind,
                    landing.schema_version,
                    landing.day,
                    parsed.content_sha256,
                    parsed.size_bytes,
                ),
            ).fetchone()
        return not inserted

    def _same_file_ingested(self, landing: LandingFile, sha: str) -> str | None:
        """An earlier file of the same kind and business day with the same bytes: a redelivered copy."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT file_name FROM ingest.files WHERE content_sha256 = %s AND file_name <> %s AND kind = %s "
                "AND business_day = %s AND status = 'ingested' ORDER BY file_name LIMIT 1",
                (sha, landing.name, landing.kind, landing.day),
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
        summary = validation_summary(validation) if validation is not None else None
        with self.pool.connection() as conn, conn.transaction():
            _scrub_erased(conn, tally.quarantined)
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO ingest.quarantine (file_name, line, record_id, reason_code, reason, record) "
                    "VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
                    [
                        (landing.name, q.line, q.record_id, q.reason_code, q.reason, orjson.dumps(q.record).decode())
                        for q in tally.quarantined
                    ],
                )
            finished = conn.execute(
                "UPDATE ingest.files SET status = %s, received = %s, accepted = %s, duplicate = %s, quarantined = %s, "
                "events_appended = %s, duplicate_of = %s, validation = %s, finished_at = now() "
                "WHERE file_name = %s AND status = 'ingesting'",
                (status, received, tally.accepted, tally.duplicate, quarantined, tally.events, duplicate_of,
                 orjson.dumps(summary).decode() if summary else None, landing.name),
            )  # fmt: skip
            if finished.rowcount != 1:  # another ingester finished it meanwhile (our lock connection was lost)
                raise IngestionError(
                    f"{landing.name} was finished by another ingester while this one worked on it; its outcome "
                    "stands and this run's is discarded."
                )
        return FileOutcome(
            landing.name, landing.kind, landing.schema_version, status, received, tally.accepted, tally.duplicate,
            quarantined, tally.events, dict(Counter(q.reason_code for q in tally.quarantined)),
            time.perf_counter() - started, summary, duplicate_of,
        )  # fmt: skip


def validation_summary(validation: Validation) -> dict[str, Any]:
    """What the Great Expectations check reports, kept with the file so a re-run reports it again."""
    return {
        "suite": validation.suite,
        "rows": validation.rows,
        "rows_passed": validation.passed_rows,
        "expectations": len(validation.expectations),
        "failed": [
            {"description": e.description, "column": e.column, "rows": e.unexpected_count}
            for e in validation.expectations
            if not e.success
        ],
    }


def _validation_code(reasons: list[str]) -> str:
    """invalid_<column> from the first reason ("amount: must be ..."), so quarantine counts say what failed."""
    column, _, _ = reasons[0].partition(":")
    return f"invalid_{column}" if column.isidentifier() else "invalid_record"


def _holds_personal_data(record: dict[str, Any]) -> bool:
    return bool(record.get("customer_id")) and any(record.get(name) is not None for name in PERSONAL_FIELDS)


def _scrub_erased(conn: psycopg.Connection, quarantined: list[Quarantined]) -> None:
    """The personal fields of rows of erased customers (key destroyed) become ERASED_MARKER before they are
    quarantined: an erasure scrubs the rows already there (personal_data/keys.scrub_quarantine), and the erasure
    sweep those quarantined while it committed."""
    customers = {q.record["customer_id"] for q in quarantined if _holds_personal_data(q.record)}
    if not customers:
        return
    erased = {
        row[0]
        for row in conn.execute(
            "SELECT customer_id FROM personal_data.customer_keys WHERE customer_id = ANY(%s) AND wrapped_key IS NULL",
            (list(customers),),
        )
    }
    for q in quarantined:
        if q.record.get("customer_id") in erased:
            for name in PERSONAL_FIELDS:
                if q.record.get(name) is not None:
                    q.record[name] = ERASED_MARKER


def _quarantined(line: int | None, record: dict[str, Any], code: str, reason: str) -> Quarantined:
    record_id = record.get("record_id") or record.get("account_id") or record.get("customer_id")
    return Quarantined(line, record_id, code, reason, record)


def changed_after_ingestion(pool: ConnectionPool, landing_dir: Path) -> list[str]:
    """Finished files whose size in the landing zone is no longer the size that was ingested: upstream
    rewrote them in place. They are not ingested again (deliver a correction under the next sequence
    number); operators should hear of them. A size check only: hashing every file on each pass would not
    scale."""
    sizes = {}
    for landing in landing_files_in(landing_dir):
        try:
            sizes[landing.name] = (landing_dir / landing.name).stat().st_size
        except FileNotFoundError:  # moved away since the listing
            continue
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT file_name, size_bytes FROM ingest.files WHERE status = ANY(%s) AND file_name = ANY(%s)",
            (list(FINAL_STATUSES), list(sizes)),
        ).fetchall()
    return sorted(name for name, size in rows if sizes[name] != size)


def finished_file_names(pool: ConnectionPool) -> set[str]:
    with pool.connection() as conn:
        rows = conn.execute("SELECT file_name FROM ingest.files WHERE status = ANY(%s)", (list(FINAL_STATUSES),))
        return {row[0] for row in rows}


def ingestion_totals(pool: ConnectionPool) -> dict[str, int]:
    """Files and rows over every landing file seen: what the demo and the quarantine report show."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(received), 0), coalesce(sum(accepted), 0), coalesce(sum(duplicate), 0), "
            "coalesce(sum(quarantined), 0), coalesce(sum(events_appended), 0) FROM ingest.files"
        ).fetchone()
    return dict(
        zip(
            ("files", "received", "accepted", "duplicate", "quarantined", "events_appended"), map(int, row), strict=True
        )
    )


def quarantine_summary(pool: ConnectionPool) -> pl.DataFrame:
    """Quarantined rows by file and reason: what an operator works through."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT file_name, reason_code, count(*)::int AS rows, min(reason) AS example FROM ingest.quarantine "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    return pl.DataFrame(rows, schema=["file_name", "reason_code", "rows", "example"], orient="row")
