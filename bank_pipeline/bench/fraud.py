"""`bank-pipeline bench fraud`: how soon the fraud fast path raises an alert after the event that sets it off
commits, under a steady load.

A fresh bench database, and two spawned processes on the same machine as the caller:
- the worker: `FraudWorker`, as `bank-pipeline fraud worker --no-freeze` runs it (NOTIFY wake-ups, poll fallback).
  Freezing is off so that the driver's accounts stay usable; an alert's latency ends when its row is written,
  before any freeze, so the figure is the same either way.
- the driver: through one CommandBus on a fixed schedule (event slot k is due at start + k / rate), internal
  transfers (2 events each) between funded accounts, and every `burst_every` seconds a card-testing burst: 8 to
  10 debits of 0.01 to 1.99 EUR to distinct web shops, back to back, on an account of its own (a rule stays
  quiet for hours on an account it fired on), so each burst must raise exactly one `card_testing` alert.
  The bursts' debits count in the rate.

Measured, for the events of the measured phase:
- alert latency = detected_at − recorded_at of the alert's triggering event, both on the server's clock:
  recorded_at is the start of the append's transaction (so the append itself is included), detected_at the
  clock_timestamp() when the alert row was written. Every alert counts: the injected card tests' and whatever
  the ordinary transfers raise (with a few thousand accounts, `velocity` on those paying out often). The goal,
  p99 ≤ 50 ms at 1,000 events/s, is on this figure.
- decision latency of every event, alerted or not = the wall-clock time the detector's batch that judged it
  committed − its recorded_at (one clock when the server is local). The worker's detector is a FraudDetector
  that also notes when each batch began and committed; it judges exactly as the stock one.

Baseline, in the same run: the same detector judging every event of the run again as a backlog (from an empty
checkpoint, batches of 1,000, in one transaction that is rolled back), i.e. its capacity in events/s. Against
the offered rate it says how much headroom the fast path has: a latency miss with a large headroom lies in
waking up and per-batch fixed cost, not in judging.
"""

from __future__ import annotations

import gc
import logging
import random
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bank_pipeline.bench.common import (
    BENCH_DATABASE,
    SPAWN,
    BenchFailed,
    LatencySummary,
    bench_database,
    checkpoint,
    machine_load,
    milliseconds,
    open_funded_accounts,
    rate,
    server_description,
    stop_processes,
)
from bank_pipeline.bench.projection_lag import ACCOUNTS, EVENTS_PER_TRANSFER, OPENING_BALANCE, expect_message
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.domain.fraud import FraudThresholds
from bank_pipeline.fraud.detector import DETECTOR, DetectedBatch, FraudDetector, read_checkpoint
from bank_pipeline.fraud.worker import DEFAULT_POLL_INTERVAL
from bank_pipeline.store.records import Checkpoint

GOAL_P99 = 0.050  # seconds
BURST_EVERY = 0.5  # seconds between card-testing bursts
CARD_TESTING = "card_testing"
SETUP_TIMEOUT = 900  # for the set-up and the worker's first catch-up
JUDGE_POLL = 0.005  # how often the caller looks at the detector's checkpoint while waiting for it


@dataclass(frozen=True)
class FraudReport:
    server: str
    events_per_second_wanted: int
    seconds: int
    accounts: int
    burst_every: float
    appended: int  # events committed by the measured phase (transfers' and bursts')
    append_seconds: float  # from the first command due to the last commit
    worst_slip: float  # how late the driver submitted its latest command
    refused: int
    command_latency: LatencySummary  # command due -> committed: the writers kept up or not
    bursts: int  # card-testing bursts injected
    bursts_alerted: int  # of them, those that raised their card_testing alert
    extra_card_testing: int  # card_testing alerts beyond one per burst
    other_alerts: dict[str, int]  # rule -> alerts the ordinary transfers raised
    alert_latency: LatencySummary  # every alert of the measured phase: detected_at - recorded_at
    card_testing_latency: LatencySummary  # the injected bursts' alerts alone
    decision_latency: LatencySummary  # every event of the measured phase: its batch's commit - recorded_at
    waited: LatencySummary  # the part of each decision latency before the batch that judged it began
    batch_seconds: LatencySummary  # per detector batch that judged those events: begin to commit
    catch_up_seconds: float  # from the last commit until the detector had judged it
    backlog_events: int  # baseline: events judged again from an empty checkpoint
    backlog_seconds: float
    load_before: str
    load_after: str

    @property
    def events_per_second(self) -> float:
        return self.appended / self.append_seconds

    @property
    def backlog_events_per_second(self) -> float:
        return self.backlog_events / self.backlog_seconds

    @property
    def missing_bursts(self) -> int:
        return self.bursts - self.bursts_alerted

    @property
    def met(self) -> bool:
        return self.alert_latency.p99 <= GOAL_P99


def run(
    *,
    events_per_second: int = 1_000,
    seconds: int = 20,
    accounts: int = ACCOUNTS,
    burst_every: float = BURST_EVERY,
    keep: bool = False,
    console: Console,
) -> FraudReport:
    """The benchmark in a fresh bench database, dropped afterwards unless `keep`."""
    with bench_database(f"{BENCH_DATABASE}_fraud", keep=keep) as db:
        console.print(f"database: {db.name} (fresh, migrated{', kept afterwards' if keep else ''})")
        return measure(
            db.url,
            events_per_second=events_per_second,
            seconds=seconds,
            accounts=accounts,
            burst_every=burst_every,
            console=console,
        )


def measure(
    url: str,
    *,
    events_per_second: int = 1_000,
    seconds: int = 20,
    accounts: int = ACCOUNTS,
    burst_every: float = BURST_EVERY,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    console: Console,
) -> FraudReport:
    """Run the worker and the driver against the migrated database at `url`, then the baseline."""
    bursts = int(seconds / burst_every)
    if events_per_second < EVENTS_PER_TRANSFER or seconds < 1 or accounts < 2 or bursts < 1:
        raise ValueError(
            f"need at least {EVENTS_PER_TRANSFER} events/s, 1 second, 2 accounts and a burst interval "
            "no longer than the run"
        )
    run_id = uuid.uuid4().hex[:8]
    transfer_accounts = [f"fraud{run_id}-{n:06d}" for n in range(accounts)]
    burst_accounts = [f"fraud{run_id}-card-test-{n:04d}" for n in range(bursts)]
    server = server_description(url)
    console.print(f"server: {server}")
    load_before = machine_load()
    console.print(f"machine: {load_before} before the run")
    messages = SPAWN.Queue()
    go = SPAWN.Event()
    worker = SPAWN.Process(target=_run_worker, args=(url, poll_interval, messages), name="fraud worker", daemon=True)
    driver = SPAWN.Process(
        target=_drive,
        args=(url, run_id, transfer_accounts, burst_accounts, events_per_second, seconds, burst_every, go, messages),
        name="driver",
        daemon=True,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress, connect(url) as conn:
        try:
            task = progress.add_task(
                f"setting up {accounts + bursts:,} accounts, starting the fraud worker", total=None
            )
            worker.start()
            driver.start()
            ready: Checkpoint = expect_message(messages, "ready", (worker, driver), timeout=SETUP_TIMEOUT)
            _wait_until_judged(conn, ready, timeout=SETUP_TIMEOUT)  # measure from a caught-up detector
            checkpoint(url)  # statistics as a running system has them, and no dirty buffers of the set-up
            progress.update(task, total=1, completed=1)
            progress.add_task(
                f"{events_per_second:,} events/s for {seconds}s, a card-testing burst every {burst_every:g}s",
                total=None,
            )
            go.set()
            appended: dict[str, Any] = expect_message(messages, "appended", (worker, driver), timeout=seconds + 600)
            _wait_until_judged(conn, appended["checkpoint"], timeout=600)
            catch_up_seconds = time.time() - appended["finished"]
            worker.terminate()  # SIGTERM: the worker finishes its batch and reports
            judged: dict[str, Any] = expect_message(messages, "judged", (worker,), timeout=60)
        finally:
            stop_processes((worker, driver))
        load_after = machine_load()
        console.print(f"machine: {load_after} after the run")
        progress.add_task("baseline: the same detector judging the run's events as a backlog", total=None)
        backlog_events, backlog_seconds = _judge_as_backlog(conn)
        alerts = _alerts_after(conn, ready)
        decision, waited, batch_seconds = _decision_latencies(_events_after(conn, ready), judged)

    card_tests = [(account, latency) for rule, account, latency in alerts if rule == CARD_TESTING]
    alerted_bursts = {account for account, _ in card_tests} & set(burst_accounts)
    return FraudReport(
        server=server,
        events_per_second_wanted=events_per_second,
        seconds=seconds,
        accounts=accounts,
        burst_every=burst_every,
        appended=appended["events"],
        append_seconds=appended["seconds"],
        worst_slip=appended["worst_slip"],
        refused=appended["refused"],
        command_latency=LatencySummary.of(array("d", appended["latencies"])),
        bursts=bursts,
        bursts_alerted=len(alerted_bursts),
        extra_card_testing=len(card_tests) - len(alerted_bursts),
        other_alerts=dict(Counter(rule for rule, _, _ in alerts if rule != CARD_TESTING).most_common()),
        alert_latency=LatencySummary.of([latency for _, _, latency in alerts]),
        card_testing_latency=LatencySummary.of([latency for _, latency in card_tests]),
        decision_latency=decision,
        waited=waited,
        batch_seconds=batch_seconds,
        catch_up_seconds=catch_up_seconds,
        backlog_events=backlog_events,
        backlog_seconds=backlog_seconds,
        load_before=load_before,
        load_after=load_after,
    )


def _wait_until_judged(conn: psycopg.Connection, wanted: Checkpoint, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while read_checkpoint(conn) < wanted:
        if time.monotonic() > deadline:
            raise BenchFailed(f"the fraud detector did not reach {wanted} within {timeout:.0f}s")
        time.sleep(JUDGE_POLL)


def _alerts_after(conn: psycopg.Connection, after: Checkpoint) -> list[tuple[str, str, float]]:
    """(rule, account, detected_at - recorded_at in seconds) of every alert an event after `after` raised."""
    return conn.execute(
        "SELECT rule, account_id, extract(epoch FROM detected_at - recorded_at)::float8 FROM fraud.alerts "
        "WHERE (transaction_id, global_position) > (%s, %s)",
        after,
    ).fetchall()


def _events_after(conn: psycopg.Connection, after: Checkpoint) -> list[tuple[int, int, float]]:
    """(transaction_id, global_position, recorded_at as a Unix time) of every event after `after`, in
    delivery order."""
    return conn.execute(
        "SELECT transaction_id, global_position, extract(epoch FROM recorded_at)::float8 FROM event_store.events "
        "WHERE (transaction_id, global_position) > (%s, %s) ORDER BY transaction_id, global_position",
        after,
    ).fetchall()


def _decision_latencies(
    events: list[tuple[int, int, float]], judged: dict[str, Any]
) -> tuple[LatencySummary, LatencySummary, LatencySummary]:
    """Each event's decision latency and the part of it spent waiting, from the batches the worker reported
    (in delivery order, each judging the events up to its `upto`); and the durations of those batches."""
    upto, began, committed = judged["upto"], judged["began"], judged["committed"]
    latencies, waited, batches = array("d"), array("d"), set()
    batch = 0
    for transaction_id, global_position, recorded_at in events:
        while upto[batch] < (transaction_id, global_position):
            batch += 1
        latencies.append(committed[batch] - recorded_at)
        waited.append(began[batch] - recorded_at)
        batches.add(batch)
    return (
        LatencySummary.of(latencies),
        LatencySummary.of(waited),
        LatencySummary.of([committed[b] - began[b] for b in batches]),
    )


def _judge_as_backlog(conn: psycopg.Connection) -> tuple[int, float]:
    """The baseline: a fresh detector judges every event of the database from an empty checkpoint and no
    alerts, in one transaction rolled back afterwards (each batch a savepoint, so no commit is paid)."""
    with conn.transaction(force_rollback=True):
        conn.execute("DELETE FROM fraud.alerts")
        conn.execute(
            "UPDATE fraud.checkpoints SET transaction_id = 0, global_position = 0 WHERE detector = %s", (DETECTOR,)
        )
        started = time.perf_counter()
        batches = FraudDetector().catch_up(conn)
        seconds = time.perf_counter() - started
    return sum(batch.events for batch in batches), seconds


# -- the worker process ------------------------------------------------------------------------------------


class _TimedDetector(FraudDetector):
    """The stock detector, also noting where each batch reached and when it began and committed (wall clock)."""

    def __init__(self, limits: FraudThresholds, *, batch_size: int):
        super().__init__(limits, batch_size=batch_size)
        self.upto: list[Checkpoint] = []
        self.began, self.committed = array("d"), array("d")

    def detect_next_batch(self, conn: psycopg.Connection) -> DetectedBatch | None:
        began = time.time()
        batch = super().detect_next_batch(conn)
        if batch is not None:
            self.committed.append(time.time())
            self.began.append(began)
            self.upto.append(batch.upto)
        return batch


def _run_worker(url: str, poll_interval: float, messages: Any) -> None:
    """The fraud worker (no freezing) until SIGTERM; then where each of its batches reached, and when."""
    from bank_pipeline.fraud.worker import FraudWorker
    from bank_pipeline.store.stream_worker import run_until_signalled

    logging.getLogger().addHandler(logging.NullHandler())  # no stderr line per alert in the bench's output
    try:
        worker = FraudWorker(url, poll_interval=poll_interval, freeze_on_high=False)
        worker.detector = detector = _TimedDetector(worker.detector.limits, batch_size=worker.detector.batch_size)
        run_until_signalled(worker)
        messages.put(("judged", {"upto": detector.upto, "began": detector.began, "committed": detector.committed}))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the benchmark
        messages.put(("failed", f"fraud worker: {type(error).__name__}: {error}"))


# -- the driver process ------------------------------------------------------------------------------------


def _drive(
    url: str,
    run_id: str,
    accounts: list[str],
    burst_accounts: list[str],
    events_per_second: int,
    seconds: int,
    burst_every: float,
    go: Any,
    messages: Any,
) -> None:
    from bank_pipeline.application import CommandBus, CommandHandler
    from bank_pipeline.domain.errors import DomainError
    from bank_pipeline.store import EventStore

    try:
        with make_pool(url, min_size=2, max_size=3) as pool, CommandBus(CommandHandler(EventStore(pool))) as bus:
            messages.put(
                ("ready", open_funded_accounts(bus, run_id, accounts + burst_accounts, "Fraud Bench", OPENING_BALANCE))
            )
            plan = _plan(random.Random(run_id), run_id, accounts, burst_accounts, events_per_second, seconds,
                         burst_every)  # fmt: skip
            gc.freeze()  # the set-up's and the plan's objects: no full collection walks them mid-schedule
            go.wait()

            latencies = array("d")
            submitted = []
            worst_slip = 0.0
            started_wall, started = time.time(), time.perf_counter()
            for at, command, events in plan:
                due = started + at
                if (early := due - time.perf_counter()) > 0:
                    time.sleep(early)
                worst_slip = max(worst_slip, time.perf_counter() - due)
                future = bus.submit(command, idempotency_key=command.transfer_id)
                future.add_done_callback(lambda _, due=due: latencies.append(time.perf_counter() - due))
                submitted.append((future, events))
            appended, refused, last = 0, 0, Checkpoint()
            for future, events in submitted:
                try:
                    last = max(last, future.result().checkpoint)
                    appended += events
                except DomainError:
                    refused += 1
            appended_seconds, finished_wall = time.perf_counter() - started, time.time()
        messages.put(("appended", {
            "events": appended, "seconds": appended_seconds, "started": started_wall, "finished": finished_wall,
            "worst_slip": worst_slip, "refused": refused, "checkpoint": last, "latencies": latencies,
        }))  # fmt: skip
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the benchmark
        messages.put(("failed", f"driver: {type(error).__name__}: {error}"))


def _plan(
    rng: random.Random,
    run_id: str,
    accounts: list[str],
    burst_accounts: list[str],
    events_per_second: int,
    seconds: int,
    burst_every: float,
) -> list[tuple[float, Any, int]]:
    """(seconds after the start, command, its events), in due order: internal transfers, and from
    `burst_every` / 2 on, every `burst_every` seconds the next burst account's card-testing burst."""
    from bank_pipeline.domain import commands as c

    limits = FraudThresholds()
    bursts = iter(burst_accounts)
    next_burst_at = burst_every / 2
    plan: list[tuple[float, Any, int]] = []
    slot = 0  # events scheduled so far; event slot k is due at k / events_per_second
    while slot < events_per_second * seconds:
        at = slot / events_per_second
        if at >= next_burst_at and (account := next(bursts, None)) is not None:
            for debit in _card_test(rng, run_id, account, limits):
                plan.append((slot / events_per_second, debit, 1))
                slot += 1
            next_burst_at += burst_every
            continue
        source, target = rng.sample(accounts, 2)
        plan.append((at, c.TransferInternal(f"{run_id}-t{slot}", source, target, rng.randint(1, 100_00), "EUR"),
                     EVENTS_PER_TRANSFER))  # fmt: skip
        slot += EVENTS_PER_TRANSFER
    return plan


def _card_test(rng: random.Random, run_id: str, account: str, limits: FraudThresholds) -> list[Any]:
    """Just enough tiny debits to distinct web shops to set off the card-testing rule, or up to two more."""
    from bank_pipeline.domain import commands as c

    tiny = limits.minor(limits.tiny_payment_major, "EUR")
    payments = rng.randint(limits.card_testing_payments, limits.card_testing_payments + 2)
    return [
        c.DebitAccount(account, rng.randint(1, tiny - 1), "EUR", f"{run_id}-{account}-card-{n}", f"Web shop {n}")
        for n in range(1, payments + 1)
    ]


# -- output ------------------------------------------------------------------------------------------------


def render(report: FraudReport, console: Console) -> None:
    table = Table(
        title=f"bench fraud: {report.events_per_second_wanted:,} events/s for {report.seconds}s between "
        f"{report.accounts:,} accounts, a card-testing burst every {report.burst_every:g}s"
    )
    table.add_column("")
    table.add_column("measured", justify="right")
    held = report.events_per_second / report.events_per_second_wanted
    table.add_row(
        "events appended (internal transfers, 2 each; card-test debits, 1 each)",
        f"{report.appended:,} in {report.append_seconds:.1f}s",
    )
    table.add_row("rate held", f"{rate(report.events_per_second)}/s ({held:.0%} of the schedule)")
    table.add_row("driver's worst lateness against its schedule", milliseconds(report.worst_slip))
    table.add_row("command due -> committed p50 / p99", _p50_p99(report.command_latency))
    table.add_row("card-testing bursts injected (8-10 debits of 0.01-1.99 EUR)", f"{report.bursts:,}")
    table.add_row("  card_testing alerts: one per burst / missing / extra", _burst_outcome(report))
    table.add_row("alerts the ordinary transfers raised", _other_alerts(report.other_alerts))
    table.add_row("alerts of the measured phase, all timed", f"{report.alert_latency.count:,}")
    table.add_row("alert latency p50", milliseconds(report.alert_latency.p50))
    table.add_row("alert latency p99", milliseconds(report.alert_latency.p99))
    table.add_row("alert latency max", milliseconds(report.alert_latency.max))
    table.add_row("  card_testing alerts alone, p50 / p99 / max", _p50_p99_max(report.card_testing_latency))
    table.add_row(
        f"decision latency, every event ({report.decision_latency.count:,}), p50 / p99 / max",
        _p50_p99_max(report.decision_latency),
    )
    table.add_row("  of it, waiting for its batch, p50 / p99", _p50_p99(report.waited))
    table.add_row(
        f"detector batch duration ({report.batch_seconds.count:,} batches), p50 / p99", _p50_p99(report.batch_seconds)
    )
    table.add_row("detector caught up after the last commit", milliseconds(report.catch_up_seconds))
    table.add_row(
        "baseline: the same detector on the run's events as a backlog",
        f"{report.backlog_events:,} in {report.backlog_seconds:.2f}s = {rate(report.backlog_events_per_second)}/s "
        f"({report.backlog_events_per_second / report.events_per_second_wanted:.0f}× the offered rate)",
    )
    if report.refused:
        table.add_row("commands refused by the domain", f"{report.refused:,}")
    console.print(table)
    if report.alert_latency.count == 0:
        console.print("[bold red]no alert was raised by the measured phase[/]")
    elif report.met:
        console.print(f"alert latency p99 [bold green]{milliseconds(report.alert_latency.p99)}[/] (goal ≤ 50 ms: met)")
    else:
        console.print(f"alert latency p99 [bold red]{milliseconds(report.alert_latency.p99)}[/] (goal ≤ 50 ms: MISSED)")
    console.print(
        "[dim]alert latency = detected_at (the alert row's clock_timestamp()) − recorded_at of the event that set it "
        "off (its append transaction's start), both on the server's clock. Decision latency = when the batch that "
        "judged the event committed (wall clock) − its recorded_at: one clock when the server is local. The worker "
        "ran with freezing off (as `fraud worker --no-freeze`), so high alerts froze no account the driver used; "
        "an alert is timed when written, before any freeze. The baseline judges from a rolled-back transaction: "
        "no commits, which the fast path pays once per batch.[/]"
    )


def _burst_outcome(report: FraudReport) -> str:
    outcome = f"{report.bursts_alerted:,} / {report.missing_bursts:,} / {report.extra_card_testing:,}"
    if report.missing_bursts or report.extra_card_testing:
        return f"[bold red]{outcome}[/]"
    return outcome


def _other_alerts(counts: dict[str, int]) -> str:
    return ", ".join(f"{rule} {count:,}" for rule, count in counts.items()) or "none"


def _p50_p99(summary: LatencySummary) -> str:
    return f"{milliseconds(summary.p50)} / {milliseconds(summary.p99)}"


def _p50_p99_max(summary: LatencySummary) -> str:
    return f"{_p50_p99(summary)} / {milliseconds(summary.max)}"
