"""Running the projection worker in tests: in a thread of the test process, or as a process of its own."""

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bank_pipeline.projections.projector import Projector
from bank_pipeline.projections.worker import ProjectionWorker
from bank_pipeline.store import EventStore
from bank_pipeline.store.records import Checkpoint


@contextmanager
def worker_thread(worker: ProjectionWorker) -> Iterator[ProjectionWorker]:
    """`worker` running in a thread until the block ends; what it raised is raised there."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(stop)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            failures.append(error)

    thread = threading.Thread(target=run, name="projection-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the worker did not stop within 10 s of being asked"
    if failures:
        raise failures[0]


@contextmanager
def worker_process(url: str, log: Path, *, batch_size: int, poll_interval: float = 1.0) -> Iterator[subprocess.Popen]:
    """`worker_process` in a new interpreter: stdout says what it projected, stderr (its log) goes to `log`.
    Killed at the end of the block if it still runs."""
    with log.open("a") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bank_pipeline_tests.projections.worker_process", url, str(batch_size),
             str(poll_interval)],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()


def checkpoint_row(store: EventStore) -> tuple[Checkpoint, int]:
    """The read model's checkpoint and how many events it has projected in all."""
    with store.pool.connection() as conn:
        transaction_id, position, events = conn.execute(
            "SELECT transaction_id, global_position, events_projected FROM projections.checkpoints "
            "WHERE projection = 'read_model'"
        ).fetchone()
    return Checkpoint(transaction_id, position), events


def project_through(store: EventStore, checkpoint: Checkpoint, timeout: float = 30) -> None:
    """Catch up until the read model has `checkpoint`: events may wait for transactions elsewhere on the
    server (the read horizon is server-wide) before they are final."""
    projector = Projector(store.pool)
    deadline = time.monotonic() + timeout
    while projector.checkpoint() < checkpoint:
        assert time.monotonic() < deadline, f"{checkpoint} was not final within {timeout} s"
        projector.catch_up()
        time.sleep(0.01)


def wait_until_final(store: EventStore, checkpoint: Checkpoint, timeout: float = 30) -> None:
    """Until the transaction of `checkpoint` is below the read horizon: until then no projector may read it."""
    deadline = time.monotonic() + timeout
    with store.pool.connection() as conn:
        while not conn.execute("SELECT event_store.read_horizon() > %s", (checkpoint.transaction_id,)).fetchone()[0]:
            assert time.monotonic() < deadline, f"{checkpoint} was not final within {timeout} s"
            time.sleep(0.005)
