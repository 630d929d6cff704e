"""`bank-pipeline bench ingest`: events/s from landing files into the event store vs a raw COPY of the same
rows into the same table, in the same run.

Ours: the simulator writes a bank into a temporary landing zone (not timed); then every file is ingested
in landing order exactly as the Dagster asset does it — read, Great Expectations, commands through one
CommandBus, quarantine — and timed from the first file to the last commit. The baseline: the events we
appended are read back as binary COPY data (not timed), their global_position shifted past ours, and
written with one `COPY event_store.events FROM STDIN` into the same table: the floor of storing the rows.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bank_pipeline.bench.common import bench_database, checkpoint, machine_load, rate, server_description, verdict
from bank_pipeline.db.connection import connect
from bank_pipeline.ingest.ingestion import Ingestion
from bank_pipeline.ingest.validation import prepare as prepare_validation
from bank_pipeline.runtime import Runtime
from bank_pipeline.store.records import EVENT_COLUMNS

GOAL = 0.5  # our events/s ÷ COPY rows/s
POSITION_OFFSET = 10**12


@dataclass(frozen=True)
class IngestReport:
    server: str
    files: int
    files_by_status: dict[str, int]
    received: int
    accepted: int
    duplicate: int
    quarantined: int
    events: int
    seconds: float
    simulate_seconds: float
    validation_setup_seconds: float
    copy_rows: int
    copy_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def copy_rows_per_second(self) -> float:
        return self.copy_rows / self.copy_seconds

    @property
    def ratio(self) -> float:
        return self.events_per_second / self.copy_rows_per_second


def run(*, customers: int, days: int, seed: int, keep: bool, console: Console) -> IngestReport:
    from bank_pipeline.simulator import simulate

    with bench_database(keep=keep) as db, tempfile.TemporaryDirectory(prefix="bench-ingest-") as landing:
        server = server_description(db.url)
        console.print(f"server: {server}\ndatabase: {db.name} (fresh, migrated)\nmachine: {machine_load()} before")
        began = time.perf_counter()
        simulate(customers=customers, days=days, seed=seed, out=Path(landing))
        simulate_seconds = time.perf_counter() - began
        began = time.perf_counter()
        prepare_validation()  # once per process: importing GX and building its suites
        validation_setup_seconds = time.perf_counter() - began
        checkpoint(db.url)
        with Runtime.open(url=db.url) as runtime, Ingestion(runtime.handler, runtime.pool, Path(landing)) as ingestion:
            pending = ingestion.pending_files()
            outcomes = []
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"ingesting {len(pending)} landing files", total=len(pending))
                began = time.perf_counter()
                for landing_file in pending:
                    outcomes.append(ingestion.ingest(Path(landing) / landing_file.name))
                    progress.update(task, advance=1)
                seconds = time.perf_counter() - began
        copy_rows, copy_seconds = _copy_baseline(db.url)
    console.print(f"machine: {machine_load()} after the run")
    return IngestReport(
        server=server,
        files=len(outcomes),
        files_by_status=dict(Counter(o.status for o in outcomes)),
        received=sum(o.received for o in outcomes),
        accepted=sum(o.accepted for o in outcomes),
        duplicate=sum(o.duplicate for o in outcomes),
        quarantined=sum(o.quarantined for o in outcomes),
        events=sum(o.events_appended for o in outcomes),
        seconds=seconds,
        simulate_seconds=simulate_seconds,
        validation_setup_seconds=validation_setup_seconds,
        copy_rows=copy_rows,
        copy_seconds=copy_seconds,
    )


def _copy_baseline(url: str) -> tuple[int, float]:
    """COPY the events ingestion appended back into the same table (positions shifted); only the COPY is
    timed. Returns (rows, seconds)."""
    columns = [c.strip() for c in EVENT_COLUMNS.split(",")]
    selected = [sql.SQL("global_position + {}").format(sql.Literal(POSITION_OFFSET))] + [
        sql.Identifier(c) for c in columns[1:]
    ]
    read_back = sql.SQL("COPY (SELECT {} FROM event_store.events ORDER BY global_position) TO STDOUT (FORMAT BINARY)")
    write = sql.SQL("COPY event_store.events ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connect(url) as conn:
        blocks = []
        with conn.cursor() as cursor, cursor.copy(read_back.format(sql.SQL(", ").join(selected))) as copy:
            blocks = [bytes(data) for data in copy]
        (rows,) = conn.execute("SELECT count(*) FROM event_store.events").fetchone()
        checkpoint(url)
        began = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(write) as copy:
            for block in blocks:
                copy.write(block)
        return rows, time.perf_counter() - began


def render(report: IngestReport, console: Console) -> None:
    table = Table(title=f"bench ingest: {report.files} landing files, {report.received:,} rows")
    for column in ("", "events / s", "time", "rows received / accepted / duplicate / quarantined"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row(
        "ours: landing files → validation → commands → event store",
        rate(report.events_per_second),
        f"{report.seconds:.2f}s",
        f"{report.received:,} / {report.accepted:,} / {report.duplicate:,} / {report.quarantined:,}",
    )
    table.add_row(
        "baseline: COPY event_store.events FROM STDIN (the same events)",
        rate(report.copy_rows_per_second),
        f"{report.copy_seconds:.2f}s",
        f"{report.copy_rows:,} rows",
    )
    console.print(table)
    console.print(f"ratio ours / COPY: {verdict(report.ratio, GOAL)}")
    console.print(
        f"[dim]{report.events:,} events appended; files by status {report.files_by_status}; simulating the files "
        f"took {report.simulate_seconds:.1f}s and preparing Great Expectations {report.validation_setup_seconds:.1f}s "
        "(once per process; neither timed). Rows are decided one by one by the domain (balances, "
        "holds, idempotency) through a CommandBus: the per-row Python, not the storage, sets the pace.[/]"
    )
