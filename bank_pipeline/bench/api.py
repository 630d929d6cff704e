"""`bank-pipeline bench api`: the API's two hottest reads under a steady open-loop load, against the raw SQL of
the same reads in the same run.

- Data: a big read model loaded straight into the projections (bench/api_load.py; default 1 M accounts, 20 M
  entries), or a kept one of an earlier run with the same figures (`--keep`).
- Server: `uvicorn --factory bank_pipeline.api.app:create_app` in a process of its own on a free loopback port
  (uvloop, httptools, no access log), over the bench database, with a random signing key made for this run and
  handed over in its environment only.
- Load: a spawned process (bench/api_client.py) sends `GET /v1/accounts/{id}/balance` and
  `GET /v1/accounts/{id}/transactions?limit=50` for uniformly random accounts, each with its owner's customer token,
  at a fixed rate (open loop: request i is due at start + i / rate), first a warm-up, then the measured phase.
  Latency counts from each request's due time, so queueing anywhere counts; service time from its send.
- Baseline: the functions the endpoints call (bank_pipeline.api.queries.read_account, read_history) for the same
  requests in the same order, one psycopg connection, one after another, after the HTTP phase, server stopped.
- Checks: every request of the measured phase answered 200; every balance answered equals the database's; every
  page holds min(50, the account's entries) entries.
Goals: balance p99 ≤ 10 ms, history page p99 ≤ 20 ms at 1,000 requests/s.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from bank_pipeline.bench import api_load
from bank_pipeline.bench.api_client import BALANCE, ENDPOINTS, HISTORY, LoadPlan, LoadResult, run_load
from bank_pipeline.bench.common import (
    SPAWN,
    BenchFailed,
    LatencySummary,
    machine_load,
    milliseconds,
    process_cpu_seconds,
    server_description,
)
from bank_pipeline.bench.projection_lag import expect_message
from bank_pipeline.db.connection import connect

GOAL_P99 = {BALANCE: 0.010, HISTORY: 0.020}  # seconds
HISTORY_PAGE = 50
LOOPBACK = "127.0.0.1"
APP_FACTORY = "bank_pipeline.api.app:create_app"
SERVER_START_TIMEOUT = 60.0
LATE = 0.002  # seconds
SERVER_GROUP, CLIENT_GROUP, DATABASE_GROUP = "API server (uvicorn)", "load generator", "PostgreSQL (every process)"
SQL_WARMUP_QUERIES = 200  # per endpoint: the connection, and psycopg's prepared statements (after 5 runs)


@dataclass(frozen=True)
class ApiBenchOptions:
    accounts: int = api_load.DEFAULT_ACCOUNTS
    entries: int = api_load.DEFAULT_ENTRIES
    rate: int = 1_000  # requests a second
    seconds: int = 30  # measured
    warmup_seconds: int = 5
    workers: int = 1
    balance_share: float = 0.5  # the rest are history pages
    connections: int = 0  # 0: sized for the rate (enough for 50 ms answers without waiting for a connection)
    client: str = "raw"
    seed: int = api_load.DEFAULT_SEED
    keep: bool = False
    database: str = api_load.DATABASE
    app: str = APP_FACTORY  # what uvicorn serves: another factory lets a variant of the app be compared

    @property
    def pool_size(self) -> int:
        return self.connections or max(8, math.ceil(self.rate * 0.05))


# -- the report ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointFigures:
    kind: int
    sent: int  # measured phase
    answered: int  # with any HTTP status
    ok: int  # 200
    rate_held: float  # 200 answers a second while the measured phase's requests were due, whatever their phase
    latency: LatencySummary  # due -> answered, 200s
    service: LatencySummary  # sent -> answered, 200s
    sql: LatencySummary  # the baseline: the same query functions, one connection

    @property
    def name(self) -> str:
        return ENDPOINTS[self.kind]

    @property
    def goal(self) -> float:
        return GOAL_P99[self.kind]

    @property
    def met(self) -> bool:
        return self.ok == self.sent and self.latency.p99 <= self.goal


@dataclass(frozen=True)
class Checks:
    balances: int
    wrong_balances: list[str]
    pages: int
    wrong_pages: list[str]


@dataclass(frozen=True)
class ApiReport:
    options: ApiBenchOptions
    dataset: api_load.LoadedDataset
    server: str
    endpoints: list[EndpointFigures]
    lateness: LatencySummary  # sent - due, measured phase: the load generator's own delay
    late_share: float  # of requests sent more than LATE after they were due
    cpu: CpuUse  # during the measured phase
    checks: Checks
    failures: dict[str, int]  # exception name -> count
    sample_error: str
    load_before: str
    load_after: str
    distinct_accounts: int

    @property
    def requests(self) -> int:
        return sum(figures.sent for figures in self.endpoints)


# -- the run ------------------------------------------------------------------------------------------------


def run(options: ApiBenchOptions, console: Console) -> ApiReport:
    if options.client not in ("raw", "httpx"):
        raise ValueError(f"--client must be raw or httpx, not {options.client!r}")
    if round(options.rate * options.seconds) < 1:
        raise ValueError("the measured phase would hold no request: raise the rate or the duration")
    plan = api_load.DatasetPlan(options.accounts, options.entries, options.seed)
    with api_load.api_dataset(plan, keep=options.keep, console=console, name=options.database) as dataset:
        server = server_description(dataset.url)
        console.print(f"server: {server}")
        requests = RequestMix.draw(options, plan)
        signing_key = secrets.token_urlsafe(48)
        load_before = machine_load()
        console.print(f"machine: {load_before} before the run")
        with api_server(dataset.url, workers=options.workers, signing_key=signing_key, app=options.app) as uvicorn:
            console.print(
                f"API: uvicorn pid {uvicorn.process.pid}, {options.workers} worker(s) on {LOOPBACK}:{uvicorn.port}; "
                f"load: {options.client} client, {options.pool_size} keep-alive connections, "
                f"{options.rate:,} requests/s, {options.warmup_seconds}s warm-up + {options.seconds}s measured …"
            )
            load_plan = requests.load_plan(options, uvicorn.port, signing_key)
            result, cpu = drive_load(load_plan, uvicorn.process.pid, dataset.url)
        load_after = machine_load()
        console.print(f"baseline: the same {len(requests.kinds) - load_plan.measured_from:,} reads as raw SQL …")
        sql_seconds = sql_baseline(dataset.url, requests, load_plan.measured_from)
        checks = check_answers(dataset.url, requests, result)
    measured = slice(load_plan.measured_from, None)
    lateness = (result.sent - result.due)[measured]
    lateness = lateness[~np.isnan(lateness)]
    return ApiReport(
        options=options,
        dataset=dataset,
        server=server,
        endpoints=[endpoint_figures(kind, requests.kinds, result, measured, sql_seconds) for kind in ENDPOINTS],
        lateness=LatencySummary.of(lateness.tolist()),
        late_share=float(np.mean(lateness > LATE)) if len(lateness) else math.nan,
        cpu=cpu,
        checks=checks,
        failures=result.errors,
        sample_error=result.sample_error_body,
        load_before=load_before,
        load_after=load_after,
        distinct_accounts=len(set(requests.account_numbers[measured].tolist())),
    )


@dataclass(frozen=True)
class RequestMix:
    """Every request of the run, warm-up included: which endpoint, which account, whose token."""

    kinds: np.ndarray
    account_numbers: np.ndarray
    account_ids: list[str]
    customer_ids: list[str]

    @classmethod
    def draw(cls, options: ApiBenchOptions, plan: api_load.DatasetPlan) -> RequestMix:
        rng = np.random.default_rng([options.seed, 99])
        count = round(options.rate * (options.warmup_seconds + options.seconds))
        kinds = np.where(rng.random(count) < options.balance_share, BALANCE, HISTORY).astype(np.int8)
        numbers = rng.integers(0, plan.accounts, count)
        owners = api_load.customer_numbers(numbers, plan.customers)
        return cls(kinds, numbers, api_load.account_ids(numbers).to_list(), api_load.customer_ids(owners).to_list())

    def load_plan(self, options: ApiBenchOptions, port: int, signing_key: str) -> LoadPlan:
        customers = sorted(set(self.customer_ids))
        index_of = {customer: index for index, customer in enumerate(customers)}
        paths = [
            f"/v1/accounts/{account}/balance" if kind == BALANCE
            else f"/v1/accounts/{account}/transactions?limit={HISTORY_PAGE}"
            for kind, account in zip(self.kinds.tolist(), self.account_ids, strict=True)
        ]  # fmt: skip
        return LoadPlan(
            host=LOOPBACK,
            port=port,
            rate=options.rate,
            warmup_seconds=options.warmup_seconds,
            seconds=options.seconds,
            connections=options.pool_size,
            client=options.client,
            kinds=self.kinds,
            paths=paths,
            owners=np.array([index_of[customer] for customer in self.customer_ids], dtype=np.int32),
            customers=customers,
            signing_key=signing_key,
            token_ttl_seconds=options.warmup_seconds + options.seconds + 3_600,
        )


# -- the API server -----------------------------------------------------------------------------------------


@dataclass
class UvicornServer:
    process: subprocess.Popen
    port: int
    log_path: str

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def api_server(url: str, *, workers: int, signing_key: str, app: str = APP_FACTORY) -> Iterator[UvicornServer]:
    """uvicorn serving the API over `url` on a free loopback port, until the block ends; ready when /healthz
    answers. The signing key travels in the child's environment only."""
    port = free_port()
    environment = {**os.environ, "BANK_PIPELINE_DATABASE_URL": url, "BANK_PIPELINE_API_SIGNING_KEY": signing_key}
    command = [
        sys.executable, "-m", "uvicorn", "--factory", app,
        "--host", LOOPBACK, "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with tempfile.NamedTemporaryFile("w+", prefix="bank-pipeline-bench-api-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    server = UvicornServer(process, port, log.name)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        stop_server(server)
        os.unlink(log.name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def wait_until_healthy(server: UvicornServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchFailed(f"uvicorn exited with code {server.process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"http://{LOOPBACK}:{server.port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise BenchFailed(f"the API did not answer /healthz within {SERVER_START_TIMEOUT:.0f}s:\n{server.log_tail()}")


def stop_server(server: UvicornServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


# -- driving the load, and where the CPU went ---------------------------------------------------------------


def drive_load(plan: LoadPlan, server_pid: int, url: str) -> tuple[LoadResult, CpuUse]:
    """Run the load generator process; returns its result and the CPU each process group used during the measured
    phase."""
    messages = SPAWN.Queue()
    client = SPAWN.Process(target=run_load, args=(plan, messages), name="load generator", daemon=True)
    client.start()
    try:
        expect_message(messages, "ready", (client,), timeout=600)
        expect_message(messages, "measuring", (client,), timeout=plan.warmup_seconds + 60)
        before = CpuSnapshot.take(server_pid, client.pid, url)
        expect_message(messages, "window-ended", (client,), timeout=plan.seconds + 120)
        after = CpuSnapshot.take(server_pid, client.pid, url)
        result: LoadResult = expect_message(messages, "result", (client,), timeout=120)
    finally:
        if client.is_alive():
            client.terminate()
        client.join(timeout=10)
    return result, after.use_since(before).counting(result)


@dataclass(frozen=True)
class CpuUse:
    started_at: float  # time.perf_counter
    seconds: float  # wall clock
    cores: dict[str, float]  # process group -> CPU seconds / wall-clock seconds (NaN: not a local process we may read)
    machine_cores: float  # every process of the machine, other work included
    answered: int = 0  # requests answered meanwhile, whatever their phase

    def per_request_ms(self, group: str) -> float:
        return self.cores[group] * self.seconds / self.answered * 1000 if self.answered else math.nan

    def counting(self, result: LoadResult) -> CpuUse:
        done = result.started_at + result.done
        inside = (done >= self.started_at) & (done <= self.started_at + self.seconds)
        return replace(self, answered=int(np.sum(inside)))


@dataclass
class CpuSnapshot:
    at: float
    groups: dict[str, dict[int, float | None]] = field(default_factory=dict)
    machine_busy: float = 0.0  # jiffies, all CPUs
    machine_total: float = 0.0

    @classmethod
    def take(cls, server_pid: int, client_pid: int, url: str) -> CpuSnapshot:
        groups = {
            SERVER_GROUP: [server_pid, *descendants(server_pid)],
            CLIENT_GROUP: [client_pid],
            DATABASE_GROUP: postgres_pids(url),
        }
        snapshot = cls(time.perf_counter())
        for name, pids in groups.items():
            snapshot.groups[name] = {pid: process_cpu_seconds(pid) for pid in pids}
        snapshot.machine_busy, snapshot.machine_total = machine_jiffies()
        return snapshot

    def use_since(self, before: CpuSnapshot) -> CpuUse:
        """Processes that started meanwhile count from zero; those that ended meanwhile are not counted."""
        elapsed = self.at - before.at
        cores: dict[str, float] = {}
        for name, now in self.groups.items():
            then = before.groups.get(name, {})
            if not now or any(seconds is None for seconds in now.values()):
                cores[name] = math.nan
                continue
            cores[name] = sum(seconds - (then.get(pid) or 0.0) for pid, seconds in now.items()) / elapsed
        total = self.machine_total - before.machine_total
        machine = (self.machine_busy - before.machine_busy) / total * (os.cpu_count() or 1) if total else math.nan
        return CpuUse(before.at, elapsed, cores, machine)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def postgres_pids(url: str) -> list[int]:
    """Every process of the database server (backends and background workers) but this query's own."""
    with connect(url) as conn:
        return [pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")]


def machine_jiffies() -> tuple[float, float]:
    try:
        with open("/proc/stat") as stat:
            fields = [float(value) for value in stat.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


# -- the SQL baseline ---------------------------------------------------------------------------------------


def sql_baseline(url: str, requests: RequestMix, measured_from: int) -> np.ndarray:
    """Seconds per request of the measured phase (NaN for the warm-up): the query function its endpoint calls,
    on one connection, one after another."""
    from bank_pipeline.api.queries import read_account, read_history

    def query(conn: Any, index: int) -> object:
        account, customer = requests.account_ids[index], requests.customer_ids[index]
        if requests.kinds[index] == BALANCE:
            return read_account(conn, account, visible_to=customer)
        return read_history(conn, account, visible_to=customer, limit=HISTORY_PAGE)

    seconds = np.full(len(requests.kinds), np.nan)
    clock = time.perf_counter
    with connect(url) as conn:
        for kind in ENDPOINTS:
            warmup = np.flatnonzero(requests.kinds[:measured_from] == kind)[:SQL_WARMUP_QUERIES]
            for index in warmup.tolist():
                query(conn, index)
        for index in range(measured_from, len(requests.kinds)):
            began = clock()
            query(conn, index)
            seconds[index] = clock() - began
    return seconds


# -- checks and figures -------------------------------------------------------------------------------------


def check_answers(url: str, requests: RequestMix, result: LoadResult) -> Checks:
    """The balances and page sizes the API answered against the database's own figures."""
    asked = sorted({requests.account_ids[index] for index in (*result.balances, *result.history_sizes)})
    with connect(url) as conn:
        truth = {
            account: (balance, entries)
            for account, balance, entries in conn.execute(
                "SELECT account_id, ledger_balance, version - 1 FROM projections.account_balances "
                "WHERE account_id = ANY(%s)",
                (asked,),
            )
        }
    wrong_balances = [
        f"{requests.account_ids[index]}: API {answered}, database {truth.get(requests.account_ids[index])}"
        for index, answered in result.balances.items()
        if truth.get(requests.account_ids[index], (None,))[0] != answered
    ]
    wrong_pages = [
        f"{requests.account_ids[index]}: {size} entries on the page, expected {expected}"
        for index, size in result.history_sizes.items()
        if size != (expected := min(HISTORY_PAGE, truth.get(requests.account_ids[index], (0, 0))[1]))
    ]
    return Checks(len(result.balances), wrong_balances, len(result.history_sizes), wrong_pages)


def endpoint_figures(
    kind: int, kinds: np.ndarray, result: LoadResult, measured: slice, sql_seconds: np.ndarray
) -> EndpointFigures:
    mine = kinds[measured] == kind
    status = result.status[measured][mine]
    due, sent, done = result.due[measured][mine], result.sent[measured][mine], result.done[measured][mine]
    ok = status == 200
    return EndpointFigures(
        kind=kind,
        sent=int(mine.sum()),
        answered=int(np.sum(status > 0)),
        ok=int(ok.sum()),
        rate_held=answers_while_measuring(kind, kinds, result, measured),
        latency=LatencySummary.of((done - due)[ok].tolist()),
        service=LatencySummary.of((done - sent)[ok].tolist()),
        sql=LatencySummary.of(sql_seconds[measured][mine].tolist()),
    )


def answers_while_measuring(kind: int, kinds: np.ndarray, result: LoadResult, measured: slice) -> float:
    """What the server delivered of this endpoint during the measured phase: below the schedule's rate when it
    cannot keep up (it is then still answering the warm-up's backlog)."""
    first, last = result.due[measured][[0, -1]]
    inside = (kinds == kind) & (result.status == 200) & (result.done >= first) & (result.done <= last)
    return float(inside.sum() / (last - first)) if last > first else math.nan


# -- output -------------------------------------------------------------------------------------------------


def render(report: ApiReport, console: Console) -> None:
    options, dataset = report.options, report.dataset
    plan = dataset.plan
    origin = "kept from an earlier run, " if dataset.reused else ""
    console.print(
        f"data: {plan.accounts:,} accounts, {plan.customers:,} customers, {plan.entries:,} entries in the read model "
        f"({origin}loaded by COPY in {dataset.load_seconds:,.0f}s, of it {dataset.index_seconds:,.0f}s keys, "
        f"indexes and VACUUM ANALYZE); database {dataset.database_bytes / 1e9:,.2f} GB "
        f"(account_entries {dataset.table_bytes.get('account_entries', 0) / 1e9:,.2f} GB with its indexes)"
    )
    console.print(f"[dim]{report.server}; {report.load_before} before, {report.load_after} after[/]")
    table = Table(
        title=f"bench api: {options.rate:,} requests/s for {options.seconds}s (after {options.warmup_seconds}s "
        f"warm-up), {options.workers} uvicorn worker(s), {options.client} client, {report.distinct_accounts:,} "
        "random accounts"
    )
    table.add_column("")
    for figures in report.endpoints:
        table.add_column(f"GET …/{figures.name}" + ("?limit=50" if figures.kind == HISTORY else ""), justify="right")
    rows: list[tuple[str, Any]] = [
        ("requests sent / answered / 200", lambda f: f"{f.sent:,} / {f.answered:,} / {f.ok:,}"),
        ("rate held: 200s a second / asked", lambda f: f"{f.rate_held:,.0f}/s / {f.sent / options.seconds:,.0f}/s"),
        ("HTTP latency from schedule p50", lambda f: milliseconds(f.latency.p50)),
        ("HTTP latency from schedule p99", lambda f: milliseconds(f.latency.p99)),
        ("HTTP latency from schedule max", lambda f: milliseconds(f.latency.max)),
        ("HTTP service time p50 / p99", lambda f: f"{milliseconds(f.service.p50)} / {milliseconds(f.service.p99)}"),
        ("baseline: raw SQL p50 (one connection)", lambda f: milliseconds(f.sql.p50)),
        ("baseline: raw SQL p99", lambda f: milliseconds(f.sql.p99)),
        ("HTTP p99 / SQL p99", lambda f: f"{f.latency.p99 / f.sql.p99:,.1f}×"),
        ("goal: p99 ≤", lambda f: verdict(f)),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(figures) for figures in report.endpoints))
    console.print(table)
    for figures in report.endpoints:
        console.print(f"{figures.name} p99 {milliseconds(figures.latency.p99)}: {verdict(figures)}")
    console.print(
        f"load generator: lateness against its schedule p50 {milliseconds(report.lateness.p50)}, p99 "
        f"{milliseconds(report.lateness.p99)}, {report.late_share:.1%} sent > {milliseconds(LATE)} late (its timers "
        "tick in 1 ms steps; a request also waits here for a free connection)"
    )
    render_cpu(report, console)
    render_checks(report, console)


def render_cpu(report: ApiReport, console: Console) -> None:
    cpu = report.cpu
    cores = ", ".join(f"{name} {_figure(share, '.2f')}" for name, share in cpu.cores.items())
    console.print(
        f"CPU during the measured phase, in cores of {os.cpu_count()}: {cores}; the machine as a whole "
        f"{_figure(cpu.machine_cores, '.2f')} (other work included)"
    )
    per_request = ", ".join(f"{name} {_figure(cpu.per_request_ms(name), '.2f')} ms" for name in cpu.cores)
    server_ms = cpu.per_request_ms(SERVER_GROUP)
    ceiling = report.options.workers * 1000 / server_ms if server_ms > 0 else math.nan
    console.print(
        f"CPU per request answered meanwhile ({cpu.answered:,}): {per_request}; at that cost "
        f"{report.options.workers} uvicorn worker(s), a core each, top out near {_figure(ceiling, ',.0f')} requests/s"
    )


def _figure(value: float, spec: str) -> str:
    return "n/a" if math.isnan(value) else format(value, spec)


def verdict(figures: EndpointFigures) -> str:
    goal = milliseconds(figures.goal).replace(".00", "")
    if figures.ok != figures.sent:
        return f"[bold red]MISSED[/] (≤ {goal}; {figures.sent - figures.ok:,} requests not answered 200)"
    if figures.met:
        return f"[bold green]met[/] (≤ {goal})"
    return f"[bold red]MISSED[/] (≤ {goal})"


def render_checks(report: ApiReport, console: Console) -> None:
    checks = report.checks
    if report.failures:
        console.print(f"[bold red]requests without an HTTP answer:[/] {report.failures}")
    if report.sample_error:
        console.print(f"[bold red]first non-200 answer:[/] {report.sample_error}")
    for what, count, wrong in (
        ("balances", checks.balances, checks.wrong_balances),
        ("history pages", checks.pages, checks.wrong_pages),
    ):
        if wrong:
            console.print(f"[bold red]{len(wrong):,} of {count:,} {what} differ from the database[/], e.g. {wrong[0]}")
        else:
            console.print(f"all {count:,} {what} answered agree with the database")
