"""Why the store orders readers by transaction id instead of serialising writers (docs/design.md §3).

Both modes append the same small two-stream batches through EventStore.append from N processes:
- ours: per-stream locks only; readers follow (transaction_id, global_position) below the read horizon;
- global lock: the alternative that makes position order equal commit order (Message DB,
  pyeventsourcing): one lock taken before positions are handed out and held until commit.
"""

from __future__ import annotations

import random
import time
from array import array
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bank_pipeline.bench.common import (
    LatencySummary,
    Workers,
    bench_database,
    checkpoint,
    machine_load,
    rate,
    signal_ready,
    worker_failure,
)
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.store import EventStore, NewEvent

MODES = ("ours", "global_lock")
GLOBAL_LOCK_KEY = 0x6F72646572  # any constant: every writer takes the same one


@dataclass(frozen=True)
class ModeResult:
    mode: str
    appends: int
    seconds: float
    latency: LatencySummary

    @property
    def per_second(self) -> float:
        return self.appends / self.seconds


def ordering_client(index, url, mode, seconds, streams, *, ready, go, start_at, prepared, progress, results):
    try:
        rng = random.Random(index)
        with make_pool(url, min_size=1, max_size=1) as pool:
            store = EventStore(pool)
            signal_ready(ready)
            go.wait()
            deadline, latencies, done = start_at.value + seconds, array("d"), 0
            while time.perf_counter() < deadline:
                a, b = rng.sample(range(streams), 2)
                events = [
                    NewEvent(f"account-o{a}", "AccountDebited", {"amount": 5, "reference": "ordering bench"}),
                    NewEvent(f"account-o{b}", "AccountCredited", {"amount": 5, "reference": "ordering bench"}),
                ]
                began = time.perf_counter()
                with pool.connection() as conn, conn.transaction():
                    if mode == "global_lock":
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (GLOBAL_LOCK_KEY,))
                    store.append(events, conn=conn)
                latencies.append(time.perf_counter() - began)
                done += 1
                progress[index] = done
            results.put((index, (done, latencies.tobytes())))
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        results.put((index, worker_failure(index, error)))


def run(*, clients: int, seconds: int, streams: int, keep: bool, console: Console) -> list[ModeResult]:
    console.print(f"machine: {machine_load()}")
    outcomes = []
    with bench_database(keep=keep) as db:
        for mode in MODES:
            checkpoint(db.url)
            with console.status(f"{mode}: {clients} clients × {seconds}s"):
                with Workers(
                    clients, ordering_client, lambda i, mode=mode: (db.url, mode, seconds, streams)
                ) as workers:
                    workers.wait_ready()
                    started = workers.start()
                    collected = workers.collect()
                    elapsed = time.perf_counter() - started
            latencies = array("d")
            for _, raw in collected:
                latencies.frombytes(raw)
            outcomes.append(ModeResult(mode, sum(done for done, _ in collected), elapsed, LatencySummary.of(latencies)))
    return outcomes


def render(outcomes: list[ModeResult], clients: int, console: Console) -> None:
    table = Table(
        "two-event appends",
        "appends / s",
        "events / s",
        "latency p50 / p99 / max",
        title=f"bench ordering: {clients} clients, same server, same run",
    )
    labels = {
        "ours": "ours: per-stream locks, readers below the horizon",
        "global_lock": "alternative: one lock held until commit",
    }
    for outcome in outcomes:
        table.add_row(
            labels[outcome.mode], rate(outcome.per_second), rate(2 * outcome.per_second), outcome.latency.describe()
        )
    console.print(table)
    ours, locked = outcomes
    console.print(f"ours / global lock: [bold]{ours.per_second / locked.per_second:.2f}×[/]")
