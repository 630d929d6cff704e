"""The projection worker (`bank-pipeline worker`): keeps the read model current, one process, until stopped.

- On start it catches up from the stored checkpoint, then sleeps until an append's NOTIFY on
  `event_store_appended` or the poll interval (NOTIFY is not durable: a missed one costs at most a poll).
- Every wake-up projects batches until nothing final is left. Committed events can be left that are not
  final yet: an older transaction is still open, in any database of the cluster, and it may end without a
  notification. Then the worker looks again soon (20 ms, doubling up to 0.25 s) rather than a poll later.
- Each batch and its checkpoint commit together (projector.py), so a worker killed at any moment resumes
  from its checkpoint with nothing lost or projected twice.
- SIGTERM / SIGINT: the current batch is finished, then `run` returns.
- A lost or unreachable database is retried with backoff, and said so in the log; everything else raises.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from bank_pipeline.projections.projector import (
    DEFAULT_BATCH_SIZE,
    CheckpointMoved,
    ProjectedBatch,
    project_next_batch,
    read_checkpoint,
)
from bank_pipeline.store.records import Checkpoint

log = logging.getLogger(__name__)

APPENDED_CHANNEL = "event_store_appended"
APPLICATION_NAME = "bank-pipeline-worker"
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_REPORT_EVERY = 10.0
STOP_CHECK = 0.2  # longest a wait goes without looking at the stop event
FIRST_RECHECK, LAST_RECHECK = 0.02, 0.25  # while committed events are not final yet
FIRST_RETRY, LAST_RETRY = 1.0, 30.0  # backoff while the database is unreachable


class ProjectionWorker:
    """`run(stop)` projects until `stop` is set. `on_batch(batch, began_at, committed_at)` sees every committed
    batch with the wall-clock times its transaction began and committed."""

    channel = APPENDED_CHANNEL

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        report_every: float = DEFAULT_REPORT_EVERY,
        on_batch: Callable[[ProjectedBatch, datetime, datetime], None] | None = None,
    ):
        self.url = url
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.on_batch = on_batch
        self.progress = ProgressLog(report_every)
        self.wake_ups = {"notify": 0, "poll": 0}

    def run(self, stop: threading.Event) -> None:
        retry_in = FIRST_RETRY
        while not stop.is_set():
            try:
                with self._connect() as listener, self._connect() as conn:
                    retry_in = FIRST_RETRY
                    self._serve(listener, conn, stop)
            except psycopg.OperationalError as error:
                log.error(
                    "database error: %s. Retrying in %.0f s. If this repeats, check that PostgreSQL is up and "
                    "BANK_PIPELINE_DATABASE_URL points at it; the worker resumes from its checkpoint, nothing is "
                    "lost or projected twice.",
                    " ".join(str(error).split()), retry_in,
                )  # fmt: skip
                stop.wait(retry_in)
                retry_in = min(2 * retry_in, LAST_RETRY)

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, application_name=APPLICATION_NAME, connect_timeout=10)

    def _serve(self, listener: psycopg.Connection, conn: psycopg.Connection, stop: threading.Event) -> None:
        listener.execute(f"LISTEN {self.channel}")  # before catching up, so no append goes unnoticed
        _require_read_model(conn)
        log.info("resuming from checkpoint %s (batches of %d, poll every %.1f s)",
                 _show(read_checkpoint(conn)), self.batch_size, self.poll_interval)  # fmt: skip
        recheck = FIRST_RECHECK
        while not stop.is_set():
            self._project_until_caught_up(conn, stop)
            if _events_not_final_yet(conn):  # an older transaction ends without notifying: look again soon
                wait, recheck = recheck, min(2 * recheck, LAST_RECHECK, self.poll_interval)
            else:
                wait, recheck = self.poll_interval, FIRST_RECHECK
            self._wait_for_wake_up(listener, wait, stop)
        log.info("stopped at checkpoint %s, having projected %s events in %s batches",
                 _show(read_checkpoint(conn)), f"{self.progress.events:,}", f"{self.progress.batches:,}")  # fmt: skip

    def _project_until_caught_up(self, conn: psycopg.Connection, stop: threading.Event) -> None:
        """Project batches until no final event is left (or `stop` is set)."""
        while not stop.is_set():
            began_at = datetime.now(UTC)
            try:
                batch = project_next_batch(conn, limit=self.batch_size)
            except CheckpointMoved as moved:  # a rebuild swapped the read model in: project again
                log.info("%s; projecting again", moved)
                continue
            if batch is None:
                return
            committed_at = datetime.now(UTC)
            self.progress.record(batch, began_at, committed_at)
            if self.on_batch is not None:
                self.on_batch(batch, began_at, committed_at)

    def _wait_for_wake_up(self, listener: psycopg.Connection, timeout: float, stop: threading.Event) -> None:
        """Sleep until an append is notified, `timeout` passes, or `stop` is set."""
        deadline = time.monotonic() + timeout
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if list(listener.notifies(timeout=min(remaining, STOP_CHECK), stop_after=1)):
                list(listener.notifies(timeout=0))  # the others already queued: one wake-up for all
                self.wake_ups["notify"] += 1
                return
        self.wake_ups["poll"] += 1


class ProgressLog:
    """Counts what was projected and logs it at most every `report_every` seconds."""

    def __init__(self, report_every: float):
        self.report_every = report_every
        self.checkpoint: Checkpoint | None = None  # after the newest batch this worker committed
        self.events = self.batches = 0  # in all
        self._since = time.monotonic()
        self._events = self._batches = 0  # since the last report
        self._worst_lag = self._longest_batch = timedelta(0)

    def record(self, batch: ProjectedBatch, began_at: datetime, committed_at: datetime) -> None:
        self.checkpoint = batch.upto
        self.events += batch.events
        self.batches += 1
        self._events += batch.events
        self._batches += 1
        self._worst_lag = max(self._worst_lag, committed_at - min(batch.recorded_at))
        self._longest_batch = max(self._longest_batch, committed_at - began_at)
        if time.monotonic() - self._since >= self.report_every:
            self.report()

    def report(self) -> None:
        seconds = time.monotonic() - self._since
        log.info(
            "projected %s events in %s batches over %.1f s (%s/s); checkpoint %s; worst lag %.0f ms "
            "(commit of a batch minus recorded_at of its oldest event); longest batch %.0f ms",
            f"{self._events:,}", f"{self._batches:,}", seconds, f"{self._events / seconds:,.0f}",
            _show(self.checkpoint), self._worst_lag.total_seconds() * 1000, self._longest_batch.total_seconds() * 1000,
        )  # fmt: skip
        self._since = time.monotonic()
        self._events = self._batches = 0
        self._worst_lag = self._longest_batch = timedelta(0)


def run_until_signalled(worker: ProjectionWorker) -> None:
    """Run `worker` in this (main) thread until SIGTERM or SIGINT, which let the current batch finish."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s received: stopping after the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.run(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _require_read_model(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT to_regclass('projections.checkpoints')").fetchone()[0] is None:
        from bank_pipeline.runtime import SchemaNotMigrated

        raise SchemaNotMigrated("the database has no read model yet: run `bank-pipeline db migrate` first")


def _events_not_final_yet(conn: psycopg.Connection) -> bool:
    """Whether committed events lie beyond the checkpoint that a transaction still open holds back (any
    transaction of the cluster: the read horizon is the oldest one running)."""
    checkpoint = read_checkpoint(conn)
    return conn.execute(
        "SELECT EXISTS (SELECT FROM event_store.events WHERE (transaction_id, global_position) > (%s, %s))",
        checkpoint,
    ).fetchone()[0]


def _show(checkpoint: Checkpoint | None) -> str:
    return "none" if checkpoint is None else f"{checkpoint.transaction_id}:{checkpoint.global_position}"
