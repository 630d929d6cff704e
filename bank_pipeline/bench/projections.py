"""`bank-pipeline bench projections`: a full rebuild of the read model vs a raw COPY of the same events, in
the same run, then the projection worker's lag under a steady write load.

The bench database is filled with realistic account histories through EventStore.append_batches (the COPY
path): customers registered (KYC, some detail changes), accounts opened, then rounds of credits and debits
with each account's running balance_after, some back-dated in business time, card holds placed and mostly
released, a few freezes, and a few transfer-stream events the read model ignores. Each batch carries
several events per account, as ingestion's batches do, so loading is not dominated by stream heads.

Measured, in this order on the same rows: (a) the baseline, `COPY (SELECT * FROM event_store.events) TO
STDOUT` in the text and the binary format, the bytes read and dropped by the client: the floor of merely
reading the events out (the faster format counts); (b) ours, `rebuild()`: shadow schema, vectorised fill,
indexes, catch-up and swap, from its start to the swap's commit. Then (c) the projection worker's lag at
1,000 events/s on the rebuilt read model (bench/projection_lag.py's measure_lag).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bank_pipeline.bench.common import (
    BENCH_DATABASE,
    BenchFailed,
    bench_database,
    checkpoint,
    machine_load,
    rate,
    server_description,
    verdict,
)
from bank_pipeline.bench.projection_lag import LagReport, measure_lag
from bank_pipeline.bench.projection_lag import render as render_lag
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.projections.rebuild import RebuildResult, rebuild
from bank_pipeline.projections.rebuild_copy import copy_out_to
from bank_pipeline.projections.rebuild_display import phase_bars
from bank_pipeline.store import EventStore, NewEvent

GOAL_EVENTS_PER_SECOND = 500_000
GOAL_RATIO = 0.3  # our events/s ÷ COPY TO rows/s
EVENTS_PER_ACCOUNT = 50  # on average, over the whole history
EVENTS_PER_ACCOUNT_PER_BATCH = 5
BATCH_EVENTS = 20_000
HISTORY_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
HISTORY_DAYS = 20  # business time the entries spread over: a few entries per account and day
LAG_EVENTS_PER_SECOND = 1_000


# -- realistic histories -----------------------------------------------------------------------------------


def _event_id(rng: random.Random) -> uuid.UUID:
    """A random UUID from the seeded generator, so that a seed gives the same history."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@dataclass
class _Account:
    account_id: str
    currency: str
    overdraft_limit: int
    clock: datetime  # the business time of its latest event
    balance: int = 0
    open_holds: list[tuple[str, int]] = field(default_factory=list)  # (hold_id, amount)
    frozen: bool = False


def realistic_batches(events: int, seed: int) -> Iterator[list[NewEvent]]:
    """About `events` events in batches of about BATCH_EVENTS, in the order a bank would record them."""
    rng = random.Random(seed)
    accounts = max(2, events // EVENTS_PER_ACCOUNT)
    customers = max(1, accounts // 2)
    metadata = {"actor": "bench", "command_type": "bench"}

    def new(stream_id: str, event_type: str, payload: dict, occurred_at: datetime, schema_version: int = 1):
        return NewEvent(stream_id, event_type, payload, schema_version, metadata, occurred_at, _event_id(rng))

    produced = 0
    opening: list[NewEvent] = []
    for number in range(customers):
        customer_id = f"cust{number:07d}"
        stream = f"customer-{customer_id}"
        at = HISTORY_START + timedelta(seconds=number)
        opening.append(new(stream, "CustomerRegistered", {"customer_id": customer_id, "name": f"Customer {number}",
                                                           "email": f"c{number}@example.org",
                                                           "address": f"{number} Bench Street"}, at))  # fmt: skip
        opening.append(new(stream, "CustomerKycStatusChanged", {"customer_id": customer_id, "status": "verified"}, at))
    book: list[_Account] = []
    for number in range(accounts):
        account = _Account(f"acct{number:07d}", "USD" if number % 10 == 9 else "EUR", rng.choice([0, 0, 50_000]),
                           HISTORY_START + timedelta(seconds=number))  # fmt: skip
        book.append(account)
        opening.append(new(f"account-{account.account_id}", "AccountOpened",
                           {"account_id": account.account_id, "customer_id": f"cust{number % customers:07d}",
                            "currency": account.currency, "product": "current",
                            "overdraft_limit": account.overdraft_limit}, account.clock, schema_version=2))  # fmt: skip
    for start in range(0, len(opening), BATCH_EVENTS):
        yield opening[start : start + BATCH_EVENTS]
    produced += len(opening)

    step = HISTORY_DAYS * 86_400 / EVENTS_PER_ACCOUNT  # mean business seconds between an account's events
    accounts_per_batch = max(1, BATCH_EVENTS // EVENTS_PER_ACCOUNT_PER_BATCH)
    round_number = 0
    while produced < events:
        cohort = rng.sample(book, min(accounts_per_batch, len(book)))
        batch: list[NewEvent] = []
        for account in cohort:
            for _ in range(EVENTS_PER_ACCOUNT_PER_BATCH):
                batch.append(_next_event(account, rng, new, step, round_number))
        for account in cohort[:: max(1, len(cohort) // 20)]:  # inbound transfers: streams the read model skips
            transfer_id = f"in-{_event_id(rng)}"
            batch.append(new(f"transfer-{transfer_id}", "InboundTransferReceived",
                             {"transfer_id": transfer_id, "account_id": account.account_id, "amount": 1_000,
                              "currency": account.currency, "debtor_iban": "DE89370400440532013000",
                              "debtor_name": "Debtor", "reference": None}, account.clock))  # fmt: skip
        if rng.random() < 0.5:  # now and then a customer changes details
            number = rng.randrange(customers)
            batch.append(new(f"customer-cust{number:07d}", "CustomerDetailsUpdated",
                             {"customer_id": f"cust{number:07d}", "name": None,
                              "email": f"c{number}.{round_number}@example.org", "address": None},
                             HISTORY_START + timedelta(days=HISTORY_DAYS)))  # fmt: skip
        round_number += 1
        produced += len(batch)
        yield batch


def _next_event(account: _Account, rng: random.Random, new, step: float, round_number: int) -> NewEvent:
    """One plausible next event of `account`, keeping its balance, holds and status consistent."""
    account.clock += timedelta(seconds=rng.expovariate(1 / step))
    occurred = account.clock
    if rng.random() < 0.05:  # booked back-dated: an earlier business time than the events before it
        occurred -= timedelta(hours=rng.randint(1, 72))
    stream = f"account-{account.account_id}"
    base = {"account_id": account.account_id}
    roll = rng.random()
    if account.frozen and roll < 0.5:
        account.frozen = False
        return new(stream, "AccountUnfrozen", {**base, "reason": "cleared"}, occurred)
    if roll < 0.002 and not account.frozen:
        account.frozen = True
        return new(stream, "AccountFrozen", {**base, "reason": "review"}, occurred)
    if roll < 0.04 and account.open_holds:
        hold_id, amount = account.open_holds.pop(0)
        return new(
            stream, "HoldReleased", {**base, "hold_id": hold_id, "amount": amount, "reason": "settled"}, occurred
        )
    if roll < 0.08 and len(account.open_holds) < 3:
        hold_id, amount = f"hold-{_event_id(rng)}", rng.randint(100, 20_000)
        account.open_holds.append((hold_id, amount))
        return new(stream, "HoldPlaced", {**base, "hold_id": hold_id, "amount": amount, "currency": account.currency,
                                          "expires_at": (occurred + timedelta(days=7)).isoformat(),
                                          "reason": "card"}, occurred)  # fmt: skip
    amount = rng.choice((rng.randint(100, 9_999), rng.randint(10_000, 250_000)))
    credit = account.balance + account.overdraft_limit < amount or rng.random() < 0.45
    account.balance += amount if credit else -amount
    return new(stream, "AccountCredited" if credit else "AccountDebited",
               {**base, "transfer_id": f"tr-{_event_id(rng)}", "amount": amount,
                "currency": account.currency, "balance_after": account.balance,
                "flow": rng.choice(("internal", "external")),
                "counterparty": f"DE{rng.randrange(10**18):018d}", "reference": f"Inv {round_number}-{amount}"},
               occurred)  # fmt: skip


def load_events(url: str, events: int, seed: int, on_batch: Callable[[int], None] = lambda appended: None) -> int:
    """Fill the database at `url` with about `events` realistic events; returns how many."""
    appended = 0
    with make_pool(url, min_size=1, max_size=2) as pool:
        store = EventStore(pool)
        for result in store.append_batches(realistic_batches(events, seed)):
            appended += len(result.global_positions)
            on_batch(appended)
    return appended


# -- the run -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CopyBaseline:
    format: str
    rows: int
    bytes: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


@dataclass(frozen=True)
class ProjectionsReport:
    server: str
    events: int
    load_seconds: float
    baselines: tuple[CopyBaseline, ...]
    rebuild: RebuildResult
    checkpoints: bool
    lag: LagReport | None  # the worker's, on the rebuilt read model; None when not measured

    @property
    def baseline(self) -> CopyBaseline:
        return max(self.baselines, key=lambda b: b.rows_per_second)

    @property
    def ratio(self) -> float:
        return self.rebuild.events_per_second / self.baseline.rows_per_second


def run(*, events: int, seed: int, lag_seconds: int, keep: bool, console: Console) -> ProjectionsReport:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())  # fmt: skip
    with bench_database(f"{BENCH_DATABASE}_projections", keep=keep) as db:
        server = server_description(db.url)
        console.print(f"server: {server}")
        console.print(f"database: {db.name} (fresh, migrated{', kept afterwards' if keep else ''})")
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"appending ~{events:,} realistic events", total=events, detail="")
            began = time.perf_counter()
            loaded = load_events(db.url, events, seed, lambda done: progress.update(task, completed=done))
            load_seconds = time.perf_counter() - began
        console.print(f"loaded {loaded:,} events in {load_seconds:.0f}s (EventStore.append_batches, not measured)")
        waited = _wait_until_final(db.url)
        if waited > 1:
            console.print(f"[yellow]waited {waited:.0f}s for the read horizon to pass the events[/] (a long "
                          "transaction elsewhere on the server holds it back)")  # fmt: skip
        console.print(f"machine: {machine_load()} before the measured phases")

        baselines = []
        for copy_format in ("text", "binary"):
            checkpoints = checkpoint(db.url)
            with Progress(*columns, console=console, transient=True) as progress:
                progress.add_task(f"baseline: COPY TO STDOUT ({copy_format})", total=None, detail="")
                baselines.append(_copy_baseline(db.url, copy_format))

        checkpoint(db.url)
        with Progress(*columns, console=console, transient=True) as progress:
            result = rebuild(db.url, on_progress=phase_bars(progress))
        console.print(f"machine: {machine_load()} after the rebuild")
        lag = None
        if lag_seconds:
            console.print("worker lag on the rebuilt read model:")
            lag = measure_lag(db.url, events_per_second=LAG_EVENTS_PER_SECOND, seconds=lag_seconds, console=console)
    return ProjectionsReport(server, loaded, load_seconds, tuple(baselines), result, checkpoints, lag)


def _wait_until_final(url: str, timeout: float = 1800) -> float:
    """Until every event is below the read horizon (a rebuild reads only final events); the seconds waited."""
    began = time.perf_counter()
    with connect(url) as conn:
        while not conn.execute(
            "SELECT coalesce(max(transaction_id), 0) < event_store.read_horizon() FROM event_store.events"
        ).fetchone()[0]:
            if time.perf_counter() - began > timeout:
                raise BenchFailed(f"the read horizon did not pass the loaded events within {timeout:.0f}s")
            time.sleep(0.5)
    return time.perf_counter() - began


def _copy_baseline(url: str, copy_format: str) -> CopyBaseline:
    """A raw `COPY (SELECT * FROM event_store.events) TO STDOUT` of every event, read as fast as this
    process can (libpq's rows straight into a byte count) and dropped."""
    received = [0, 0]

    def count(data: bytes) -> None:
        received[0] += 1
        received[1] += len(data)

    query = sql.SQL("COPY (SELECT * FROM event_store.events) TO STDOUT (FORMAT {})").format(sql.SQL(copy_format))
    with connect(url) as conn:
        began = time.perf_counter()
        copy_out_to(conn, query, count)
        seconds = time.perf_counter() - began
    rows = received[0] - (2 if copy_format == "binary" else 0)  # binary: the header and the trailer
    return CopyBaseline(copy_format, rows, received[1], seconds)


def render(report: ProjectionsReport, console: Console) -> None:
    result, base = report.rebuild, report.baseline
    table = Table(title=f"bench projections: full rebuild of {report.events:,} events")
    table.add_column("")
    table.add_column("events / s", justify="right")
    table.add_column("time", justify="right")
    for copy in report.baselines:
        label = f"baseline: COPY (SELECT * FROM event_store.events) TO STDOUT, {copy.format}"
        table.add_row(label + (" (faster)" if copy is base else ""), rate(copy.rows_per_second), f"{copy.seconds:.2f}s")
    table.add_row(
        "ours: rebuild() up to the swap's commit", rate(result.events_per_second), f"{result.seconds_to_swap:.2f}s"
    )
    console.print(table)
    console.print(f"ratio ours / COPY ({base.format}, the faster): {verdict(report.ratio, GOAL_RATIO)}")
    for copy in report.baselines:
        if copy is not base:
            console.print(
                f"[dim]ratio ours / COPY ({copy.format}): {result.events_per_second / copy.rows_per_second:.2f}[/]"
            )
    met = result.events_per_second >= GOAL_EVENTS_PER_SECOND
    console.print(
        f"rebuild events/s: [bold {'green' if met else 'red'}]{rate(result.events_per_second)}[/] "
        f"(goal ≥ {rate(GOAL_EVENTS_PER_SECOND)}: {'met' if met else 'MISSED'})"
    )
    phases = ", ".join(f"{phase} {seconds:.2f}s" for phase, seconds in result.seconds.items())
    rows = ", ".join(f"{table} {count:,}" for table, count in result.rows_loaded.items())
    console.print(f"phases: {phases}")
    console.print(f"rows loaded: {rows}; caught up afterwards: {result.caught_up_events:,} events")
    console.print(
        f"[dim]The baseline only reads the events out (the client drops the bytes); the rebuild reads them, "
        f"computes every table with polars, COPYs them in, builds their indexes and swaps the schema. "
        f"The live read model was empty before (nothing to retire)."
        f"{'' if report.checkpoints else ' (CHECKPOINT before each phase was not allowed.)'}[/]"
    )
    if report.lag is not None:
        render_lag(report.lag, console)
