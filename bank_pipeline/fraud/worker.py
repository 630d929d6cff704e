"""The fraud detector's process (`bank-pipeline fraud worker`): judges every entry as soon as it is final, and
freezes the accounts of high-severity alerts. The loop is `StreamWorker`'s (NOTIFY wake-ups, polling, resuming
from the checkpoint after a crash); a batch is `FraudDetector.detect_next_batch`."""

from __future__ import annotations

import logging
import threading

import psycopg
from psycopg_pool import ConnectionPool

from bank_pipeline.application import CommandHandler
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.domain.fraud import FraudThresholds
from bank_pipeline.fraud.actions import act_on_high_alerts
from bank_pipeline.fraud.detector import DEFAULT_BATCH_SIZE, FraudDetector, read_checkpoint
from bank_pipeline.store import EventStore
from bank_pipeline.store.records import Checkpoint
from bank_pipeline.store.stream_worker import StreamWorker, show

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 1.0


class FraudWorker(StreamWorker):
    application_name = "bank-pipeline-fraud"

    def __init__(
        self,
        url: str,
        *,
        limits: FraudThresholds | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        freeze_on_high: bool = True,
    ):
        super().__init__(url, poll_interval=poll_interval)
        self.detector = FraudDetector(limits, batch_size=batch_size)
        self.freeze_on_high = freeze_on_high
        self.events = self.alerts = self.actions = 0
        self._pool: ConnectionPool | None = None  # for the commands the actions send

    def prepare(self, conn: psycopg.Connection) -> None:
        if conn.execute("SELECT to_regclass('fraud.checkpoints')").fetchone()[0] is None:
            from bank_pipeline.runtime import SchemaNotMigrated

            raise SchemaNotMigrated("the database has no fraud schema yet: run `bank-pipeline db migrate` first")
        if self.freeze_on_high and self._pool is None:
            self._pool = make_pool(self.url, max_size=2)

    def checkpoint(self, conn: psycopg.Connection) -> Checkpoint:
        return read_checkpoint(conn)

    def catch_up(self, conn: psycopg.Connection, stop: threading.Event) -> None:
        while not stop.is_set():
            batch = self.detector.detect_next_batch(conn)
            if batch is not None:
                self.events += batch.events
                self.alerts += len(batch.alerts)
                for alert in batch.alerts:
                    log.warning("alert %s (%s, score %.2f) on %s at event %d: %s", alert.rule, alert.severity,
                                alert.score, alert.account_id, alert.global_position, alert.evidence)  # fmt: skip
            if self.freeze_on_high and self._pool is not None:
                for action in act_on_high_alerts(conn, CommandHandler(EventStore(self._pool))):
                    self.actions += 1
                    log.warning("account %s: %s (alert %d)", action.account_id, action.outcome, action.alert_id)
            if batch is None:
                return

    def finish(self, conn: psycopg.Connection) -> None:
        log.info("stopped at checkpoint %s: %s events judged, %s alerts, %s actions",
                 show(read_checkpoint(conn)), f"{self.events:,}", f"{self.alerts:,}", f"{self.actions:,}")  # fmt: skip
        if self._pool is not None:
            self._pool.close()
            self._pool = None
