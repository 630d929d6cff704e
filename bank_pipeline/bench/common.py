"""Pieces shared by the benchmarks: a fresh database per run, percentiles, process start-up, output."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url

from bank_pipeline.db.connection import connect, database_url
from bank_pipeline.db.databases import create_database, drop_database
from bank_pipeline.db.migrations import migrate
from bank_pipeline.store.records import Checkpoint

#: Every benchmark runs in this database on the configured server, re-created for each run.
BENCH_DATABASE = "bank_pipeline_bench"

#: Worker processes are spawned, never forked: a fresh interpreter each, no shared pool or GIL.
SPAWN = multiprocessing.get_context("spawn")


class BenchFailed(RuntimeError):
    """A worker process failed; the message carries its error."""


# -- databases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchDatabase:
    server_url: str  # the configured server (database_url())
    url: str  # the fresh, migrated bench database on it
    name: str


@contextmanager
def bench_database(
    name: str = BENCH_DATABASE, *, keep: bool = False, server_url: str | None = None
) -> Iterator[BenchDatabase]:
    """A freshly created and migrated database `name` on the configured server; dropped afterwards
    unless `keep`."""
    server_url = server_url or database_url()
    url = create_database(server_url, name, replace=True)
    with connect(url) as conn:
        migrate(conn)
    try:
        yield BenchDatabase(server_url, url, name)
    finally:
        if not keep:
            drop_database(server_url, name)


@contextmanager
def scratch_database(server_url: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """An empty database `name` (no migrations) for baselines such as pgbench; dropped unless `keep`."""
    url = create_database(server_url, name, replace=True)
    try:
        yield url
    finally:
        if not keep:
            drop_database(server_url, name)


def checkpoint(url: str) -> bool:
    """Before a measured phase: ANALYZE (the statistics autovacuum keeps in a running system, as
    `pgbench -i` does for its own tables), then flush dirty buffers so one phase does not pay for the
    other's writes. CHECKPOINT needs superuser or pg_checkpoint; returns False (and measures anyway)
    when not allowed."""
    with connect(url) as conn:
        conn.execute("ANALYZE")
    try:
        with connect(url) as conn:
            conn.execute("CHECKPOINT")
        return True
    except Exception:  # noqa: BLE001 - a missing privilege must not stop the benchmark
        return False


def server_description(url: str) -> str:
    """PostgreSQL version, the server's address (password hidden) and its durability settings."""
    with connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')"
            ).fetchall()
        )
    where = make_url(url).set(database=None).render_as_string(hide_password=True)
    return (
        f"PostgreSQL {version} at {where} (fsync={settings.get('fsync')}, "
        f"synchronous_commit={settings.get('synchronous_commit')})"
    )


# -- where the CPU goes ------------------------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def local_backend_pid(conn: Any) -> int | None:
    """The pid of this connection's server process when the server runs on this machine (its CPU time
    can then be read from /proc); None otherwise."""
    pid = conn.info.backend_pid
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if b"postgres" not in cmdline.read():
                return None
    except OSError:
        return None
    local = conn.execute(
        "SELECT inet_server_addr() IS NULL OR inet_server_addr() <<= '127.0.0.0/8'::inet "
        "OR inet_server_addr() = '::1'::inet"
    ).fetchone()[0]
    return pid if local else None


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds a local process has used; None when unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_load() -> str:
    """The 1-minute load average against the CPU count: other work on the machine skews every figure, and
    the baseline (measured before or after ours) may see a different share of it."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "load average unknown"
    cpus = os.cpu_count() or 1
    note = "" if load < 0.5 * cpus else " [yellow](other work is running: expect noisy figures)[/]"
    return f"load average {load:.2f} on {cpus} CPUs{note}"


def microseconds(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds * 1e6:,.0f} µs"


# -- statistics ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float, *, presorted: bool = False) -> float:
    """The q-th percentile (0..100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = values if presorted else sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencySummary:
        ordered = sorted(seconds)
        if not ordered:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(ordered),
            percentile(ordered, 50, presorted=True),
            percentile(ordered, 99, presorted=True),
            ordered[-1],
            sum(ordered) / len(ordered),
        )

    def describe(self) -> str:
        return (
            f"p50 {milliseconds(self.p50)}, p99 {milliseconds(self.p99)}, max {milliseconds(self.max)}"
            f" (mean {milliseconds(self.mean)}, n={self.count:,})"
        )


def milliseconds(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.2f} ms"


def rate(value: float) -> str:
    return f"{value:,.0f}"


def verdict(ratio: float, goal: float) -> str:
    """Rich markup saying whether `ratio` meets `goal`."""
    if ratio >= goal:
        return f"[bold green]{ratio:.2f}[/] (goal ≥ {goal}: met)"
    return f"[bold red]{ratio:.2f}[/] (goal ≥ {goal}: MISSED)"


# -- worker processes ------------------------------------------------------------------------------


class Workers:
    """Spawned worker processes that get ready, start together and report one result each.

    Each worker is called as target(index, *args(index), ready=..., go=..., start_at=..., prepared=...,
    progress=..., results=...). It prepares (connects, builds its data; counting in prepared[index]),
    calls `signal_ready(ready)`, waits for `go`
    (an Event; the shared start time, a time.perf_counter() value, is then in start_at.value), works
    while setting progress[index], and finally puts (index, result) on `results`, or
    (index, BenchFailed) when it fails.
    """

    def __init__(self, count: int, target: Callable[..., None], args: Callable[[int], tuple[Any, ...]]):
        self.count = count
        self.ready = SPAWN.Value("i", 0)
        self.go = SPAWN.Event()
        self.start_at = SPAWN.Value("d", 0.0, lock=False)
        self.prepared = SPAWN.Array("q", count, lock=False)
        self.progress = SPAWN.Array("q", count, lock=False)
        self.results: Any = SPAWN.Queue()
        self._received: dict[int, Any] = {}
        self.processes = [
            SPAWN.Process(
                target=target,
                args=(index, *args(index)),
                kwargs=dict(
                    ready=self.ready,
                    go=self.go,
                    start_at=self.start_at,
                    prepared=self.prepared,
                    progress=self.progress,
                    results=self.results,
                ),
                name=f"bench-worker-{index}",
                daemon=True,
            )
            for index in range(count)
        ]

    def __enter__(self) -> Workers:
        for process in self.processes:
            process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        stop_processes(self.processes)

    def wait_ready(self, on_tick: Callable[[], None] = lambda: None, timeout: float = 1800) -> None:
        """Wait until every worker is prepared, calling on_tick meanwhile."""
        deadline = time.monotonic() + timeout
        while self.ready.value < self.count:
            self._poll(0.2)
            on_tick()
            if time.monotonic() > deadline:
                raise BenchFailed(f"workers were not ready after {timeout:.0f}s")

    def start(self) -> float:
        """Release every worker at once; returns the shared start time (time.perf_counter)."""
        self.start_at.value = time.perf_counter()
        self.go.set()
        return self.start_at.value

    def prepared_count(self) -> int:
        return sum(self.prepared)

    def done_count(self) -> int:
        return sum(self.progress)

    def collect(self, on_tick: Callable[[], None] = lambda: None, timeout: float = 7200) -> list[Any]:
        """Every worker's result, in worker order."""
        deadline = time.monotonic() + timeout
        while len(self._received) < self.count:
            self._poll(0.2)
            on_tick()
            if time.monotonic() > deadline:
                raise BenchFailed(f"workers did not finish within {timeout:.0f}s")
        return [self._received[index] for index in range(self.count)]

    def _poll(self, wait: float) -> None:
        try:
            index, result = self.results.get(timeout=wait)
        except queue.Empty:
            # A worker that died without reporting (killed, out of memory) would otherwise hang us.
            for index, process in enumerate(self.processes):
                if process.exitcode not in (None, 0) and index not in self._received:
                    raise BenchFailed(f"worker {index} exited with code {process.exitcode}") from None
            return
        if isinstance(result, BenchFailed):
            raise result
        self._received[index] = result


def signal_ready(ready: Any) -> None:
    with ready.get_lock():
        ready.value += 1


def worker_failure(index: int, error: BaseException) -> BenchFailed:
    return BenchFailed(f"worker {index}: {type(error).__name__}: {error}")


def open_funded_accounts(bus: Any, run_id: str, accounts: list[str], owner_name: str, funds: int) -> Checkpoint:
    """Through a CommandBus: register a verified owner per account, open it in EUR and credit it `funds`, which
    also warms the bus's cache; returns the checkpoint of the last credit."""
    from bank_pipeline.domain import commands as c

    keys = itertools.count()

    def all_of(commands: list) -> list:
        futures = [bus.submit(command, idempotency_key=f"{run_id}-setup-{next(keys)}") for command in commands]
        return [future.result() for future in futures]

    owners = [f"{account}-owner" for account in accounts]
    all_of([c.RegisterCustomer(o, owner_name, f"{o}@example.org", "1 Bench St") for o in owners])
    all_of([c.ChangeKycStatus(o, "verified") for o in owners])
    all_of([c.OpenAccount(a, o, "EUR") for a, o in zip(accounts, owners, strict=True)])
    funded = all_of([c.CreditAccount(a, funds, "EUR", f"{a}-funds", "Bench") for a in accounts])
    return max(result.checkpoint for result in funded)


def stop_processes(processes) -> None:
    """SIGTERM every bench process still running (each finishes what it was doing), then wait for them all."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
