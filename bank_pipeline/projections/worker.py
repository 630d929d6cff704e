"""The projection worker (`bank-pipeline worker`): keeps the read model current, one process, until stopped.
The loop (NOTIFY wake-ups, polling, looking again soon while events are not final, reconnecting) is
`store.stream_worker.StreamWorker`'s; a batch here is `project_next_batch`, which commits the read model's rows
and its checkpoint together.
"""

from __future__ import annotations

import logging
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
from bank_pipeline.store.stream_worker import APPENDED_CHANNEL, StreamWorker, run_until_signalled, show

__all__ = ["APPENDED_CHANNEL", "APPLICATION_NAME", "ProjectionWorker", "run_until_signalled"]

log = logging.getLogger(__name__)

APPLICATION_NAME = "bank-pipeline-worker"
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_REPORT_EVERY = 10.0


class ProjectionWorker(StreamWorker):
    """`run(stop)` projects until `stop` is set. `on_batch(batch, began_at, committed_at)` sees every committed
    batch with the wall-clock times its transaction began and committed."""

    application_name = APPLICATION_NAME

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        report_every: float = DEFAULT_REPORT_EVERY,
        on_batch: Callable[[ProjectedBatch, datetime, datetime], None] | None = None,
    ):
        super().__init__(url, poll_interval=poll_interval)
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.progress = ProgressLog(report_every)

    def prepare(self, conn: psycopg.Connection) -> None:
        _require_read_model(conn)

    def checkpoint(self, conn: psycopg.Connection) -> Checkpoint:
        return read_checkpoint(conn)

    def finish(self, conn: psycopg.Connection) -> None:
        log.info("stopped at checkpoint %s, having projected %s events in %s batches",
                 show(read_checkpoint(conn)), f"{self.progress.events:,}", f"{self.progress.batches:,}")  # fmt: skip

    def catch_up(self, conn: psycopg.Connection, stop: threading.Event) -> None:
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
            show(self.checkpoint), self._worst_lag.total_seconds() * 1000, self._longest_batch.total_seconds() * 1000,
        )  # fmt: skip
        self._since = time.monotonic()
        self._events = self._batches = 0
        self._worst_lag = self._longest_batch = timedelta(0)


def _require_read_model(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT to_regclass('projections.checkpoints')").fetchone()[0] is None:
        from bank_pipeline.runtime import SchemaNotMigrated

        raise SchemaNotMigrated("the database has no read model yet: run `bank-pipeline db migrate` first")
