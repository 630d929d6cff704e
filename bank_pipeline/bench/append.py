"""`bank-pipeline bench append`: batch appends through EventStore.append vs COPY of the same rows.

Ours: K spawned processes (default 1), each with its own pool and EventStore, append pre-built batches of
realistic events (payload ~200 B, metadata ~150 B of JSON) spread over many streams, with expected
versions None: the store still locks each stream, numbers versions, chains hashes, updates the stream
heads and notifies. The baseline, in the same run, against the same server: the rows we appended are read
back, their global_position shifted past ours (the primary key), encoded by the server beforehand, and
written with `COPY event_store.events FROM STDIN` into the same table, from as many processes. Only the
COPY itself is timed, so the client does no per-row work at all: the strongest baseline we can build.
"""

from __future__ import annotations

import random
import time
import uuid
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bank_pipeline.bench.common import (
    LatencySummary,
    Workers,
    bench_database,
    checkpoint,
    local_backend_pid,
    machine_load,
    microseconds,
    milliseconds,
    process_cpu_seconds,
    rate,
    server_description,
    signal_ready,
    verdict,
    worker_failure,
)
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.settings import get_settings
from bank_pipeline.store import EventStore, NewEvent
from bank_pipeline.store.records import EVENT_COLUMNS

GOAL = 0.5  # our events/s ÷ COPY rows/s
STREAM_PREFIX = "account-bench"  # the appended streams; warm-up streams are named otherwise
WARMUP_BATCHES = 3
COPY_BLOCK = 1 << 20  # the baseline writes its pre-encoded COPY data in blocks of about 1 MiB
POSITION_OFFSET = 10**12  # baseline rows get global_position + n × this, past anything we appended
FORMATS = ("binary", "text")


@dataclass(frozen=True)
class AppendPlan:
    events: int
    batch: int
    streams: int
    clients: int
    seed: int
    partitions_ahead_months: int = 3

    def share(self, index: int) -> int:
        """How many of the events client `index` appends."""
        return self.events // self.clients + (index < self.events % self.clients)


def stream_name(number: int) -> str:
    return f"{STREAM_PREFIX}{number:06d}"


def realistic_events(count: int, streams: int, rng: random.Random) -> list[NewEvent]:
    """Ledger-entry-like events: payload ~200 B and metadata ~150 B as JSON, on random streams."""
    now = datetime.now(UTC)
    made = []
    for _ in range(count):
        account = rng.randrange(streams)
        counterparty = rng.randrange(streams)
        credited = rng.random() < 0.5
        command_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        made.append(
            NewEvent(
                stream_id=stream_name(account),
                event_type="AccountCredited" if credited else "AccountDebited",
                payload={
                    "account_id": f"bench{account:06d}",
                    "transfer_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "amount": rng.randint(1, 500_00),
                    "currency": "EUR",
                    "balance_after": rng.randint(0, 10_000_000_00),
                    "counterparty": f"bench{counterparty:06d}",
                    "reference": f"Inv {rng.randint(1, 999_999):06d}",
                },
                metadata={
                    "command_id": command_id,
                    "command_type": "TransferInternal",
                    "correlation_id": command_id,
                    "actor": "api",
                },
                occurred_at=now,
                event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            )
        )
    return made


# -- ours: EventStore.append ------------------------------------------------------------------------------


@dataclass
class ClientResult:
    rows: int
    finished_at: float  # time.perf_counter() when its last append (or its COPY) returned
    client_cpu: float  # CPU seconds this process used while measured
    server_cpu: float | None  # CPU seconds its server process used meanwhile (local server only)
    latencies: bytes = b""  # array('d'): seconds per append call


class _CpuClock:
    """CPU seconds used by this process and by its connection's server process (when local)."""

    def __init__(self, conn) -> None:
        self.backend = local_backend_pid(conn)

    def start(self) -> None:
        self.client, self.server = time.process_time(), process_cpu_seconds(self.backend)

    def stop(self) -> tuple[float, float | None]:
        server = process_cpu_seconds(self.backend)
        used = None if server is None or self.server is None else server - self.server
        return time.process_time() - self.client, used


def append_client(index: int, url: str, plan: AppendPlan, *, ready, go, start_at, prepared, progress, results) -> None:
    try:
        rng = random.Random(plan.seed * 1000 + index)
        events = realistic_events(plan.share(index), plan.streams, rng)
        batches = [events[i : i + plan.batch] for i in range(0, len(events), plan.batch)]
        prepared[index] = len(events)
        pool = make_pool(url, min_size=1, max_size=1)
        store = EventStore(pool, partitions_ahead_months=plan.partitions_ahead_months)
        for _ in range(WARMUP_BATCHES):  # connection, partitions check, server-side plans; not counted
            warm = realistic_events(min(plan.batch, 100), 100, rng)
            store.append(
                [
                    NewEvent(f"warmup{index}-{n % 10}", e.event_type, e.payload, 1, e.metadata)
                    for n, e in enumerate(warm)
                ]
            )
        with pool.connection() as conn:
            clock = _CpuClock(conn)
        signal_ready(ready)
        go.wait()
        clock.start()
        latencies = array("d")
        perf_counter = time.perf_counter
        appended = 0
        began = perf_counter()
        for result in store.append_batches(batches):
            committed = perf_counter()
            latencies.append(committed - began)
            began = committed
            appended += len(result.global_positions)
            progress[index] = appended
        finished = perf_counter()
        client_cpu, server_cpu = clock.stop()
        pool.close()
        results.put((index, ClientResult(appended, finished, client_cpu, server_cpu, latencies.tobytes())))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the benchmark
        results.put((index, worker_failure(index, error)))


# -- the baseline: COPY FROM STDIN ----------------------------------------------------------------------


def _ours(clients: int, index: int) -> sql.Composable:
    """The rows EventStore.append wrote (not warm-up, not an earlier baseline's copies), client index's share."""
    return sql.SQL("stream_id LIKE {} AND global_position < {} AND global_position % {} = {}").format(
        sql.Literal(STREAM_PREFIX + "%"), sql.Literal(POSITION_OFFSET), sql.Literal(clients), sql.Literal(index)
    )


@dataclass(frozen=True)
class CopyJob:
    format: str
    offset: int
    clients: int


def copy_client(index: int, url: str, job: CopyJob, *, ready, go, start_at, prepared, progress, results) -> None:
    """Fetch this client's share of our appended rows as server-encoded COPY data (untimed), then time
    only `COPY event_store.events FROM STDIN` of it."""
    try:
        columns = [c.strip() for c in EVENT_COLUMNS.split(",")]
        selected = [sql.SQL("global_position + {}").format(sql.Literal(job.offset))] + [
            sql.Identifier(c) for c in columns[1:]
        ]
        read_back = sql.SQL(
            "COPY (SELECT {} FROM event_store.events WHERE {} ORDER BY global_position) TO STDOUT (FORMAT {})"
        ).format(sql.SQL(", ").join(selected), _ours(job.clients, index), sql.SQL(job.format))
        write = sql.SQL("COPY event_store.events ({}) FROM STDIN (FORMAT {})").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(job.format)
        )
        blocks: list[bytes] = []
        pending: list[bytes] = []
        size = 0
        with connect(url) as conn:
            with conn.cursor() as cursor, cursor.copy(read_back) as copy:
                for data in copy:
                    pending.append(bytes(data))
                    size += len(data)
                    if size >= COPY_BLOCK:
                        blocks.append(b"".join(pending))
                        pending, size = [], 0
            blocks.append(b"".join(pending))
            (rows,) = conn.execute(
                sql.SQL("SELECT count(*) FROM event_store.events WHERE {}").format(_ours(job.clients, index))
            ).fetchone()
            prepared[index] = rows
            clock = _CpuClock(conn)
            signal_ready(ready)
            go.wait()
            clock.start()
            with conn.cursor() as cursor, cursor.copy(write) as copy:
                for block in blocks:
                    copy.write(block)
            finished = time.perf_counter()  # autocommit: the COPY has committed
            client_cpu, server_cpu = clock.stop()
        progress[index] = rows
        results.put((index, ClientResult(rows, finished, client_cpu, server_cpu)))
    except BaseException as error:  # noqa: BLE001
        results.put((index, worker_failure(index, error)))


# -- the run ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One measured phase: rows written by all clients, wall time, and CPU per row."""

    label: str
    rows: int
    seconds: float
    client_cpu_per_row: float
    server_cpu_per_row: float | None
    batch_latency: LatencySummary | None = None

    @classmethod
    def of(cls, label: str, outcomes: list[ClientResult], start: float) -> Measured:
        rows = sum(o.rows for o in outcomes)
        latencies: list[float] = []
        for outcome in outcomes:
            latencies.extend(array("d", outcome.latencies))
        return cls(
            label=label,
            rows=rows,
            seconds=max(o.finished_at for o in outcomes) - start,
            client_cpu_per_row=sum(o.client_cpu for o in outcomes) / rows,
            server_cpu_per_row=(
                None if any(o.server_cpu is None for o in outcomes) else sum(o.server_cpu for o in outcomes) / rows
            ),
            batch_latency=LatencySummary.of(latencies) if latencies else None,
        )

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


@dataclass(frozen=True)
class AppendReport:
    plan: AppendPlan
    server: str
    ours: Measured
    copies: tuple[Measured, ...]
    payload_bytes: float
    metadata_bytes: float
    streams_touched: int
    checkpoints: bool

    @property
    def baseline(self) -> Measured:
        return max(self.copies, key=lambda c: c.rows_per_second)

    @property
    def ratio(self) -> float:
        return self.ours.rows_per_second / self.baseline.rows_per_second


def run(
    *,
    events: int,
    batch: int,
    streams: int,
    clients: int,
    copy_format: str,
    keep: bool,
    console: Console,
    seed: int | None = None,
) -> AppendReport:
    formats = FORMATS if copy_format == "auto" else (copy_format,)
    if any(f not in FORMATS for f in formats):
        raise ValueError(f"--copy-format must be binary, text or auto, not {copy_format!r}")
    if events < clients or batch < 1 or streams < 1:
        raise ValueError("need at least one event per client, a batch of 1 or more, and 1 stream or more")
    plan = AppendPlan(
        events,
        batch,
        streams,
        clients,
        seed if seed is not None else random.randrange(1 << 30),
        get_settings().partitions_ahead_months,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with bench_database(keep=keep) as db, Progress(*columns, console=console, transient=True) as progress:
        server = server_description(db.url)
        console.print(f"server: {server}")
        console.print(f"database: {db.name} (fresh, migrated{', kept afterwards' if keep else ''})")
        console.print(f"machine: {machine_load()} before the run")

        # 1. ours
        building = progress.add_task(f"building {events:,} events in {clients} process(es)", total=events, detail="")
        with Workers(clients, append_client, lambda index: (db.url, plan)) as workers:
            workers.wait_ready(lambda: progress.update(building, completed=workers.prepared_count()))
            progress.update(building, completed=events)
            checkpoints = checkpoint(db.url)
            appending = progress.add_task(f"EventStore.append, batches of {batch:,}", total=events, detail="")
            start = workers.start()

            def tick() -> None:
                done = workers.done_count()
                progress.update(
                    appending, completed=done, detail=f"{done / max(time.perf_counter() - start, 1e-9):,.0f} events/s"
                )

            ours = Measured.of("EventStore.append", workers.collect(tick), start)
        progress.update(appending, completed=events)

        with connect(db.url) as conn:
            payload_bytes, metadata_bytes, streams_touched = conn.execute(
                "SELECT avg(octet_length(payload::text)), avg(octet_length(metadata::text)), "
                "count(DISTINCT stream_id) FROM event_store.events WHERE stream_id LIKE %s AND global_position < %s",
                (STREAM_PREFIX + "%", POSITION_OFFSET),
            ).fetchone()

        # 2. the baseline: the same rows, COPYed into the same table
        copies = [
            _measure_copy(db.url, CopyJob(fmt, number * POSITION_OFFSET, clients), events, progress)
            for number, fmt in enumerate(formats, start=1)
        ]

    console.print(f"machine: {machine_load()} after the run")
    return AppendReport(
        plan=plan,
        server=server,
        ours=ours,
        copies=tuple(copies),
        payload_bytes=float(payload_bytes),
        metadata_bytes=float(metadata_bytes),
        streams_touched=streams_touched,
        checkpoints=checkpoints,
    )


def _measure_copy(url: str, job: CopyJob, events: int, progress: Progress) -> Measured:
    reading = progress.add_task(f"reading back rows as COPY {job.format}", total=events, detail="")
    with Workers(job.clients, copy_client, lambda index: (url, job)) as workers:
        workers.wait_ready(lambda: progress.update(reading, completed=workers.prepared_count()))
        progress.update(reading, completed=events)
        checkpoint(url)
        copying = progress.add_task(f"COPY FROM STDIN (FORMAT {job.format})", total=events, detail="")
        start = workers.start()
        done = workers.collect(lambda: progress.update(copying, completed=workers.done_count()))
    progress.update(copying, completed=events)
    return Measured.of(job.format, done, start)


def events_per_stream_per_batch(plan: AppendPlan) -> float:
    """The expected events per distinct stream in a batch of plan.batch events on random streams."""
    distinct = plan.streams * (1 - (1 - 1 / plan.streams) ** plan.batch)
    return plan.batch / distinct


def render(report: AppendReport, console: Console) -> None:
    plan, ours, base = report.plan, report.ours, report.baseline
    table = Table(title=f"bench append: {ours.rows:,} events, batches of {plan.batch:,}, {plan.clients} client(s)")
    table.add_column("")
    table.add_column("events / s", justify="right")
    table.add_column("time", justify="right")
    table.add_column("per batch p50 / p99", justify="right")
    table.add_column("client CPU / event", justify="right")
    table.add_column("server CPU / event", justify="right")
    latency = ours.batch_latency
    table.add_row(
        "ours: EventStore.append (expected versions None)",
        rate(ours.rows_per_second),
        f"{ours.seconds:.2f}s",
        f"{milliseconds(latency.p50)} / {milliseconds(latency.p99)}" if latency else "",
        microseconds(ours.client_cpu_per_row),
        microseconds(ours.server_cpu_per_row),
    )
    for copy in report.copies:
        label = f"baseline: COPY event_store.events FROM STDIN, {copy.label}"
        if len(report.copies) > 1 and copy is base:
            label += " (faster)"
        table.add_row(
            label,
            rate(copy.rows_per_second),
            f"{copy.seconds:.2f}s",
            "",
            microseconds(copy.client_cpu_per_row),
            microseconds(copy.server_cpu_per_row),
        )
    console.print(table)
    console.print(f"ratio ours / COPY: {verdict(report.ratio, GOAL)}")
    console.print(
        f"[dim]events: payload {report.payload_bytes:.0f} B and metadata {report.metadata_bytes:.0f} B of JSON "
        f"on average, over {report.streams_touched:,} streams (of {plan.streams:,}), about "
        f"{events_per_stream_per_batch(plan):.1f} events per stream per batch (each stream a batch touches costs "
        f"a lock, a read and an update of its head); the baseline COPYs the "
        f"same rows (global_position shifted by {POSITION_OFFSET:.0e} per format), encoded by the server "
        f"beforehand, so only the COPY is timed; one COPY per client, {plan.clients} client(s)."
        f"{'' if report.checkpoints else ' (CHECKPOINT before each phase was not allowed.)'}[/]"
    )
