"""`bank-pipeline bench projection-lag`: how far the read model trails the event store under a steady load.

Two spawned processes on the same machine as the caller:
- the worker: `ProjectionWorker`, exactly as `bank-pipeline worker` runs it (LISTEN/NOTIFY, poll fallback);
- the driver: internal transfers (2 events each) through one CommandBus, submitted on a fixed schedule
  (transfer i is due at start + i / rate, so a late one is followed by an early one and the rate holds),
  between accounts set up beforehand and touched once so the bus's cache is warm.

The lag of an event = the wall-clock time the worker's batch committed − the event's recorded_at (the start
of the append's transaction, on the server's clock: the same clock when the server runs on this machine).
Only events appended during the measured phase count. Goal: p99 ≤ 200 ms at 1,000 events/s.
"""

from __future__ import annotations

import math
import queue
import random
import time
import uuid
from array import array
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bank_pipeline.bench.common import (
    SPAWN,
    BenchFailed,
    LatencySummary,
    checkpoint,
    machine_load,
    milliseconds,
    open_funded_accounts,
    rate,
    server_description,
    stop_processes,
)
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.projections.projector import DEFAULT_BATCH_SIZE, ProjectedBatch
from bank_pipeline.projections.waiting import wait_until_projected
from bank_pipeline.store.records import Checkpoint

GOAL_P99 = 0.200  # seconds
EVENTS_PER_TRANSFER = 2
ACCOUNTS = 2_000  # the transfers pick from these; few accounts mean many entries per account per day
OPENING_BALANCE = 1_000_000_00  # minor units: no transfer of the run is refused for funds
SETUP_TIMEOUT = 900  # for the worker to catch up before measuring (a big unprojected history, say)


@dataclass(frozen=True)
class LagReport:
    server: str
    events_per_second_wanted: int
    seconds: int
    accounts: int
    appended: int  # events committed by the measured transfers
    append_seconds: float  # from the first transfer due to the last commit
    worst_slip: float  # how late the driver submitted its latest transfer
    refused: int
    lag: LatencySummary  # per event appended in the measured phase
    waited: LatencySummary  # the part of each lag before the worker began the batch that took the event
    batch_seconds: LatencySummary  # per worker batch that carried those events: begin to commit
    catch_up_seconds: float  # from the last commit until the read model had it
    command_latency: LatencySummary  # transfer due -> committed, for context: the writers kept up or not
    load_before: str
    load_after: str

    @property
    def events_per_second(self) -> float:
        return self.appended / self.append_seconds

    @property
    def met(self) -> bool:
        return self.lag.p99 <= GOAL_P99


def measure_lag(
    url: str,
    *,
    events_per_second: int = 1_000,
    seconds: int = 20,
    console: Console,
    accounts: int = ACCOUNTS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    poll_interval: float = 1.0,
) -> LagReport:
    """Run the worker and the driver against the migrated database at `url`; its earlier contents stay
    (the accounts this run uses are new, under a run id of their own)."""
    if events_per_second < EVENTS_PER_TRANSFER or seconds < 1 or accounts < 2:
        raise ValueError(f"need at least {EVENTS_PER_TRANSFER} events/s, 1 second and 2 accounts")
    run_id = uuid.uuid4().hex[:8]
    account_ids = [f"lag{run_id}-{n:06d}" for n in range(accounts)]
    server = server_description(url)
    console.print(f"server: {server}")
    load_before = machine_load()
    console.print(f"machine: {load_before} before the run")
    messages = SPAWN.Queue()
    go = SPAWN.Event()
    worker = SPAWN.Process(
        target=_run_worker, args=(url, batch_size, poll_interval, messages), name="projection worker", daemon=True
    )
    driver = SPAWN.Process(
        target=_drive,
        args=(url, run_id, account_ids, events_per_second, seconds, go, messages),
        name="driver",
        daemon=True,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress, connect(url) as conn:
        try:
            task = progress.add_task(f"setting up {accounts:,} accounts, starting the worker", total=None, detail="")
            worker.start()
            driver.start()
            ready: Checkpoint = expect_message(messages, "ready", (worker, driver), timeout=SETUP_TIMEOUT)
            wait_until_projected(conn, ready, timeout=SETUP_TIMEOUT)  # measure from a caught-up read model
            checkpoint(url)  # statistics as a running system has them, and no dirty buffers of the set-up
            progress.update(task, total=1, completed=1)
            progress.add_task(f"{events_per_second:,} events/s for {seconds}s", total=None, detail="")
            go.set()
            appended: dict[str, Any] = expect_message(messages, "appended", (worker, driver), timeout=seconds + 600)
            wait_until_projected(conn, appended["checkpoint"], timeout=600)
            catch_up_seconds = time.time() - appended["finished"]
            worker.terminate()  # SIGTERM: the worker finishes its batch and reports
            projected: dict[str, Any] = expect_message(messages, "projected", (worker,), timeout=60)
        finally:
            stop_processes((worker, driver))
    load_after = machine_load()
    console.print(f"machine: {load_after} after the run")

    recorded, lags, batch_of, batch_seconds = (projected[k] for k in ("recorded", "lag", "batch", "batch_seconds"))
    measured = [i for i, at in enumerate(recorded) if at >= appended["started"]]
    batches = sorted({batch_of[i] for i in measured})
    return LagReport(
        server=server,
        events_per_second_wanted=events_per_second,
        seconds=seconds,
        accounts=accounts,
        appended=appended["events"],
        append_seconds=appended["seconds"],
        worst_slip=appended["worst_slip"],
        refused=appended["refused"],
        lag=LatencySummary.of([lags[i] for i in measured]),
        waited=LatencySummary.of([lags[i] - batch_seconds[batch_of[i]] for i in measured]),
        batch_seconds=LatencySummary.of([batch_seconds[b] for b in batches]),
        catch_up_seconds=catch_up_seconds,
        command_latency=LatencySummary.of(array("d", appended["latencies"])),
        load_before=load_before,
        load_after=load_after,
    )


def expect_message(messages: Any, kind: str, processes: tuple, *, timeout: float) -> Any:
    """The next message, which must be `kind`; a failure or a process that died fails the benchmark."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got, body = messages.get(timeout=0.2)
        except queue.Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise BenchFailed(f"{dead[0].name} exited with code {dead[0].exitcode}") from None
            continue
        if got == "failed":
            raise BenchFailed(body)
        if got != kind:
            raise BenchFailed(f"expected {kind!r} from a bench process, got {got!r}")
        return body
    raise BenchFailed(f"no {kind!r} from the bench processes within {timeout:.0f}s")


# -- the worker process ------------------------------------------------------------------------------------


def _run_worker(url: str, batch_size: int, poll_interval: float, messages: Any) -> None:
    """The projection worker until SIGTERM; then each projected event's recorded_at, lag and batch number,
    and each batch's duration."""
    from bank_pipeline.projections.worker import ProjectionWorker, run_until_signalled

    recorded, lags, batch_of, batch_seconds = array("d"), array("d"), array("q"), array("d")

    def on_batch(batch: ProjectedBatch, began_at: datetime, committed_at: datetime) -> None:
        number = len(batch_seconds)
        batch_seconds.append((committed_at - began_at).total_seconds())
        for at in batch.recorded_at:
            recorded.append(at.timestamp())
            lags.append((committed_at - at).total_seconds())
            batch_of.append(number)

    try:
        worker = ProjectionWorker(
            url, batch_size=batch_size, poll_interval=poll_interval, report_every=math.inf, on_batch=on_batch
        )
        run_until_signalled(worker)
        messages.put(
            ("projected", {"recorded": recorded, "lag": lags, "batch": batch_of, "batch_seconds": batch_seconds})
        )
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the benchmark
        messages.put(("failed", f"projection worker: {type(error).__name__}: {error}"))


# -- the driver process ------------------------------------------------------------------------------------


def _drive(url: str, run_id: str, accounts: list[str], events_per_second: int, seconds: int, go, messages) -> None:
    from bank_pipeline.application import CommandBus, CommandHandler
    from bank_pipeline.domain import commands as c
    from bank_pipeline.domain.errors import DomainError
    from bank_pipeline.store import EventStore

    try:
        with make_pool(url, min_size=2, max_size=3) as pool, CommandBus(CommandHandler(EventStore(pool))) as bus:
            messages.put(("ready", open_funded_accounts(bus, run_id, accounts, "Lag Bench", OPENING_BALANCE)))
            go.wait()

            rng = random.Random(run_id)
            transfers_per_second = events_per_second / EVENTS_PER_TRANSFER
            latencies = array("d")
            futures = []
            worst_slip = 0.0
            started_wall, started = time.time(), time.perf_counter()
            for number in range(round(transfers_per_second * seconds)):
                due = started + number / transfers_per_second
                if (early := due - time.perf_counter()) > 0:
                    time.sleep(early)
                worst_slip = max(worst_slip, time.perf_counter() - due)
                source, target = rng.sample(accounts, 2)
                transfer = c.TransferInternal(f"{run_id}-t{number}", source, target, rng.randint(1, 100_00), "EUR")
                future = bus.submit(transfer, idempotency_key=transfer.transfer_id)
                future.add_done_callback(lambda _, due=due: latencies.append(time.perf_counter() - due))
                futures.append(future)
            refused, last = 0, Checkpoint()
            for future in futures:
                try:
                    last = max(last, future.result().checkpoint)
                except DomainError:
                    refused += 1
            appended_seconds, finished_wall = time.perf_counter() - started, time.time()
        messages.put(("appended", {
            "events": EVENTS_PER_TRANSFER * (len(futures) - refused), "seconds": appended_seconds,
            "started": started_wall, "finished": finished_wall, "worst_slip": worst_slip, "refused": refused,
            "checkpoint": last, "latencies": latencies,
        }))  # fmt: skip
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the benchmark
        messages.put(("failed", f"driver: {type(error).__name__}: {error}"))


# -- output ------------------------------------------------------------------------------------------------


def render(report: LagReport, console: Console) -> None:
    table = Table(
        title=f"bench projection-lag: {report.events_per_second_wanted:,} events/s for {report.seconds}s "
        f"between {report.accounts:,} accounts"
    )
    table.add_column("")
    table.add_column("measured", justify="right")
    held = report.events_per_second / report.events_per_second_wanted
    table.add_row(
        "events appended (internal transfers, 2 each)", f"{report.appended:,} in {report.append_seconds:.1f}s"
    )
    table.add_row("rate held", f"{rate(report.events_per_second)}/s ({held:.0%} of the schedule)")
    table.add_row("driver's worst lateness against its schedule", milliseconds(report.worst_slip))
    table.add_row("transfer due -> committed p50 / p99", _p50_p99(report.command_latency))
    table.add_row(
        "events projected (measured phase)", f"{report.lag.count:,} in {report.batch_seconds.count:,} batches"
    )
    table.add_row("lag p50", milliseconds(report.lag.p50))
    table.add_row("lag p99", milliseconds(report.lag.p99))
    table.add_row("lag max", milliseconds(report.lag.max))
    table.add_row("  of it, waiting for its batch, p50 / p99", _p50_p99(report.waited))
    table.add_row("batch duration (projector), p50 / p99", _p50_p99(report.batch_seconds))
    table.add_row("read model caught up after the last commit", milliseconds(report.catch_up_seconds))
    if report.refused:
        table.add_row("transfers refused by the domain", f"{report.refused:,}")
    console.print(table)
    if math.isnan(report.lag.p99):
        console.print("[bold red]no event of the measured phase was projected[/]")
    elif report.met:
        console.print(f"lag p99 [bold green]{milliseconds(report.lag.p99)}[/] (goal ≤ 200 ms: met)")
    else:
        console.print(f"lag p99 [bold red]{milliseconds(report.lag.p99)}[/] (goal ≤ 200 ms: MISSED)")
    console.print(
        "[dim]lag = when the worker's batch committed (wall clock) − the event's recorded_at (its append "
        "transaction's start, server clock; one clock when the server is local). The read horizon is "
        "server-wide: a long transaction in any database of the server delays every event behind it.[/]"
    )


def _p50_p99(summary: LatencySummary) -> str:
    return f"{milliseconds(summary.p50)} / {milliseconds(summary.p99)}"
