"""The projection worker against a real PostgreSQL: woken by NOTIFY, polling when none comes, surviving lost
connections, SIGTERM and kill -9, and leaving a read model equal to a fold of the events."""

import os
import random
import signal
import subprocess
import threading
import time

import psycopg
import pytest

from bank_pipeline.application import CommandHandler, RetriesExhausted
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.projections.waiting import wait_until_projected
from bank_pipeline.projections.worker import APPLICATION_NAME, ProjectionWorker
from bank_pipeline.store import EventStore, NewEvent
from bank_pipeline_tests.application.bank import account, customer
from bank_pipeline_tests.projections.expectations import assert_read_model_matches_events
from bank_pipeline_tests.projections.worker_helpers import (
    checkpoint_row,
    wait_until_final,
    worker_process,
    worker_thread,
)


def ledger_balance(store: EventStore, account_id: str) -> int | None:
    with store.pool.connection() as conn:
        row = conn.execute(
            "SELECT ledger_balance FROM projections.account_balances WHERE account_id = %s", (account_id,)
        ).fetchone()
    return row[0] if row else None


def credit(handler: CommandHandler, account_id: str, amount: int, key: str):
    return handler.execute(c.CreditAccount(account_id, amount, "EUR", key, "Employer", None), idempotency_key=key)


def funded_account(store: EventStore, account_id: str, funds: int = 0) -> CommandHandler:
    handler = CommandHandler(store)
    customer(handler, f"{account_id}-owner")
    account(handler, f"{account_id}-owner", account_id, funds=funds)
    return handler


def timed_credits(store: EventStore, handler: CommandHandler, account_id: str, count: int) -> list[float]:
    """For each credit: seconds from the moment its events were final (below the read horizon) until the read
    model showed it."""
    delays = []
    for n in range(count):
        before = ledger_balance(store, account_id)
        result = credit(handler, account_id, 100, f"{account_id}-credit-{n}")
        wait_until_final(store, result.checkpoint)
        final = time.monotonic()
        wait_until_projected(store.pool, result.checkpoint, timeout=30)
        delays.append(time.monotonic() - final)
        assert ledger_balance(store, account_id) == before + 100
    return delays


class DeafWorker(ProjectionWorker):
    """A worker that never hears an append: as if every NOTIFY were lost."""

    channel = "nobody_notifies_this"


# The read horizon is server-wide: an open transaction in any database of the server (a big append, a long
# projector batch, CREATE DATABASE) keeps events of this one from being final, for seconds on a busy server.
# So promptness is measured from when the events were final, which on a quiet server is their commit.


def test_an_append_is_projected_on_its_notification_long_before_the_poll(fresh_store, fresh_database_url):
    handler = funded_account(fresh_store, "n-acct", funds=1_000)
    with worker_thread(ProjectionWorker(fresh_database_url, poll_interval=30)) as worker:
        wait_until_projected(fresh_store.pool, fresh_store.newest_checkpoint(), timeout=30)  # the start's catch-up
        delays = timed_credits(fresh_store, handler, "n-acct", 3)
    assert max(delays) < 0.5, f"{delays} s with a 30 s poll"
    # Notified, not polled. Credits arriving while the worker is still busy with the previous one are taken in the
    # same wake-up (the queue is drained at once), so on a slow machine three credits may need fewer than three.
    assert worker.wake_ups["notify"] >= 1


def test_polling_projects_appends_whose_notification_is_lost(fresh_store, fresh_database_url):
    handler = funded_account(fresh_store, "p-acct")
    with worker_thread(DeafWorker(fresh_database_url, poll_interval=0.3)) as worker:
        wait_until_projected(fresh_store.pool, fresh_store.newest_checkpoint(), timeout=30)
        delays = timed_credits(fresh_store, handler, "p-acct", 3)
    assert worker.wake_ups["notify"] == 0 and worker.wake_ups["poll"] >= 3
    assert max(delays) < 0.3 + 0.4, f"{delays} s with a 0.3 s poll"


def test_events_made_final_without_a_notification_are_looked_for_again_soon(fresh_store, fresh_database_url):
    """An append's NOTIFY can come while an older transaction still holds the read horizon back; when that
    transaction ends, nothing notifies. The worker knows committed events are waiting and looks again."""
    handler = funded_account(fresh_store, "r-acct")
    with worker_thread(ProjectionWorker(fresh_database_url, poll_interval=30)) as worker:
        wait_until_projected(fresh_store.pool, fresh_store.newest_checkpoint(), timeout=30)
        with psycopg.connect(fresh_database_url) as blocker:  # a transaction with an id older than the append
            blocker.execute("SELECT pg_current_xact_id()")
            result = credit(handler, "r-acct", 700, "r-credit")
            time.sleep(1.0)
            assert ledger_balance(fresh_store, "r-acct") == 0, "projected an event that was not final yet"
            notified = worker.wake_ups["notify"]
        wait_until_final(fresh_store, result.checkpoint)  # the blocker has ended: nothing notifies
        final = time.monotonic()
        wait_until_projected(fresh_store.pool, result.checkpoint, timeout=30)
        assert time.monotonic() - final < 1, "waited for the 30 s poll"
        assert worker.wake_ups["notify"] == notified
    assert ledger_balance(fresh_store, "r-acct") == 700


def test_the_worker_reconnects_after_losing_its_connections(fresh_store, fresh_database_url, caplog):
    handler = funded_account(fresh_store, "l-acct")
    with worker_thread(ProjectionWorker(fresh_database_url, poll_interval=30)):
        wait_until_projected(fresh_store.pool, fresh_store.newest_checkpoint(), timeout=30)
        with fresh_store.pool.connection() as conn:
            terminated = conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                (APPLICATION_NAME,),
            ).fetchone()[0]
        assert terminated == 2  # its listener and its projecting connection
        result = credit(handler, "l-acct", 42, "l-credit")
        wait_until_projected(fresh_store.pool, result.checkpoint, timeout=30)
    assert ledger_balance(fresh_store, "l-acct") == 42
    assert "database error: " in caplog.text and "Retrying in 1 s" in caplog.text


def test_sigterm_finishes_the_current_batch_and_exits_0(fresh_store, fresh_database_url, tmp_path):
    for chunk in range(10):  # a backlog of 10,000 events for the worker to be busy with
        fresh_store.append([NewEvent(f"noted-{chunk}-{n % 50}", "Noted", {"n": n}) for n in range(1_000)])
    with worker_process(fresh_database_url, tmp_path / "worker.log", batch_size=100) as worker:
        first = worker.stdout.readline()
        assert first.startswith("projected"), (tmp_path / "worker.log").read_text()
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=10)

    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()
    last_reported = ([first] + out.splitlines())[-1].split()[1]
    checkpoint, events_projected = checkpoint_row(fresh_store)
    assert f"{checkpoint.transaction_id}:{checkpoint.global_position}" == last_reported  # its last batch committed
    assert events_projected < 10_000, "it did not stop until the backlog was done"
    assert "SIGTERM received: stopping after the current batch" in (tmp_path / "worker.log").read_text()


@pytest.mark.slow
def test_the_cli_worker_projects_until_sigterm(fresh_store, fresh_database_url):
    handler = CommandHandler(fresh_store)
    customer(handler, "cli-owner")
    account(handler, "cli-owner", "cli-acct", funds=300)
    worker = subprocess.Popen(
        ["bank-pipeline", "worker", "--poll-interval", "30", "--batch-size", "50"],
        env={**os.environ, "BANK_PIPELINE_DATABASE_URL": fresh_database_url},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until_projected(fresh_store.pool, fresh_store.newest_checkpoint(), timeout=60)  # its start-up
        result = credit(handler, "cli-acct", 200, "cli-credit")
        wait_until_final(fresh_store, result.checkpoint)
        wait_until_projected(fresh_store.pool, result.checkpoint, timeout=2)
        assert ledger_balance(fresh_store, "cli-acct") == 500
    finally:
        worker.send_signal(signal.SIGTERM)
        _, log = worker.communicate(timeout=20)
    assert worker.returncode == 0, log
    assert "resuming from checkpoint 0:0" in log and "stopped at checkpoint" in log


# -- kill -9 ---------------------------------------------------------------------------------------------

FUNDS = {"EUR": 100_000, "USD": 40_000}  # per account, credited from outside once
ACCOUNTS = {currency: [f"k-{currency.lower()}-{n}" for n in range(8)] for currency in FUNDS}
KILLS = 6


class Writers:
    """Threads appending internal transfers through the command path until stopped."""

    def __init__(self, handler: CommandHandler, threads: int = 3):
        self.handler = handler
        self.stop = threading.Event()
        self.committed = 0
        self.threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> "Writers":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _write(self, number: int) -> None:
        rng = random.Random(number)
        sent = 0
        while not self.stop.is_set():
            currency = rng.choice(list(ACCOUNTS))
            source, target = rng.sample(ACCOUNTS[currency], 2)
            key = f"k-transfer-{number}-{sent}"
            sent += 1
            try:
                self.handler.execute(c.TransferInternal(key, source, target, rng.randint(1, 3_000), currency),
                                     idempotency_key=key)  # fmt: skip
                self.committed += 1
            except (DomainError, RetriesExhausted):
                pass


def projects_inside_a_transaction(store: EventStore) -> bool:
    """Whether the worker's projecting connection is inside a transaction (a batch) right now."""
    with store.pool.connection() as conn:
        return conn.execute(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = %s AND datname = current_database() "
            "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()",
            (APPLICATION_NAME,),
        ).fetchone()[0]


@pytest.mark.slow
def test_killed_workers_resume_and_project_every_event_exactly_once(fresh_store, fresh_database_url, tmp_path):
    handler = CommandHandler(fresh_store)
    customer(handler, "k-owner")
    for currency, accounts in ACCOUNTS.items():
        for account_id in accounts:
            account(handler, "k-owner", account_id, currency=currency, funds=FUNDS[currency])

    rng = random.Random(11)
    log = tmp_path / "worker.log"
    killed_in_a_batch = 0
    with Writers(handler) as writers:
        for _ in range(KILLS):
            with worker_process(fresh_database_url, log, batch_size=rng.choice([20, 50, 200])) as worker:
                assert worker.stdout.readline().startswith("projected"), log.read_text()  # it is working
                time.sleep(rng.uniform(0, 0.5))
                killed_in_a_batch += projects_inside_a_transaction(fresh_store)
                os.kill(worker.pid, signal.SIGKILL)
                assert worker.wait() == -signal.SIGKILL
        assert writers.committed > 200, "the writers hardly wrote: nothing was tested"

    with worker_process(fresh_database_url, log, batch_size=500) as final:
        wait_until_projected(fresh_store.pool, fresh_store.newest_checkpoint(), timeout=60)
        final.send_signal(signal.SIGTERM)
        final.communicate(timeout=10)
    assert final.returncode == 0, log.read_text()

    checkpoint, events_projected = checkpoint_row(fresh_store)
    with fresh_store.pool.connection() as conn:
        event_count = conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]
        balances = conn.execute(
            "SELECT currency, sum(ledger_balance) FROM projections.account_balances GROUP BY currency"
        ).fetchall()
    assert checkpoint == fresh_store.newest_checkpoint()
    assert events_projected == event_count, "an event was projected twice, or a batch was lost"
    assert dict(balances) == {currency: FUNDS[currency] * len(ACCOUNTS[currency]) for currency in FUNDS}
    assert_read_model_matches_events(fresh_store)
    assert killed_in_a_batch >= 1, "no kill landed inside a batch"
