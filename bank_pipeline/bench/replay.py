"""`bank-pipeline bench replay`: an account as of a random instant, read from the projections
(`account_as_of`, one statement) vs a naive replay of its events, same queries, same run, one client.

The bench database gets many accounts with long, realistic histories through EventStore.append_batches (the
COPY path): each account opened at some point of the first weeks, then 100 to 500 credits and debits (some
back-dated in business time), card holds placed and mostly released, a few freezes. The history is appended
in waves, oldest first, a few events per account per batch, so an account's events are recorded by many
transactions over the load, as a running bank's are, and system time means something. Then the read model
is projected (Projector.catch_up in large batches).

Queries: a random account, a random instant over the whole history (a little before and after it too), by
business or system time with equal odds, 20 recent entries. Ours: `account_as_of` on one connection, timed
from the call to the parsed answer. The baseline: the naive replay the issue names, for the first queries of
the same list: read the account's stream (`EventStore.read_stream`), fold the events known at the instant
with the domain's code, and sort its entries for the recent ones. Both answers are compared on each baseline
query (existence, status, balance, held amount, recent entries).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bank_pipeline.bench.common import (
    LatencySummary,
    bench_database,
    checkpoint,
    machine_load,
    milliseconds,
    rate,
    server_description,
)
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.domain.aggregates import fold
from bank_pipeline.domain.events import event_from_stored
from bank_pipeline.projections.projector import Projector
from bank_pipeline.projections.replay import STATEMENTS, account_as_of
from bank_pipeline.store import EventStore, NewEvent, RecordedEvent

GOAL_P99 = 0.005  # seconds, per account as of an instant
BENCH_DATABASE = "bank_pipeline_bench_replay"  # its own name: other benches may run meanwhile
HISTORY_START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
HISTORY_DAYS = 360
WAVES = 60  # each account's history is appended over about this many waves, oldest first
OPENING_WAVES = 6  # accounts open during the first waves
BATCH_EVENTS = 5_000  # events per append: a short transaction (a long one holds back every reader's horizon)
PROJECTION_BATCH = 20_000  # events per projector transaction: short, for the same reason
RECENT = 20
TIME_OF = {"business": "occurred_at", "system": "recorded_at"}
ENTRY_TYPES = ("AccountCredited", "AccountDebited")


@dataclass(frozen=True)
class ReplayPlan:
    accounts: int
    min_entries: int
    max_entries: int
    queries: int
    baseline_queries: int
    seed: int


# -- realistic histories -----------------------------------------------------------------------------------


@dataclass
class _Account:
    account_id: str
    entries: int  # credits and debits it will have
    first_wave: int
    version: int = 0
    balance: int = 0
    done: int = 0  # entries booked so far
    open_holds: list[tuple[str, int]] = field(default_factory=list)
    frozen: bool = False

    @property
    def stream_id(self) -> str:
        return f"account-{self.account_id}"

    def due_by(self, wave: int) -> int:
        """Entries booked once `wave` is done: spread evenly over its waves."""
        return round(self.entries * (wave - self.first_wave + 1) / (WAVES - self.first_wave))


def account_id_of(number: int) -> str:
    return f"acct{number:07d}"


def history_batches(plan: ReplayPlan) -> Iterator[list[NewEvent]]:
    """Every account's history in batches of about BATCH_EVENTS, wave after wave; in a wave each account's events
    for that stretch of business time, the account's events of one wave always in one batch."""
    rng = random.Random(plan.seed)
    accounts = [
        _Account(account_id_of(n), rng.randint(plan.min_entries, plan.max_entries), rng.randrange(OPENING_WAVES))
        for n in range(plan.accounts)
    ]
    wave_span = timedelta(days=HISTORY_DAYS / WAVES)
    metadata = {"actor": "bench", "command_type": "bench"}
    batch: list[NewEvent] = []
    for wave in range(WAVES):
        wave_start = HISTORY_START + wave * wave_span
        for account in accounts:
            if wave < account.first_wave:
                continue
            due = account.due_by(wave) - account.done
            moments = sorted(wave_start + rng.random() * wave_span for _ in range(due + 1))
            if wave == account.first_wave:
                batch.append(_event(account, "AccountOpened", _opening(account), moments[0], metadata, rng, 2))
            for moment in moments[1:]:
                batch.extend(_next_events(account, moment, metadata, rng))
            if len(batch) >= BATCH_EVENTS:
                yield batch
                batch = []
    if batch:
        yield batch


def _opening(account: _Account) -> dict:
    customer = f"cust{int(account.account_id[4:]) // 2:07d}"
    return {"account_id": account.account_id, "customer_id": customer, "currency": "EUR", "product": "current",
            "overdraft_limit": 0}  # fmt: skip


def _event(account, event_type, payload, occurred_at, metadata, rng, schema_version=1) -> NewEvent:
    account.version += 1
    event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    return NewEvent(account.stream_id, event_type, payload, schema_version, metadata, occurred_at, event_id)


def _next_events(account: _Account, moment: datetime, metadata: dict, rng: random.Random) -> list[NewEvent]:
    """One entry (5 % of them back-dated by up to three days), sometimes after a hold or status event."""
    base = {"account_id": account.account_id}
    made = []
    roll = rng.random()
    if account.frozen and roll < 0.3:
        account.frozen = False
        made.append(_event(account, "AccountUnfrozen", {**base, "reason": "cleared"}, moment, metadata, rng))
    elif roll < 0.002 and not account.frozen:
        account.frozen = True
        made.append(_event(account, "AccountFrozen", {**base, "reason": "review"}, moment, metadata, rng))
    elif roll < 0.04 and account.open_holds:
        hold_id, amount = account.open_holds.pop(0)
        payload = {**base, "hold_id": hold_id, "amount": amount, "reason": "settled"}
        made.append(_event(account, "HoldReleased", payload, moment, metadata, rng))
    elif roll < 0.08 and len(account.open_holds) < 3:
        hold_id, amount = f"hold-{rng.getrandbits(64):016x}", rng.randint(100, 20_000)
        account.open_holds.append((hold_id, amount))
        payload = {**base, "hold_id": hold_id, "amount": amount, "currency": "EUR",
                   "expires_at": (moment + timedelta(days=7)).isoformat(), "reason": "card"}  # fmt: skip
        made.append(_event(account, "HoldPlaced", payload, moment, metadata, rng))
    occurred = moment - timedelta(minutes=rng.randint(60, 3 * 24 * 60)) if rng.random() < 0.05 else moment
    amount = rng.choice((rng.randint(100, 9_999), rng.randint(10_000, 250_000)))
    credit = account.balance < amount or rng.random() < 0.45
    account.balance += amount if credit else -amount
    account.done += 1
    payload = {**base, "transfer_id": f"tr-{rng.getrandbits(64):016x}", "amount": amount, "currency": "EUR",
               "balance_after": account.balance, "flow": rng.choice(("internal", "external")),
               "counterparty": f"DE{rng.randrange(10**18):018d}",
               "reference": f"Inv {rng.randrange(10**6):06d}"}  # fmt: skip
    made.append(_event(account, "AccountCredited" if credit else "AccountDebited", payload, occurred, metadata, rng))
    return made


# -- the naive replay (the baseline) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What both ways must agree on."""

    existed: bool
    status: str | None
    ledger_balance: int
    held_amount: int
    recent: tuple[int, ...]  # stream versions, newest first


def replay_naively(events: list[RecordedEvent], as_of: datetime, by: str, recent: int) -> Figures:
    """Fold the account's events known at `as_of`, in stream order, with the domain's code. A release whose
    hold was not placed yet at `as_of` (by business time a release can be back-dated) changes nothing."""
    time_of = TIME_OF[by]
    known = [e for e in events if getattr(e, time_of) <= as_of]
    if not events or getattr(events[0], time_of) > as_of:
        return Figures(False, None, 0, 0, ())
    placed = {e.payload["hold_id"] for e in known if e.event_type == "HoldPlaced"}
    state = fold(
        event_from_stored(e.event_type, e.schema_version, e.payload)
        for e in known
        if e.event_type != "HoldReleased" or e.payload["hold_id"] in placed
    )
    entries = sorted(
        (e for e in known if e.event_type in ENTRY_TYPES), key=lambda e: (getattr(e, time_of), e.stream_version)
    )
    newest = tuple(e.stream_version for e in reversed(entries[-recent:])) if recent else ()
    return Figures(True, state.status, state.ledger_balance, state.held_amount, newest)


def figures_of(answer) -> Figures:
    return Figures(answer.existed, answer.status, answer.ledger_balance, answer.held_amount,
                   tuple(e.stream_version for e in answer.recent))  # fmt: skip


# -- the run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    account_id: str
    as_of: datetime
    by: str


@dataclass(frozen=True)
class ReplayReport:
    plan: ReplayPlan
    server: str
    events: int
    entries: int
    load_seconds: float
    projection_seconds: float
    table_sizes: dict[str, str]
    ours: LatencySummary
    ours_by: dict[str, LatencySummary]
    naive: LatencySummary
    naive_events_read: float  # mean events per naive replay
    agreed: int
    disagreements: tuple[str, ...]
    plans: dict[str, list[str]]  # EXPLAIN of ours, by dimension: the index and scan lines


def draw_queries(conn, plan: ReplayPlan, rng: random.Random) -> list[Query]:
    """Random accounts and instants over each dimension's whole range, 2 % of it either side."""
    ranges = {}
    for by, column in TIME_OF.items():
        low, high = conn.execute(
            f"SELECT min({column}), max({column}) FROM projections.account_status_changes"
        ).fetchone()
        _, high_entries = conn.execute(
            f"SELECT min({column}), max({column}) FROM projections.account_entries"
        ).fetchone()
        high = max(high, high_entries)
        margin = (high - low) * 0.02
        ranges[by] = (low - margin, high + margin)
    queries = []
    for _ in range(plan.queries):
        by = rng.choice(("business", "system"))
        low, high = ranges[by]
        queries.append(Query(account_id_of(rng.randrange(plan.accounts)), low + rng.random() * (high - low), by))
    return queries


def run(*, plan: ReplayPlan, keep: bool, console: Console) -> ReplayReport:
    rng = random.Random(plan.seed + 1)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with bench_database(BENCH_DATABASE, keep=keep) as db, Progress(*columns, console=console, transient=True) as bar:
        server = server_description(db.url)
        console.print(f"server: {server}")
        console.print(f"database: {db.name} (fresh, migrated{', kept afterwards' if keep else ''})")
        console.print(f"machine: {machine_load()} before the run")
        expected_events = plan.accounts * (plan.min_entries + plan.max_entries) // 2
        with make_pool(db.url, min_size=1, max_size=2) as pool:
            loading = bar.add_task("appending histories (EventStore.append_batches)", total=expected_events)
            started = time.perf_counter()
            events = 0
            for result in EventStore(pool).append_batches(history_batches(plan)):
                events += len(result.global_positions)
                bar.update(loading, completed=events)
            load_seconds = time.perf_counter() - started
            bar.update(loading, total=events, completed=events)
            projecting = bar.add_task(f"projecting (batches of {PROJECTION_BATCH:,})", total=events)
            started = time.perf_counter()
            Projector(pool, batch_size=PROJECTION_BATCH).catch_up(
                on_batch=lambda batch: bar.update(projecting, advance=batch.events)
            )
            projection_seconds = time.perf_counter() - started
        checkpoint(db.url)
        with connect(db.url) as conn:
            entries = conn.execute("SELECT count(*) FROM projections.account_entries").fetchone()[0]
            table_sizes = _table_sizes(conn)
            queries = draw_queries(conn, plan, rng)
            plans = {by: _plan_lines(conn, next(q for q in queries if q.by == by)) for by in TIME_OF}
            ours, answers = _measure_ours(conn, queries, bar, keep_answers=plan.baseline_queries)
        naive, events_read, figures = _measure_naive(db.url, queries[: plan.baseline_queries], bar)
    console.print(f"machine: {machine_load()} after the run")
    disagreements = tuple(
        f"{q.account_id} as of {q.as_of.isoformat()} by {q.by}: ours {figures_of(a)}, naive {f}"
        for q, a, f in zip(queries, answers, figures, strict=False)
        if figures_of(a) != f
    )
    latencies = [seconds for _, seconds in ours]
    return ReplayReport(
        plan=plan,
        server=server,
        events=events,
        entries=entries,
        load_seconds=load_seconds,
        projection_seconds=projection_seconds,
        table_sizes=table_sizes,
        ours=LatencySummary.of(latencies),
        ours_by={by: LatencySummary.of([s for q, s in ours if q.by == by]) for by in TIME_OF},
        naive=LatencySummary.of(naive),
        naive_events_read=events_read,
        agreed=len(figures) - len(disagreements),
        disagreements=disagreements,
        plans=plans,
    )


def _measure_ours(conn, queries: list[Query], bar: Progress, *, keep_answers: int):
    """Each query's time; the answers to the first `keep_answers` queries, to compare with the baseline's."""
    for query in queries[:200]:  # warm-up: connection, server-side plans (psycopg prepares after 5 runs)
        account_as_of(conn, query.account_id, query.as_of, by=query.by, recent=RECENT)
    task = bar.add_task("ours: account_as_of", total=len(queries))
    timed, answers = [], []
    clock = time.perf_counter
    for query in queries:
        began = clock()
        answer = account_as_of(conn, query.account_id, query.as_of, by=query.by, recent=RECENT)
        timed.append((query, clock() - began))
        if len(answers) < keep_answers:
            answers.append(answer)
        bar.advance(task)
    return timed, answers


def _measure_naive(url: str, queries: list[Query], bar: Progress) -> tuple[list[float], float, list[Figures]]:
    task = bar.add_task("baseline: read the stream and fold it", total=len(queries))
    latencies, figures, events_read = [], [], 0
    clock = time.perf_counter
    with make_pool(url, min_size=1, max_size=1) as pool:
        store = EventStore(pool)
        for query in queries[:20]:  # the same warm-up
            store.read_stream(f"account-{query.account_id}")
        for query in queries:
            began = clock()
            events = store.read_stream(f"account-{query.account_id}")
            answer = replay_naively(events, query.as_of, query.by, RECENT)
            latencies.append(clock() - began)
            figures.append(answer)
            events_read += len(events)
            bar.advance(task)
    return latencies, events_read / max(1, len(queries)), figures


def _table_sizes(conn) -> dict[str, str]:
    rows = conn.execute(
        "SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'projections' AND c.relkind = 'r' "
        "AND c.relname IN ('account_entries', 'account_holds', 'account_status_changes', 'account_balances')"
    ).fetchall()
    events = conn.execute(
        "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
        "WHERE inhparent = 'event_store.events'::regclass"
    ).fetchone()[0]
    return {"event_store.events": events, **{f"projections.{name}": size for name, size in rows}}


def _plan_lines(conn, query: Query) -> list[str]:
    """The scan nodes of EXPLAIN ANALYZE for one of our queries: which index each part uses."""
    params = {"account_id": query.account_id, "as_of": query.as_of, "recent": RECENT}
    [[plan]] = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {STATEMENTS[query.by]}", params).fetchone()
    lines: list[str] = []

    def walk(node: dict) -> None:
        if "Scan" in node["Node Type"]:
            relation = f" on {node['Relation Name']}" if "Relation Name" in node else ""
            index = f" using {node['Index Name']}" if "Index Name" in node else ""
            lines.append(f"{node['Node Type']}{relation}{index}")
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan["Plan"])
    lines.append(
        f"execution {plan['Execution Time']:.3f} ms, planning {plan['Planning Time']:.3f} ms (the first run on the "
        "connection; psycopg prepares a statement once it has run 5 times, so the measured queries skip planning)"
    )
    return lines


def render(report: ReplayReport, console: Console) -> None:
    plan = report.plan
    console.print(
        f"data: {plan.accounts:,} accounts, {report.events:,} events ({report.entries:,} entries, "
        f"{plan.min_entries}–{plan.max_entries} per account) appended in {report.load_seconds:.1f}s "
        f"({rate(report.events / report.load_seconds)} events/s), projected in {report.projection_seconds:.1f}s "
        f"({rate(report.events / report.projection_seconds)} events/s)"
    )
    console.print("[dim]sizes: " + ", ".join(f"{name} {size}" for name, size in report.table_sizes.items()) + "[/]")
    table = Table(title=f"bench replay: an account as of a random instant, one client, {RECENT} recent entries")
    for column in ("", "queries", "p50", "p99", "max", "mean"):
        table.add_column(column, justify="right" if column else "left")

    def row(label: str, summary: LatencySummary) -> None:
        table.add_row(label, f"{summary.count:,}", *(milliseconds(v) for v in (summary.p50, summary.p99, summary.max,
                                                                               summary.mean)))  # fmt: skip

    row("ours: account_as_of (projections, one statement)", report.ours)
    for by, summary in report.ours_by.items():
        row(f"  of which by {by} time", summary)
    row(f"baseline: naive replay (read stream, fold; {report.naive_events_read:,.0f} events each)", report.naive)
    console.print(table)
    met = report.ours.p99 <= GOAL_P99
    goal = f"goal p99 ≤ {milliseconds(GOAL_P99)}: " + ("[bold green]met[/]" if met else "[bold red]MISSED[/]")
    console.print(
        f"ours p99 {milliseconds(report.ours.p99)} ({goal}); naive replay / ours: p99 "
        f"[bold]{report.naive.p99 / report.ours.p99:.1f}×[/], p50 {report.naive.p50 / report.ours.p50:.1f}×"
    )
    total = report.agreed + len(report.disagreements)
    if report.disagreements:
        console.print(f"[bold red]answers differ on {len(report.disagreements)} of {total} baseline queries[/]:")
        for line in report.disagreements[:5]:
            console.print(f"  {line}")
    else:
        console.print(f"answers agree on all {total:,} baseline queries (existence, status, balance, held, recent)")
    for by, lines in report.plans.items():
        console.print(f"[dim]plan by {by} time: " + "; ".join(lines) + "[/]")
