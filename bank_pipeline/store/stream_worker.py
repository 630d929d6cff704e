"""A long-lived follower of the event stream, the loop the projection worker and the fraud detector share.

- On start it catches up from its stored checkpoint, then sleeps until an append's NOTIFY on
  `event_store_appended` or the poll interval (NOTIFY is not durable: a missed one costs at most a poll).
- Every wake-up handles batches until nothing final is left. Committed events can be left that are not final
  yet: an older transaction is still open, in any database of the cluster, and it may end without a
  notification. Then the worker looks again soon (20 ms, doubling up to 0.25 s) rather than a poll later.
- Each batch and its checkpoint commit together (the subclass's job), so a worker killed at any moment resumes
  from its checkpoint with nothing lost or handled twice.
- `run(stop)` returns once `stop` is set, after the current batch; `run_until_signalled` sets it on SIGTERM/SIGINT.
- A lost or unreachable database is retried with backoff, and said so in the log; everything else raises.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from abc import ABC, abstractmethod

import psycopg

from bank_pipeline.store.records import Checkpoint

log = logging.getLogger(__name__)

APPENDED_CHANNEL = "event_store_appended"
STOP_CHECK = 0.2  # longest a wait goes without looking at the stop event
FIRST_RECHECK, LAST_RECHECK = 0.02, 0.25  # while committed events are not final yet
FIRST_RETRY, LAST_RETRY = 1.0, 30.0  # backoff while the database is unreachable


class StreamWorker(ABC):
    """Subclasses say what a batch is: `prepare`, `checkpoint`, `catch_up` and `finish`."""

    channel = APPENDED_CHANNEL
    application_name = "bank-pipeline-worker"

    def __init__(self, url: str, *, poll_interval: float):
        self.url = url
        self.poll_interval = poll_interval
        self.wake_ups = {"notify": 0, "poll": 0}

    # -- what a subclass provides -----------------------------------------------------------------------------

    @abstractmethod
    def prepare(self, conn: psycopg.Connection) -> None:
        """Check the schema and set up, on each (re)connection."""

    @abstractmethod
    def checkpoint(self, conn: psycopg.Connection) -> Checkpoint:
        """Where this worker's stored checkpoint stands."""

    @abstractmethod
    def catch_up(self, conn: psycopg.Connection, stop: threading.Event) -> None:
        """Handle batches until no final event is left beyond the checkpoint (or `stop` is set)."""

    @abstractmethod
    def finish(self, conn: psycopg.Connection) -> None:
        """Called once `stop` is set, on the same connection."""

    # -- the loop -------------------------------------------------------------------------------------------

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
                    "lost or handled twice.",
                    " ".join(str(error).split()), retry_in,
                )  # fmt: skip
                stop.wait(retry_in)
                retry_in = min(2 * retry_in, LAST_RETRY)

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, application_name=self.application_name, connect_timeout=10)

    def _serve(self, listener: psycopg.Connection, conn: psycopg.Connection, stop: threading.Event) -> None:
        listener.execute(f"LISTEN {self.channel}")  # before catching up, so no append goes unnoticed
        self.prepare(conn)
        log.info("%s resuming from checkpoint %s (poll every %.1f s)",
                 self.application_name, show(self.checkpoint(conn)), self.poll_interval)  # fmt: skip
        recheck = FIRST_RECHECK
        while not stop.is_set():
            self.catch_up(conn, stop)
            if self._events_not_final_yet(conn):  # an older transaction ends without notifying: look again soon
                wait, recheck = recheck, min(2 * recheck, LAST_RECHECK, self.poll_interval)
            else:
                wait, recheck = self.poll_interval, FIRST_RECHECK
            self._wait_for_wake_up(listener, wait, stop)
        self.finish(conn)

    def _wait_for_wake_up(self, listener: psycopg.Connection, timeout: float, stop: threading.Event) -> None:
        """Sleep until an append is notified, `timeout` passes, or `stop` is set."""
        deadline = time.monotonic() + timeout
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if list(listener.notifies(timeout=min(remaining, STOP_CHECK), stop_after=1)):
                list(listener.notifies(timeout=0))  # the others already queued: one wake-up for all
                self.wake_ups["notify"] += 1
                return
        self.wake_ups["poll"] += 1

    def _events_not_final_yet(self, conn: psycopg.Connection) -> bool:
        """Whether committed events lie beyond the checkpoint that a transaction still open holds back (any
        transaction of the cluster: the read horizon is the oldest one running)."""
        return conn.execute(
            "SELECT EXISTS (SELECT FROM event_store.events WHERE (transaction_id, global_position) > (%s, %s))",
            self.checkpoint(conn),
        ).fetchone()[0]


def run_until_signalled(worker: StreamWorker) -> None:
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


def show(checkpoint: Checkpoint | None) -> str:
    return "none" if checkpoint is None else f"{checkpoint.transaction_id}:{checkpoint.global_position}"
