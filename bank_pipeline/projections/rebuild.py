"""Full rebuild of the read model without downtime for readers: build a shadow schema, then swap it in.

1. prepare   refuse a live schema holding what a rebuild cannot reproduce; drop what a died rebuild left;
             create the shadow schema; fix the end point: every event below the read horizon now.
2. read      COPY those events out (payload fields extracted by the server), from `readers` sessions.
3. compute   every table at once with polars (rebuild_tables.py), the largest first;
4. load      each table, as soon as it is computed, created LIKE the live one without indexes and COPYed
             in (binary, FREEZE) in the same transaction (optionally UNLOGGED, then SET LOGGED);
5. index     each table's indexes and keys, as soon as it is loaded, re-created from the live catalog;
             then ANALYZE. Steps 3 to 5 overlap on `loaders` sessions; each phase ends with its last table.
6. catch_up  the projector's own code folds what was appended meanwhile into the shadow.
7. swap      one transaction: lock the live checkpoint row's table (stops other projectors, not readers),
             catch the shadow up to the horizon, rename live to projections_retired and the shadow to
             projections, commit. Readers see the old tables until the commit, the new ones after it.
8. retire    drop the old tables (waits for readers still in a query on them).

A failure (or an exception raised by `on_progress`, which tests use to inject faults) anywhere before
the swap commits drops the shadow and leaves the live read model as it was; the swap's renames roll back
with its transaction. A rebuild killed outright leaves its shadow behind, which the next one drops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field

import polars as pl
import psycopg
from psycopg import sql

from bank_pipeline.projections import rebuild_schema as schema
from bank_pipeline.projections.projector import ADVANCED_CHANNEL, LIVE_SCHEMA, project_next_batch, read_checkpoint
from bank_pipeline.projections.rebuild_copy import copy_in, copy_out, read_copy_text
from bank_pipeline.projections.rebuild_tables import (
    ENTRY_FIELDS,
    EVENT_COLUMNS,
    OTHER_FIELDS,
    parse_times,
    read_model_tables,
)
from bank_pipeline.projections.statements import ENTRY_TYPES
from bank_pipeline.store.records import Checkpoint

SHADOW_SCHEMA = "projections_rebuild"
RETIRED_SCHEMA = "projections_retired"
PHASES = ("prepare", "read", "compute", "load", "index", "catch_up", "swap", "retire")
TABLES = (
    "checkpoints", "customers", "customer_accounts", "account_balances", "account_entries", "daily_balances",
    "account_holds", "account_status_changes", "legal_holds",
)  # fmt: skip
CATCH_UP_BATCH = 20_000
REBUILD_LOCK_KEY = "bank_pipeline.projections.rebuild"  # a session-level advisory lock, held by the rebuild
# Each session's settings: timestamps read back in one unambiguous form; the shadow is worthless after a
# crash anyway, so its loads need not wait for the WAL flush (the swap's commit does).
_SESSION_SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO, YMD", "synchronous_commit": "off"}
# Index builds: sorts in memory; no parallel workers (the builds already run `loaders` at a time).
_INDEX_SETTINGS = {"maintenance_work_mem": "256MB", "max_parallel_maintenance_workers": "0"}
# An index build writes each of its pages to the WAL whole; compressing them (wal_compression, which the
# embedded server turns on) cost more CPU than the builds' sorts (measured: 1.2 s -> 0.6 s for the entries'
# primary key). Only a superuser may turn it off for a session; other roles build with the server's choice.
_UNCOMPRESSED_WAL = {"wal_compression": "off"}


class RebuildAlreadyRunning(RuntimeError):
    """Another rebuild holds the rebuild lock of this database."""


@dataclass(frozen=True)
class RebuildProgress:
    """Where a rebuild is: `phase` (one of PHASES) has done `done` of `total` (0 when unknown)."""

    phase: str
    done: int = 0
    total: int = 0
    detail: str = ""


@dataclass(frozen=True)
class RebuildResult:
    bulk_events: int  # folded by the vectorised fill: every final event when the rebuild started
    caught_up_events: int  # projected batch by batch afterwards, before and inside the swap
    checkpoint: Checkpoint  # where the read model stood when it was swapped in
    seconds: dict[str, float]  # per phase
    rows_loaded: dict[str, int]  # per table, by the vectorised fill
    unlogged: bool

    @property
    def events(self) -> int:
        return self.bulk_events + self.caught_up_events

    @property
    def seconds_to_swap(self) -> float:
        """From the start to the swap's commit: how long the rebuild took before readers had it."""
        return sum(seconds for phase, seconds in self.seconds.items() if phase != "retire")

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds_to_swap if self.seconds_to_swap else 0.0


@dataclass
class _Phases:
    """Times each phase and reports its start."""

    report: Callable[[RebuildProgress], None]
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, phase: str, total: int = 0) -> Iterator[None]:
        began = time.perf_counter()
        self.report(RebuildProgress(phase, 0, total))
        yield
        self.seconds[phase] = time.perf_counter() - began


def rebuild(
    url: str,
    *,
    on_progress: Callable[[RebuildProgress], None] | None = None,
    readers: int = 2,
    loaders: int = 2,
    unlogged: bool = False,
    catch_up_batch: int = CATCH_UP_BATCH,
) -> RebuildResult:
    """Rebuild the read model of the database at `url` from its events and swap it in; see the module."""
    report = on_progress or (lambda progress: None)
    phase = _Phases(report)
    with _session(url) as control:
        _lock_out_other_rebuilds(control)
        try:
            with phase("prepare"):
                schema.check_rebuildable(control, LIVE_SCHEMA, set(TABLES))
                _refuse_archived_history(control)
                schema.drop_schema(control, RETIRED_SCHEMA)  # a rebuild that died between swap and retire
                schema.drop_schema(control, SHADOW_SCHEMA)  # a rebuild that died before its swap
                schema.create_schema(control, LIVE_SCHEMA, SHADOW_SCHEMA)
                (horizon,) = control.execute("SELECT event_store.read_horizon()").fetchone()
            with phase("read"):
                entry_events, other_events = _read_events(url, horizon, readers)
            bulk_events = len(entry_events) + len(other_events)
            rows = _fill(url, control, entry_events, other_events, phase=phase, loaders=loaders, unlogged=unlogged)
            del entry_events, other_events
            with phase("catch_up"):
                caught_up = _catch_up(control, catch_up_batch, report, until_exhausted=False)
            with phase("swap"):
                caught_up_in_swap, checkpoint = _swap(control, catch_up_batch, report)
        except BaseException:
            _discard_shadow(url)
            raise
        with phase("retire"):
            schema.drop_schema(control, RETIRED_SCHEMA)
    return RebuildResult(
        bulk_events=bulk_events,
        caught_up_events=caught_up + caught_up_in_swap,
        checkpoint=checkpoint,
        seconds=phase.seconds,
        rows_loaded=rows,
        unlogged=unlogged,
    )


@contextmanager
def _session(url: str, settings: dict[str, str] | None = None) -> Iterator[psycopg.Connection]:
    with psycopg.connect(url, autocommit=True, application_name="bank-pipeline projections rebuild") as conn:
        for name, value in {**_SESSION_SETTINGS, **(settings or {})}.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        if conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
            for name, value in _UNCOMPRESSED_WAL.items():
                conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        yield conn


def _refuse_archived_history(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT EXISTS (SELECT FROM event_store.archived_months)").fetchone()[0]:
        raise schema.RebuildUnsupported(
            "some months of events are archived and a rebuild reads the hot events only: it would drop their "
            "entries from the read model (rebuilding across the archive is not supported yet)"
        )


def _lock_out_other_rebuilds(conn: psycopg.Connection) -> None:
    """Held by this session until it closes: two rebuilds would drop each other's shadow."""
    (locked,) = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (REBUILD_LOCK_KEY,)).fetchone()
    if not locked:
        raise RebuildAlreadyRunning("another rebuild of the read model is running on this database")


def _discard_shadow(url: str) -> None:
    """Best effort after a failure: the next rebuild drops a leftover shadow anyway."""
    try:
        with _session(url) as conn:
            schema.drop_schema(conn, SHADOW_SCHEMA)
    except psycopg.Error:
        pass


# -- read ------------------------------------------------------------------------------------------------


def _read_events(url: str, horizon: int, readers: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every event below `horizon`, its payload fields as columns: the credits and debits, and the other
    events in delivery order. Read from `readers` sessions at once: the entries in `readers` shares (by
    global_position), the others apart; each query extracts only the fields its events have (each field
    costs the server a lookup per event)."""
    entry_types = sql.SQL(", ").join(map(sql.Literal, ENTRY_TYPES))
    entries = [
        (ENTRY_FIELDS, sql.SQL("event_type IN ({}) AND global_position % {} = {}").format(
            entry_types, sql.Literal(readers), sql.Literal(share)))
        for share in range(readers)
    ]  # fmt: skip
    others = ({**ENTRY_FIELDS, **OTHER_FIELDS}, sql.SQL("event_type NOT IN ({})").format(entry_types))

    def read(fields: dict[str, pl.DataType], which: sql.Composable) -> pl.DataFrame:
        columns = [
            sql.SQL("{} AT TIME ZONE 'UTC'").format(sql.Identifier(name)) if name.endswith("_at")
            else sql.Identifier(name)
            for name in EVENT_COLUMNS
        ] + [sql.SQL("payload->>{}").format(sql.Literal(name)) for name in fields]  # fmt: skip
        query = sql.SQL("COPY (SELECT {} FROM event_store.events WHERE transaction_id < {} AND {}) TO STDOUT")
        with _session(url) as conn:
            data = copy_out(conn, query.format(sql.SQL(", ").join(columns), sql.Literal(horizon), which))
        return parse_times(read_copy_text(data, {**EVENT_COLUMNS, **fields}))

    with ThreadPoolExecutor(readers) as pool:
        *entry_parts, other_events = pool.map(lambda query: read(*query), [*entries, others])
    return pl.concat(entry_parts, rechunk=False), other_events.sort("transaction_id", "global_position")


# -- compute, load, index -------------------------------------------------------------------------------


def _fill(
    url: str,
    control: psycopg.Connection,
    entry_events: pl.DataFrame,
    other_events: pl.DataFrame,
    *,
    phase: _Phases,
    loaders: int,
    unlogged: bool,
) -> dict[str, int]:
    """Compute, load and index every table, overlapped on `loaders` sessions: each table is loaded as soon
    as it is computed (the largest first) and its indexes are built as soon as it is loaded. The phases
    end when the last table is computed ("compute"), loaded ("load"), indexed and analyzed ("index").
    Returns the rows loaded per table."""
    statements = schema.index_statements(control, LIVE_SCHEMA, SHADOW_SCHEMA)
    rows: dict[str, int] = {}
    pool = ThreadPoolExecutor(loaders, thread_name_prefix="rebuild")
    try:
        loads: dict[Future, str] = {}
        with phase("compute", len(TABLES)):
            for name, frame in read_model_tables(entry_events, other_events):
                loads[pool.submit(_load_table, url, name, frame, unlogged)] = name
                rows[name] = len(frame)
                phase.report(RebuildProgress("compute", len(rows), len(TABLES), f"{name}: {len(frame):,} rows"))
        builds: list[Future] = []
        with phase("load", len(TABLES)):
            for done, loaded in enumerate(as_completed(loads), start=1):
                loaded.result()
                table = loads[loaded]
                builds += [pool.submit(_build_index, url, s.create) for s in statements if s.table == table]
                phase.report(RebuildProgress("load", done, len(TABLES), f"{table}: {rows[table]:,} rows"))
        with phase("index", len(builds)):
            for done, built in enumerate(as_completed(builds), start=1):
                phase.report(RebuildProgress("index", done, len(builds), built.result()))
            for statement in statements:
                if statement.attach:
                    control.execute(statement.attach)
            list(pool.map(lambda table: _analyze(url, table), TABLES))
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return rows


def _load_table(url: str, name: str, frame: pl.DataFrame, unlogged: bool) -> None:
    """The shadow table created and COPYed in one transaction, so its rows are written frozen."""
    with _session(url) as conn, conn.transaction():
        schema.create_table(conn, LIVE_SCHEMA, SHADOW_SCHEMA, name, unlogged=unlogged)
        _check_columns(name, schema.table_columns(conn, SHADOW_SCHEMA, name), frame)
        copy_in(conn, sql.Identifier(SHADOW_SCHEMA, name), frame, freeze=True)
    if unlogged:
        with _session(url) as conn:
            schema.set_logged(conn, SHADOW_SCHEMA, name)


_POSTGRES_TYPES = {
    pl.Int64: "bigint",
    pl.Int32: "integer",
    pl.String: "text",
    pl.Date: "date",
    pl.Datetime("us", "UTC"): "timestamp with time zone",
}


def _check_columns(table: str, columns: dict[str, str], frame: pl.DataFrame) -> None:
    """The live table (`columns`: name to type) must have the columns the rebuild computed, no more, no fewer."""
    computed = {name: _POSTGRES_TYPES.get(dtype, str(dtype)) for name, dtype in frame.schema.items()}
    if computed != columns:
        raise schema.RebuildUnsupported(f"{LIVE_SCHEMA}.{table} has columns {columns}, the rebuild computes {computed}")


def _build_index(url: str, create: str) -> str:
    with _session(url, _INDEX_SETTINGS) as conn:
        conn.execute(create)
    return create.split(" USING ")[0]


def _analyze(url: str, table: str) -> None:
    """Fresh statistics, so the planner serves the first readers after the swap well."""
    with _session(url) as conn:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(SHADOW_SCHEMA, table)))


# -- catch up and swap -----------------------------------------------------------------------------------


def _catch_up(conn: psycopg.Connection, limit: int, report: Callable, *, until_exhausted: bool) -> int:
    """Project into the shadow batch by batch: until nothing final is left (`until_exhausted`), else until
    a batch comes back short (the shadow is then about one batch behind live)."""
    events = 0
    while True:
        batch = project_next_batch(conn, schema=SHADOW_SCHEMA, limit=limit)
        if batch is None:
            return events
        events += batch.events
        report(RebuildProgress("swap" if until_exhausted else "catch_up", events, 0, f"up to {batch.upto}"))
        if batch.events < limit and not until_exhausted:
            return events


def _swap(conn: psycopg.Connection, limit: int, report: Callable) -> tuple[int, Checkpoint]:
    """In one transaction: stop other projectors, catch the shadow up, and rename it into place."""
    with conn.transaction():
        conn.execute("SET LOCAL synchronous_commit = on")  # the shadow's loads may be lost in a crash, not this
        # EXCLUSIVE conflicts with the projector's SELECT ... FOR UPDATE, not with plain reads.
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(LIVE_SCHEMA, "checkpoints")))
        events = _catch_up(conn, limit, report, until_exhausted=True)
        checkpoint = read_checkpoint(conn, SHADOW_SCHEMA)
        for old, new in ((LIVE_SCHEMA, RETIRED_SCHEMA), (SHADOW_SCHEMA, LIVE_SCHEMA)):
            conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))
        conn.execute(
            "SELECT pg_notify(%s, %s)", (ADVANCED_CHANNEL, f"{checkpoint.transaction_id}:{checkpoint.global_position}")
        )
        report(RebuildProgress("swap", 1, 1, "renamed, committing"))
    return events, checkpoint
