"""kill -9 the fraud worker again and again while writers append ordinary payments and card-testing bursts:
afterwards every event was judged once, the alerts are exactly those of one pass over the history, and every
high-severity alert froze its account once."""

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.application.handler import RetriesExhausted
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.fraud.actions import ACTOR
from bank_pipeline_tests.fraud.test_detector import expected_alerts, stored_alerts

ORDINARY = [f"fk-{n}" for n in range(6)]
KILLS = 5


class Writers:
    """A thread appending ordinary payments, and a card-testing burst on a fresh account now and then."""

    def __init__(self, handler: CommandHandler):
        self.handler = handler
        self.stop = threading.Event()
        self.committed = self.bursts = 0
        self.thread = threading.Thread(target=self._write, daemon=True)

    def __enter__(self) -> "Writers":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def _write(self) -> None:
        rng = random.Random(7)
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                if n % 40 == 0:
                    victim = f"fk-victim-{self.bursts}"
                    self.handler.execute(c.OpenAccount(victim, "fk-owner", "EUR", "current", 0))
                    self.handler.execute(c.CreditAccount(victim, 50_000, "EUR", f"{victim}-in", "Employer"))
                    for m in range(9):
                        self.handler.execute(c.DebitAccount(victim, 20 + m, "EUR", f"{victim}-{m}", f"Web shop {m}"))
                    self.bursts += 1
                else:
                    account = rng.choice(ORDINARY)
                    self.handler.execute(
                        c.DebitAccount(account, rng.randint(100, 5_000), "EUR", f"fk-pay-{n}", "Grocer")
                    )
                self.committed += 1
            except (DomainError, RetriesExhausted):
                pass


def fraud_worker_process(url: str, log, batch_size: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bank_pipeline_tests.fraud.fraud_worker_process", url, str(batch_size)],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_killed_fraud_workers_resume_judge_every_event_once_and_freeze_once(fresh_store, fresh_database_url, tmp_path):
    handler = CommandHandler(fresh_store)
    handler.execute(c.RegisterCustomer("fk-owner", "Owner", "o@example.org", "1 St"))
    handler.execute(c.ChangeKycStatus("fk-owner", "verified"))
    for account in ORDINARY:
        handler.execute(c.OpenAccount(account, "fk-owner", "EUR", "current", 0))
        handler.execute(c.CreditAccount(account, 10_000_000, "EUR", f"{account}-funds", "Employer"))

    rng = random.Random(3)
    with (tmp_path / "fraud-worker.log").open("w") as log, Writers(handler) as writers:
        for _ in range(KILLS):
            worker = fraud_worker_process(fresh_database_url, log, batch_size=rng.choice([5, 20, 100]))
            assert worker.stdout.readline().strip() == "started", (tmp_path / "fraud-worker.log").read_text()
            time.sleep(rng.uniform(0.2, 1.0))
            os.kill(worker.pid, signal.SIGKILL)
            assert worker.wait() == -signal.SIGKILL
    assert writers.bursts >= 2 and writers.committed > 100, "the writers hardly wrote: nothing was tested"

    with (tmp_path / "fraud-worker.log").open("a") as log:
        final = fraud_worker_process(fresh_database_url, log, batch_size=100)
        assert final.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        with fresh_store.pool.connection() as conn:
            while time.monotonic() < deadline:
                newest = fresh_store.newest_checkpoint()  # its own freezes are events too
                reached = conn.execute("SELECT transaction_id, global_position FROM fraud.checkpoints").fetchone()
                acting = conn.execute(
                    "SELECT count(*) FROM fraud.alerts WHERE severity = 'high' AND action IS NULL"
                ).fetchone()[0]
                if tuple(reached) >= tuple(newest) and acting == 0:
                    break
                time.sleep(0.1)
        final.send_signal(signal.SIGTERM)
        final.communicate(timeout=20)
    assert final.returncode == 0, (tmp_path / "fraud-worker.log").read_text()

    with fresh_store.pool.connection() as conn:
        seen = conn.execute("SELECT events_seen FROM fraud.checkpoints").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]
        unacted = conn.execute(
            "SELECT count(*) FROM fraud.alerts WHERE severity = 'high' AND action IS NULL"
        ).fetchone()[0]
        freezes = conn.execute(
            "SELECT stream_id, count(*) FROM event_store.events WHERE event_type = 'AccountFrozen' "
            "AND metadata->>'actor' = %s GROUP BY stream_id",
            (ACTOR,),
        ).fetchall()
    # The freezes are events too: the last worker judged them after the writers stopped.
    assert seen == events, "an event was judged twice, or a batch was lost"
    assert sorted(stored_alerts(fresh_store.pool)) == expected_alerts(fresh_store)
    assert unacted == 0
    assert freezes and all(count == 1 for _, count in freezes)
    assert {stream for stream, _ in freezes} >= {f"account-fk-victim-{n}" for n in range(writers.bursts)}
