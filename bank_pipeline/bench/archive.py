"""`bank-pipeline bench archive`: archiving a month of events to Parquet, against raw PostgreSQL in the same run.

The bench database gets a month of realistic account histories (bench/projections.py's generator, through
EventStore.append_batches: customers, accounts, credits and debits with running balances, holds, freezes,
inbound transfers), all recorded now, in the current month's partition, and the read model is projected. The
month is then archived with `archive_month`, `now` passed 15 months ahead so the month is due (time inside
PostgreSQL is never faked).

Measured, in this order:
  - baselines while the month is hot: a raw `COPY (SELECT <every column> FROM the partition) TO STDOUT` in the
    binary and the csv format, read by libpq's loop and dropped (the faster counts): the floor of reading the
    events out; the investigator's raw SQL read of one account's events up to an instant, folded; and the raw
    SQL statement behind the API's balance as of an instant;
  - ours: `archive_month` end to end (export, manifest, read back and verify, record, detach, drop) and its
    export step alone, in events/s; the archive's bytes per event (file size / events, with the columns'
    shares);
  - after archiving: the API's balance as of an instant inside the archived month (`account_as_of`, as the
    balance route calls it: the read model is not archived), and the investigator's replay of one account to an
    instant inside the archived month from the archive file (`read_archived_stream`: the file's footer and the row
    groups that can hold the stream are fetched, each checked against its recorded sha256, decoded, their hashes
    recomputed, then folded), each answer compared with the hot one.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import pyarrow.parquet as pq
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bank_pipeline.archive.columns import COLUMNS
from bank_pipeline.archive.months import add_months, month_of, partition_name
from bank_pipeline.archive.reading import read_archived_stream
from bank_pipeline.archive.retire import archive_month
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.bench.common import (
    BENCH_DATABASE,
    LatencySummary,
    bench_database,
    checkpoint,
    machine_load,
    milliseconds,
    rate,
    server_description,
)
from bank_pipeline.bench.projections import _wait_until_final, load_events
from bank_pipeline.bench.replay import replay_naively
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.projections.projector import Projector
from bank_pipeline.projections.rebuild_copy import copy_out_to
from bank_pipeline.projections.replay import STATEMENTS, account_as_of
from bank_pipeline.store import RecordedEvent
from bank_pipeline.store.records import EVENT_COLUMNS

GOAL_BYTES_PER_EVENT = 100
GOAL_EVENTS_PER_SECOND = 500_000
GOAL_AS_OF_P99 = 0.200  # seconds
PROJECTION_BATCH = 20_000

_HOT_STREAM = (
    f"SELECT {EVENT_COLUMNS} FROM event_store.events WHERE stream_id = %s AND recorded_at <= %s ORDER BY stream_version"  # noqa: E501
)


@dataclass(frozen=True)
class CopyBaseline:
    format: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class ArchiveReport:
    server: str
    events: int
    load_seconds: float
    baselines: list[CopyBaseline]
    archive_seconds: float
    export_seconds: float
    step_seconds: dict[str, float]
    parquet_bytes: int
    column_bytes: dict[str, int]
    as_of_raw: LatencySummary
    as_of_ours: LatencySummary
    replay_raw: LatencySummary
    replay_ours: LatencySummary
    replay_events: float  # mean events read per replay
    disagreements: list[str] = field(default_factory=list)

    @property
    def baseline(self) -> CopyBaseline:
        return max(self.baselines, key=lambda b: b.rows_per_second)

    @property
    def bytes_per_event(self) -> float:
        return self.parquet_bytes / self.events if self.events else 0.0

    @property
    def archive_rate(self) -> float:
        return self.events / self.archive_seconds if self.archive_seconds else 0.0

    @property
    def export_rate(self) -> float:
        return self.events / self.export_seconds if self.export_seconds else 0.0


@dataclass(frozen=True)
class Query:
    account_id: str
    as_of: datetime


def run(*, events: int, queries: int, replays: int, seed: int, keep: bool, console: Console) -> ArchiveReport:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    rng = random.Random(seed + 1)
    with bench_database(f"{BENCH_DATABASE}_archive", keep=keep) as db, TemporaryDirectory() as directory:
        server = server_description(db.url)
        console.print(f"server: {server}")
        console.print(f"database: {db.name} (fresh, migrated{', kept afterwards' if keep else ''})")
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(f"appending ~{events:,} realistic events (not measured)", total=events)
            began = time.perf_counter()
            loaded = load_events(db.url, events, seed, lambda done: bar.update(task, completed=done))
            load_seconds = time.perf_counter() - began
            _wait_until_final(db.url)
            with make_pool(db.url, min_size=1, max_size=2) as pool:
                projecting = bar.add_task("projecting the read model (not measured)", total=loaded)
                Projector(pool, batch_size=PROJECTION_BATCH).catch_up(
                    on_batch=lambda batch: bar.update(projecting, advance=batch.events)
                )
        console.print(f"loaded {loaded:,} events in {load_seconds:.0f}s and projected them")
        month = month_of(datetime.now(UTC))
        later = datetime.combine(add_months(month, 15), datetime.min.time(), UTC)
        checkpoint(db.url)
        console.print(f"machine: {machine_load()} before the measured phases")
        with connect(db.url) as conn, Progress(*columns, console=console, transient=True) as bar:
            count = conn.execute(sql.SQL("SELECT count(*) FROM event_store.{}").format(
                sql.Identifier(partition_name(month)))).fetchone()[0]  # fmt: skip
            baselines = []
            for copy_format in ("binary", "csv"):
                bar.add_task(f"baseline: COPY TO STDOUT ({copy_format})", total=None)
                baselines.append(_copy_baseline(conn, month, copy_format))
            drawn = _draw_queries(conn, rng, queries)
            as_of_raw = _time_as_of(conn, drawn, bar, "baseline: the balance's raw SQL", raw=True)
            hot_task = bar.add_task("baseline: one account's events up to an instant, raw SQL, folded", total=replays)
            hot, replay_raw = [], []
            for query in drawn[:replays]:
                began = time.perf_counter()
                rows = conn.execute(_HOT_STREAM, (f"account-{query.account_id}", query.as_of)).fetchall()
                folded = replay_naively([RecordedEvent(*row) for row in rows], query.as_of, "system", 0)
                replay_raw.append(time.perf_counter() - began)
                hot.append((folded, len(rows)))
                bar.advance(hot_task)

        steps: dict[str, float] = {}
        store = ArchiveStore(str(Path(directory) / "archive"))
        with connect(db.url) as conn, Progress(*columns, console=console, transient=True) as bar:
            bar.add_task(f"ours: archive_month of {count:,} events (export, verify, drop)", total=None)
            last = [time.perf_counter()]

            def step(name: str) -> None:
                now = time.perf_counter()
                steps[name] = now - last[0]
                last[0] = now

            began = time.perf_counter()
            outcome = archive_month(conn, store, month, now=later, on_step=step)
            archive_seconds = time.perf_counter() - began
        console.print(f"machine: {machine_load()} after archiving")
        parquet = Path(store.path(store.parquet_key(month)))
        column_bytes = _column_bytes(parquet)

        with connect(db.url) as conn, Progress(*columns, console=console, transient=True) as bar:
            as_of_ours = _time_as_of(conn, drawn, bar, "ours: account_as_of in the archived month", raw=False)
            cold_task = bar.add_task("ours: one account replayed from the archive file", total=replays)
            replay_ours, disagreements = [], []
            for query, (expected, _) in zip(drawn[:replays], hot, strict=True):
                began = time.perf_counter()
                events_read = read_archived_stream(conn, f"account-{query.account_id}")
                folded = replay_naively(
                    [e for e in events_read if e.recorded_at <= query.as_of], query.as_of, "system", 0
                )
                replay_ours.append(time.perf_counter() - began)
                if folded != expected:
                    disagreements.append(f"{query.account_id} as of {query.as_of}: archive {folded}, hot {expected}")
                bar.advance(cold_task)
    return ArchiveReport(
        server=server,
        events=count,
        load_seconds=load_seconds,
        baselines=baselines,
        archive_seconds=archive_seconds,
        export_seconds=outcome.export.seconds,
        step_seconds=steps,
        parquet_bytes=outcome.export.bytes,
        column_bytes=column_bytes,
        as_of_raw=LatencySummary.of(as_of_raw),
        as_of_ours=LatencySummary.of(as_of_ours),
        replay_raw=LatencySummary.of(replay_raw),
        replay_ours=LatencySummary.of(replay_ours),
        replay_events=sum(n for _, n in hot) / max(1, len(hot)),
        disagreements=disagreements,
    )


def _copy_baseline(conn, month, copy_format: str) -> CopyBaseline:
    """Every event of the partition out through `COPY (SELECT ...) TO STDOUT`, libpq's rows counted and dropped."""
    received = [0]

    def count(_: bytes) -> None:
        received[0] += 1

    query = sql.SQL("COPY (SELECT {} FROM event_store.{}) TO STDOUT (FORMAT {})").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), sql.Identifier(partition_name(month)), sql.SQL(copy_format)
    )
    began = time.perf_counter()
    copy_out_to(conn, query, count)
    seconds = time.perf_counter() - began
    return CopyBaseline(copy_format, received[0] - (1 if copy_format == "binary" else 0), seconds)  # the trailer


def _draw_queries(conn, rng: random.Random, queries: int) -> list[Query]:
    """Random accounts, each at a random instant inside the month (system time: what the bank had recorded)."""
    accounts = [row[0] for row in conn.execute("SELECT account_id FROM projections.account_balances").fetchall()]
    low, high = conn.execute("SELECT min(recorded_at), max(recorded_at) FROM event_store.events").fetchone()
    span = (high - low).total_seconds()
    return [Query(rng.choice(accounts), low + timedelta(seconds=rng.random() * span)) for _ in range(queries)]


def _time_as_of(conn, drawn: list[Query], bar: Progress, label: str, *, raw: bool) -> list[float]:
    """The balance as of each query's instant: account_as_of as the API's balance route calls it (business time,
    no recent entries), or its raw SQL statement alone."""
    statement = STATEMENTS["business"]
    for query in drawn[:50]:  # warm-up: psycopg prepares a statement once it has run 5 times
        account_as_of(conn, query.account_id, query.as_of, by="business", recent=0)
    task = bar.add_task(label, total=len(drawn))
    timed = []
    for query in drawn:
        began = time.perf_counter()
        if raw:
            conn.execute(statement, {"account_id": query.account_id, "as_of": query.as_of, "recent": 0}).fetchone()
        else:
            account_as_of(conn, query.account_id, query.as_of, by="business", recent=0)
        timed.append(time.perf_counter() - began)
        bar.advance(task)
    return timed


def _column_bytes(path: Path) -> dict[str, int]:
    metadata = pq.ParquetFile(path).metadata
    sizes: dict[str, int] = {}
    for group in range(metadata.num_row_groups):
        for index in range(metadata.num_columns):
            column = metadata.row_group(group).column(index)
            sizes[column.path_in_schema] = sizes.get(column.path_in_schema, 0) + column.total_compressed_size
    return sizes


def _goal(met: bool, goal: str) -> str:
    return f"(goal {goal}: " + ("[bold green]met[/])" if met else "[bold red]MISSED[/])")


def render(report: ArchiveReport, console: Console) -> None:
    base = report.baseline
    console.print(f"data: {report.events:,} events in the archived month")
    table = Table(title=f"bench archive: one month of {report.events:,} events to Parquet")
    table.add_column("")
    table.add_column("events / s", justify="right")
    table.add_column("time", justify="right")
    for copy in report.baselines:
        label = f"baseline: raw COPY (SELECT every column FROM the partition) TO STDOUT, {copy.format}"
        table.add_row(label + (" (faster)" if copy is base else ""), rate(copy.rows_per_second), f"{copy.seconds:.2f}s")
    table.add_row("ours: export step (COPY → Parquet file + summary)", rate(report.export_rate),
                  f"{report.export_seconds:.2f}s")  # fmt: skip
    table.add_row("ours: archive_month end to end", rate(report.archive_rate), f"{report.archive_seconds:.2f}s")
    console.print(table)
    steps = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.step_seconds.items())
    console.print(f"[dim]steps: {steps} (exported includes the export; the drop follows 'detached')[/]")

    size_met = report.bytes_per_event <= GOAL_BYTES_PER_EVENT
    console.print(
        f"(a) archive size: [bold]{report.bytes_per_event:.1f}[/] bytes/event ({report.parquet_bytes:,} bytes) "
        + _goal(size_met, f"≤ {GOAL_BYTES_PER_EVENT}")
    )
    shares = sorted(report.column_bytes.items(), key=lambda item: -item[1])
    console.print("[dim]    by column: " + ", ".join(
        f"{name} {size / max(1, report.events):.1f}" for name, size in shares) + "[/]")  # fmt: skip
    for label, value in (("export step", report.export_rate), ("archive_month end to end", report.archive_rate)):
        console.print(
            f"(b) {label}: [bold]{rate(value)}[/] events/s "
            + _goal(value >= GOAL_EVENTS_PER_SECOND, f"≥ {rate(GOAL_EVENTS_PER_SECOND)}")
            + f"; ratio to raw COPY ({base.format}, {rate(base.rows_per_second)}/s): "
            + f"[bold]{value / base.rows_per_second:.2f}[/]"
        )
    console.print(
        f"(c) API balance as of an instant in the archived month (account_as_of): {report.as_of_ours.describe()} "
        + _goal(report.as_of_ours.p99 <= GOAL_AS_OF_P99, f"p99 ≤ {milliseconds(GOAL_AS_OF_P99)}")
    )
    console.print(f"    baseline, its raw SQL alone: {report.as_of_raw.describe()}; ratio p99 "
                  f"{report.as_of_ours.p99 / report.as_of_raw.p99:.2f}×")  # fmt: skip
    console.print(
        f"(c) investigator's replay of one account from the archive file (read_archived_stream + fold, "
        f"{report.replay_events:.0f} events each): {report.replay_ours.describe()} "
        + _goal(report.replay_ours.p99 <= GOAL_AS_OF_P99, f"p99 ≤ {milliseconds(GOAL_AS_OF_P99)}")
    )
    console.print(f"    baseline, the same read in raw SQL while hot, folded: {report.replay_raw.describe()}; "
                  f"ratio p50 {report.replay_ours.p50 / report.replay_raw.p50:.1f}×, "
                  f"p99 {report.replay_ours.p99 / report.replay_raw.p99:.1f}×")  # fmt: skip
    if report.disagreements:
        console.print(f"[bold red]replays from the archive differ from the hot ones: {len(report.disagreements)}[/]")
        for line in report.disagreements[:5]:
            console.print(f"  {line}")
    else:
        console.print("replays from the archive agree with the hot ones (existence, status, balance, held)")
    console.print(
        "[dim]The COPY baseline only reads the events out (the client drops the bytes); the export also decodes "
        "them, sorts nothing (the partition's stream index gives the order), writes zstd Parquet and sums up the "
        "manifest; archive_month then reads the file back, recomputes every hash and compares the partition's "
        "delivery order before dropping it. The archive replay fetches and checks only the file's footer and the "
        "row groups that can hold the account.[/]"
    )
