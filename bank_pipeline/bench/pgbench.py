"""pgbench's built-in TPC-B-like script as a baseline: the same server, client count and duration.

TPC-B per transaction: UPDATE an account, SELECT its balance, UPDATE a teller, UPDATE a branch, INSERT a
history row, in one transaction. Every transaction updates one of `scale` branch rows, so with fewer
branches than clients they queue on the branch row locks; we use scale >= clients.
"""

from __future__ import annotations

import re
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from bank_pipeline.bench.common import local_backend_pid, process_cpu_seconds
from bank_pipeline.db import embedded
from bank_pipeline.db.connection import connect

_TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE)
_STDDEV = re.compile(r"^latency stddev = ([\d.]+) ms", re.MULTILINE)
_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)
_PROGRESS = re.compile(r"^progress: ([\d.]+) s, ([\d.]+) tps")


class PgbenchFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class PgbenchResult:
    scale: int
    clients: int
    seconds: int
    tps: float
    transactions: int
    failed: int
    latency_average_ms: float
    latency_stddev_ms: float | None
    init_seconds: float
    command: str
    client_cpu_per_transaction: float | None  # pgbench's own CPU seconds per transaction
    server_cpu_per_transaction: float | None  # its server processes' CPU seconds per transaction (local only)


def scale_for(clients: int) -> int:
    """At least one branch per client (branch rows are the hot spot of TPC-B), and at least 10."""
    return max(10, clients)


def pgbench_binary() -> str:
    return str(embedded.binary("pgbench"))


def initialise(url: str, scale: int) -> float:
    """`pgbench -i -s scale` (data generated server-side); returns the seconds it took."""
    started = time.perf_counter()
    completed = subprocess.run(
        [pgbench_binary(), "-i", "-s", str(scale), "-I", "dtGvp", "-q", url],
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise PgbenchFailed(f"pgbench -i failed ({completed.returncode}): {completed.stderr.strip()}")
    return time.perf_counter() - started


def run(
    url: str,
    *,
    clients: int,
    seconds: int,
    scale: int,
    init_seconds: float = 0.0,
    on_progress: Callable[[float, float], None] = lambda elapsed, tps: None,
) -> PgbenchResult:
    """`pgbench -c N -j N -T seconds -M prepared` on an initialised database; on_progress(elapsed, tps)
    is called every second."""
    arguments = [
        pgbench_binary(),
        "-c",
        str(clients),
        "-j",
        str(clients),
        "-T",
        str(seconds),
        "-M",
        "prepared",
        "-P",
        "1",
        url,
    ]
    server_cpu = _ServerCpu(url, seconds)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None and process.stdout is not None
    errors = []
    for line in process.stderr:  # progress lines arrive on stderr, one per second
        match = _PROGRESS.match(line)
        if match:
            at, tps = float(match.group(1)), float(match.group(2))
            server_cpu.sample(at, tps)
            on_progress(at, tps)
        elif line.strip() and not line.startswith("pgbench (") and "vacuum" not in line:
            errors.append(line.strip())
    output = process.stdout.read()
    returncode = process.wait()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu.close()
    if returncode != 0:
        raise PgbenchFailed(f"pgbench failed ({process.returncode}): {' | '.join(errors) or output.strip()}")
    tps = _TPS.search(output)
    if tps is None:
        raise PgbenchFailed(f"could not find tps in pgbench output:\n{output}")
    stddev = _STDDEV.search(output)
    failed = _FAILED.search(output)
    shown = " ".join(arguments[:-1]).replace(pgbench_binary(), "pgbench")
    transactions = int(_PROCESSED.search(output).group(1))
    client_cpu = children_after.ru_utime + children_after.ru_stime - children_before.ru_utime - children_before.ru_stime
    return PgbenchResult(
        scale=scale,
        clients=clients,
        seconds=seconds,
        tps=float(tps.group(1)),
        transactions=transactions,
        failed=int(failed.group(1)) if failed else 0,
        latency_average_ms=float(_LATENCY.search(output).group(1)),
        latency_stddev_ms=float(stddev.group(1)) if stddev else None,
        init_seconds=init_seconds,
        command=shown,
        client_cpu_per_transaction=client_cpu / transactions if transactions else None,
        server_cpu_per_transaction=server_cpu.per_transaction(),
    )


class _ServerCpu:
    """CPU time of pgbench's server processes, read from /proc between the first and the last progress line
    (whole seconds of steady state), divided by the transactions pgbench reported in between."""

    def __init__(self, url: str, seconds: int):
        self.seconds = seconds
        self.conn = None
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.transactions = 0.0
        try:
            self.conn = connect(url)
            if local_backend_pid(self.conn) is None:
                self.close()
        except Exception:  # noqa: BLE001 - only a diagnostic
            self.close()

    def sample(self, at: float, tps: float) -> None:
        if self.conn is None or at >= self.seconds:
            return
        initial = not self.first
        if not initial:
            self.transactions += tps  # the progress line covers the second that just ended
        pids = [
            pid
            for (pid,) in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgbench'"
            ).fetchall()
        ]
        for pid in pids:
            cpu = process_cpu_seconds(pid)
            if cpu is None:
                continue
            if initial or pid in self.first:
                self.first.setdefault(pid, cpu)
                self.last[pid] = cpu

    def per_transaction(self) -> float | None:
        if not self.first or self.transactions <= 0:
            return None
        return sum(self.last[pid] - self.first[pid] for pid in self.first) / self.transactions

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
