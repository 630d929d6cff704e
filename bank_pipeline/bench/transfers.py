"""`bank-pipeline bench transfers`: internal transfers through the real command path vs pgbench TPC-B.

Ours, path "bus" (the default): one spawned process sets up the accounts, then runs N client threads
that each submit TransferInternal commands between random distinct accounts, with a unique idempotency
key each, to one shared CommandBus (group commit: what the API process does with concurrent requests),
for the given duration. Before the clock starts, every account is touched once, so the bus's cache is in
the steady state of a process that has been running, not a cold start. Path "handler": N spawned
processes, each with its own pool, EventStore and CommandHandler (two round trips and one transaction
per command). The baseline: pgbench's built-in TPC-B-like transaction (the classic "bank transfer"
microbenchmark) with the same client count and duration, against the same server, in the same run.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg.conninfo import make_conninfo
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bank_pipeline.application import CommandBus, CommandHandler, RetriesExhausted
from bank_pipeline.application.handler import command_metadata, decide_and_evolve
from bank_pipeline.bench import pgbench
from bank_pipeline.bench.common import (
    BENCH_DATABASE,
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
    scratch_database,
    server_description,
    signal_ready,
    verdict,
    worker_failure,
)
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.aggregates import SNAPSHOT_VERSION, state_to_snapshot
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.domain.streams import account_stream, customer_stream
from bank_pipeline.settings import get_settings
from bank_pipeline.store import ConcurrencyError, EventStore, NewEvent

GOAL = 0.5  # our transfers/s ÷ pgbench TPC-B tps
ACCOUNTS_PER_CUSTOMER = 2
CURRENCY = "EUR"
OPENING_BALANCE = 10_000_00  # minor units
MAX_AMOUNT = 100_00  # transfers move 0.01 .. 100.00
SEED_CHUNK = 250  # customers per setup append
WARMUP_TRANSFERS = 20  # per client, before the clock starts; not counted
APPLICATION_NAME = "bank-pipeline-bench"


PATHS = ("bus", "handler")


@dataclass(frozen=True)
class TransferPlan:
    clients: int
    seconds: int
    accounts: int
    run_id: str
    seed: int
    path: str = "bus"  # "bus": client threads of one process share a CommandBus; "handler": a process each
    partitions_ahead_months: int = 3

    @property
    def customers(self) -> int:
        return -(-self.accounts // ACCOUNTS_PER_CUSTOMER)

    @property
    def processes(self) -> int:
        return 1 if self.path == "bus" else self.clients

    @property
    def threads_per_process(self) -> int:
        return self.clients if self.path == "bus" else 1


def account_id(number: int) -> str:
    return f"acc{number:07d}"


def customer_id(number: int) -> str:
    return f"cus{number:07d}"


# -- the client processes ------------------------------------------------------------------------------


class CountingEventStore(EventStore):
    """The real EventStore, counting the appends that lost a race (each is retried by the handler)."""

    conflicts = 0

    def append(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        try:
            return super().append(*args, **kwargs)
        except ConcurrencyError:
            self.conflicts += 1
            raise


@dataclass
class ClientResult:
    committed: int = 0
    refusals: Counter = field(default_factory=Counter)  # domain error code -> count
    conflicts: int = 0  # appends retried after a concurrent change to a stream
    exhausted: int = 0  # commands that lost every retry
    latencies: bytes = b""  # array('d') of seconds per committed transfer
    finished_at: float = 0.0  # time.perf_counter() when its last transfer returned
    seed_seconds: float = 0.0
    seeded_accounts: int = 0
    groups: int = 0  # appends the CommandBus made (path "bus")
    client_cpu: float = 0.0  # CPU seconds this process used while measured
    server_cpu: float | None = None  # CPU seconds its server process used meanwhile (local server only)


def seed_customers_and_accounts(store: EventStore, plan: TransferPlan, index: int, progress: Any) -> int:
    """Registers this client's share of the customers (KYC verified), opens their accounts and funds each
    with a CreditAccount. Fast: the domain decides each command locally, as CommandHandler would, and
    the events of SEED_CHUNK customers go to the store in one multi-stream append with expected versions
    and snapshots. Returns the number of accounts opened."""
    now = datetime.now(UTC)
    mine = range(index, plan.customers, plan.processes)
    opened = 0
    for chunk_start in range(0, len(mine), SEED_CHUNK):
        chunk = mine[chunk_start : chunk_start + SEED_CHUNK]
        states: dict[str, Any] = {}
        customer_events: list[NewEvent] = []
        account_events: list[NewEvent] = []
        customer_versions: dict[str, int] = {}
        account_versions: dict[str, int] = {}
        for number in chunk:
            customer = customer_id(number)
            stream = customer_stream(customer)
            states[stream] = None
            for command in (
                c.RegisterCustomer(
                    customer, f"Bench Customer {number}", f"{customer}@example.org", f"{number} Benchmark Street"
                ),
                c.ChangeKycStatus(customer, "verified"),
            ):
                customer_events += _decided(command, states, now)
            customer_versions[stream] = 0
            for account_number in range(
                number * ACCOUNTS_PER_CUSTOMER, min((number + 1) * ACCOUNTS_PER_CUSTOMER, plan.accounts)
            ):
                account = account_id(account_number)
                states[account_stream(account)] = None
                for command in (
                    c.OpenAccount(account, customer, CURRENCY),
                    c.CreditAccount(account, OPENING_BALANCE, CURRENCY, f"fund-{account}", "Bench", "Funding"),
                ):
                    account_events += _decided(command, states, now)
                account_versions[account_stream(account)] = 0
                opened += 1
        store.append(
            customer_events,
            customer_versions,
            snapshot_version=SNAPSHOT_VERSION,
            snapshots={s: state_to_snapshot(states[s]) for s in customer_versions},
        )
        # OpenAccount reads the customer (KYC verified, at version 2): check it, as the handler would.
        store.append(
            account_events,
            {**account_versions, **{s: 2 for s in customer_versions}},
            snapshot_version=SNAPSHOT_VERSION,
            snapshots={s: state_to_snapshot(states[s]) for s in account_versions},
        )
        progress[index] = opened
    return opened


def _decided(command: Any, states: dict[str, Any], now: datetime) -> list[NewEvent]:
    metadata = command_metadata(command, uuid.uuid4(), "bench-setup")
    return decide_and_evolve(command, states, now, metadata)[1]


def _check_seeded(handler: CommandHandler, own: list[int], rng: random.Random) -> None:
    """The cached snapshots the set-up wrote must equal what folding the events gives."""
    for number in rng.sample(own, min(5, len(own))):
        stream = account_stream(account_id(number))
        states, _ = handler.load([stream])
        if states[stream] != handler.fold_stream(stream):
            raise RuntimeError(f"set-up snapshot of {stream} differs from its events")


def transfer_client(
    index: int, url: str, plan: TransferPlan, *, ready, go, start_at, prepared, progress, results
) -> None:
    """One client process: sets up its share of the accounts, then runs plan.threads_per_process client
    threads until the shared deadline, through one CommandBus (path "bus") or its CommandHandler."""
    try:
        # The bus path keeps a connection for its committer's reads and one per appender.
        url = make_conninfo(url, application_name=f"{APPLICATION_NAME}-{index}")  # to find its server processes
        pool = make_pool(url, min_size=1, max_size=3 if plan.path == "bus" else 1)
        store = CountingEventStore(pool, partitions_ahead_months=plan.partitions_ahead_months)
        handler = CommandHandler(store)
        outcome = ClientResult()
        seeding_started = time.perf_counter()
        outcome.seeded_accounts = seed_customers_and_accounts(store, plan, index, prepared)
        outcome.seed_seconds = time.perf_counter() - seeding_started
        rng = random.Random(plan.seed * 1000 + index)
        own = [
            n
            for customer in range(index, plan.customers, plan.processes)
            for n in range(customer * ACCOUNTS_PER_CUSTOMER, min((customer + 1) * ACCOUNTS_PER_CUSTOMER, plan.accounts))
        ]
        _check_seeded(handler, own, rng)
        bus = CommandBus(handler) if plan.path == "bus" else None
        execute = bus.execute if bus else handler.execute
        key_prefix = f"bench-{plan.run_id}-{index}"
        # Warm up (connections, server-side plans, imports) on this process's own accounts: the others
        # may still be setting up theirs. Not counted.
        for number in range(WARMUP_TRANSFERS if len(own) > 1 else 0):
            source, target = rng.sample(own, 2)
            warm = c.TransferInternal(
                f"{key_prefix}-w{number}", account_id(source), account_id(target), 1, CURRENCY, "Bench warm-up"
            )
            execute(warm, idempotency_key=warm.transfer_id, actor="bench")
        if bus:
            # A bus that has run for a while holds its accounts' states: touch every account once (in
            # pairs, submitted at once) so the measured phase sees that steady state, not a cold start.
            warming = [
                bus.submit(
                    c.TransferInternal(f"{key_prefix}-warm{n}", account_id(n), account_id(n + 1), 1, CURRENCY, "Warm"),
                    idempotency_key=f"{key_prefix}-warm{n}",
                    actor="bench",
                )
                for n in range(0, len(own) - 1, 2)
            ]
            for future in warming:
                future.result()
        backends = _server_processes(url, f"{APPLICATION_NAME}-{index}")
        signal_ready(ready)
        go.wait()  # every process is set up and warm: start together
        client_cpu, server_cpu = time.process_time(), _cpu_seconds(backends)
        store.conflicts = 0
        deadline = start_at.value + plan.seconds
        threads = [
            _TransferThread(execute, plan, f"{key_prefix}-{thread}", plan.seed * 1000 + index * 100 + thread, deadline)
            for thread in range(plan.threads_per_process)
        ]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.1)
            progress[index] = sum(t.outcome.committed for t in threads)
        outcome.finished_at = max(t.finished_at for t in threads)
        outcome.client_cpu = time.process_time() - client_cpu
        server_cpu_after = _cpu_seconds(backends)
        if server_cpu is not None and server_cpu_after is not None:
            outcome.server_cpu = server_cpu_after - server_cpu
        if bus:
            outcome.conflicts = bus.conflicts
            outcome.groups = bus.groups_appended
            bus.close()
        else:
            outcome.conflicts = store.conflicts
        latencies = array("d")
        for thread in threads:
            outcome.committed += thread.outcome.committed
            outcome.refusals += thread.outcome.refusals
            outcome.exhausted += thread.outcome.exhausted
            latencies.extend(thread.latencies)
        progress[index] = outcome.committed
        outcome.latencies = latencies.tobytes()
        pool.close()
        results.put((index, outcome))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the benchmark
        results.put((index, worker_failure(index, error)))


class _TransferThread(threading.Thread):
    """One client: random transfers between distinct accounts, each with its own idempotency key."""

    def __init__(self, execute, plan: TransferPlan, key_prefix: str, seed: int, deadline: float):
        super().__init__(daemon=True)
        self.execute, self.plan, self.key_prefix, self.deadline = execute, plan, key_prefix, deadline
        self.rng = random.Random(seed)
        self.outcome = ClientResult()
        self.latencies = array("d")
        self.finished_at = 0.0

    def run(self) -> None:
        plan, rng, perf_counter = self.plan, self.rng, time.perf_counter
        number = 0
        while perf_counter() < self.deadline:
            source = rng.randrange(plan.accounts)
            target = rng.randrange(plan.accounts - 1)
            target += target >= source  # distinct accounts, uniformly
            command = c.TransferInternal(
                f"{self.key_prefix}-{number}",
                account_id(source),
                account_id(target),
                rng.randint(1, MAX_AMOUNT),
                CURRENCY,
                "Bench transfer",
            )
            began = perf_counter()
            try:
                self.execute(command, idempotency_key=command.transfer_id, actor="bench")
            except DomainError as refusal:
                self.outcome.refusals[refusal.code] += 1
            except RetriesExhausted:
                self.outcome.exhausted += 1
            else:
                self.latencies.append(perf_counter() - began)
                self.outcome.committed += 1
            number += 1
        self.finished_at = perf_counter()


def _server_processes(url: str, application_name: str) -> list[int] | None:
    """The local server processes serving one client process's pool (None when the server is remote)."""
    with connect(url) as conn:
        if local_backend_pid(conn) is None:
            return None
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchall()
    return [row[0] for row in rows]


def _cpu_seconds(pids: list[int] | None) -> float | None:
    if pids is None:
        return None
    used = [process_cpu_seconds(pid) for pid in pids]
    return None if any(u is None for u in used) else sum(used)


# -- the run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransfersReport:
    plan: TransferPlan
    server: str
    setup_seconds: float
    elapsed: float
    committed: int
    refusals: Counter
    conflicts: int
    exhausted: int
    groups: int
    latency: LatencySummary
    pgbench: pgbench.PgbenchResult
    checkpoints: bool
    client_cpu_per_transfer: float
    server_cpu_per_transfer: float | None

    @property
    def transfers_per_second(self) -> float:
        return self.committed / self.elapsed

    @property
    def ratio(self) -> float:
        return self.transfers_per_second / self.pgbench.tps


def run(
    *,
    clients: int,
    seconds: int,
    accounts: int,
    keep: bool,
    console: Console,
    seed: int | None = None,
    path: str = "bus",
) -> TransfersReport:
    if clients < 1 or seconds < 1 or accounts < 2:
        raise ValueError("need at least 1 client, 1 second and 2 accounts")
    if path not in PATHS:
        raise ValueError(f"--path must be one of {', '.join(PATHS)}, not {path!r}")
    plan = TransferPlan(
        clients=clients,
        seconds=seconds,
        accounts=accounts,
        run_id=uuid.uuid4().hex[:8],
        seed=seed if seed is not None else random.randrange(1 << 30),
        path=path,
        partitions_ahead_months=get_settings().partitions_ahead_months,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with bench_database(keep=keep) as db, Progress(*columns, console=console, transient=True) as progress:
        server = server_description(db.url)
        console.print(f"server: {server}")
        console.print(f"database: {db.name} (fresh, migrated{', kept afterwards' if keep else ''})")
        console.print(f"machine: {machine_load()} before the run")

        # 1. our command path
        setup = progress.add_task(f"setting up {accounts:,} accounts", total=accounts, detail="")
        started = time.perf_counter()
        with Workers(plan.processes, transfer_client, lambda index: (db.url, plan)) as workers:
            workers.wait_ready(lambda: progress.update(setup, completed=workers.prepared_count()))
            setup_seconds = time.perf_counter() - started
            progress.update(setup, completed=accounts, detail=f"{setup_seconds:.1f}s")
            checkpoints = checkpoint(db.url)
            measuring = progress.add_task(f"transfers, {clients} clients ({plan.path})", total=seconds, detail="")
            start = workers.start()

            def tick() -> None:
                elapsed = min(time.perf_counter() - start, seconds)
                done = workers.done_count()
                progress.update(
                    measuring, completed=elapsed, detail=f"{done:,} committed, {done / max(elapsed, 1e-9):,.0f}/s"
                )

            outcomes: list[ClientResult] = workers.collect(tick)
        elapsed = max(o.finished_at for o in outcomes) - start
        latencies: list[float] = []
        for outcome in outcomes:
            latencies.extend(array("d", outcome.latencies))
        progress.update(measuring, completed=seconds)

        # 2. the baseline, same server, same clients and duration
        scale = pgbench.scale_for(clients)
        initialising = progress.add_task(f"pgbench -i -s {scale}", total=None, detail="")
        with scratch_database(db.server_url, f"{BENCH_DATABASE}_pgbench", keep=keep) as pgbench_url:
            init_seconds = pgbench.initialise(pgbench_url, scale)
            progress.update(initialising, total=1, completed=1, detail=f"{init_seconds:.1f}s")
            checkpoint(pgbench_url)
            baseline = progress.add_task(f"pgbench TPC-B, {clients} clients", total=seconds, detail="")
            baseline_result = pgbench.run(
                pgbench_url,
                clients=clients,
                seconds=seconds,
                scale=scale,
                init_seconds=init_seconds,
                on_progress=lambda at, tps: progress.update(baseline, completed=at, detail=f"{tps:,.0f} tps"),
            )

    console.print(f"machine: {machine_load()} after the run")
    return TransfersReport(
        plan=plan,
        server=server,
        setup_seconds=setup_seconds,
        elapsed=elapsed,
        committed=sum(o.committed for o in outcomes),
        refusals=sum((o.refusals for o in outcomes), Counter()),
        conflicts=sum(o.conflicts for o in outcomes),
        exhausted=sum(o.exhausted for o in outcomes),
        groups=sum(o.groups for o in outcomes),
        latency=LatencySummary.of(latencies),
        pgbench=baseline_result,
        checkpoints=checkpoints,
        client_cpu_per_transfer=sum(o.client_cpu for o in outcomes) / max(1, sum(o.committed for o in outcomes)),
        server_cpu_per_transfer=(
            None
            if any(o.server_cpu is None for o in outcomes)
            else sum(o.server_cpu for o in outcomes) / max(1, sum(o.committed for o in outcomes))
        ),
    )


def render(report: TransfersReport, console: Console) -> None:
    plan, base = report.plan, report.pgbench
    table = Table(
        title=f"bench transfers: {plan.clients} clients × {plan.seconds}s, {plan.accounts:,} accounts", show_header=True
    )
    table.add_column("")
    ours = "CommandBus.execute (group commit)" if plan.path == "bus" else "CommandHandler.execute"
    table.add_column(f"ours: TransferInternal via {ours}", justify="right")
    table.add_column(f"baseline: pgbench TPC-B-like, scale {base.scale}", justify="right")
    table.add_row("transactions / s", rate(report.transfers_per_second), rate(base.tps))
    table.add_row("events / s", rate(2 * report.transfers_per_second), "")
    table.add_row(
        "transactions", f"{report.committed:,} in {report.elapsed:.1f}s", f"{base.transactions:,} in {base.seconds}s"
    )
    table.add_row("latency mean", milliseconds(report.latency.mean), f"{base.latency_average_ms:.2f} ms")
    table.add_row(
        "latency p50 / p99 / max",
        f"{milliseconds(report.latency.p50)} / {milliseconds(report.latency.p99)} / {milliseconds(report.latency.max)}",
        f"stddev {base.latency_stddev_ms:.2f} ms" if base.latency_stddev_ms is not None else "",
    )
    refusals = ", ".join(f"{code} {n:,}" for code, n in report.refusals.most_common()) or "0"
    table.add_row(
        "client CPU per transaction",
        microseconds(report.client_cpu_per_transfer),
        microseconds(base.client_cpu_per_transaction),
    )
    table.add_row(
        "server CPU per transaction",
        microseconds(report.server_cpu_per_transfer),
        microseconds(base.server_cpu_per_transaction),
    )
    table.add_row("refused by the domain", refusals, f"failed {base.failed:,}")
    if plan.path == "bus":
        mean_group = report.committed / max(1, report.groups)
        table.add_row("appends (groups of transfers)", f"{report.groups:,} (mean {mean_group:.1f})", "")
    table.add_row("retried appends (lost a race)", f"{report.conflicts:,}", "")
    table.add_row("gave up after all retries", f"{report.exhausted:,}", "")
    console.print(table)
    console.print(
        f"ratio ours / pgbench: {verdict(report.ratio, GOAL)}   "
        f"[dim](set-up of {plan.accounts:,} accounts and {plan.customers:,} KYC-verified customers: "
        f"{report.setup_seconds:.1f}s; pgbench -i: {base.init_seconds:.1f}s)[/]"
    )
    console.print(
        f"[dim]baseline: `{base.command}` after `pgbench -i -s {base.scale}`: scale {base.scale} ≥ "
        f"{plan.clients} clients, so the {base.scale} branch rows every TPC-B transaction updates do not "
        f"serialise the clients. Ours: {_our_clients(plan)}; each transfer has a unique idempotency key and "
        f"appends 2 events."
        f"{'' if report.checkpoints else ' (CHECKPOINT before each phase was not allowed.)'}[/]"
    )


def _our_clients(plan: TransferPlan) -> str:
    if plan.path == "bus":
        return (
            f"{plan.clients} client threads in one spawned process, sharing one CommandBus (what the API "
            "process does with concurrent requests)"
        )
    return f"{plan.clients} spawned processes, each with its own pool, EventStore and CommandHandler"
