"""Read-your-writes: wait_until_projected returns once the read model has a command's effect, and says
clearly, within its timeout, when it has not."""

import threading
import time

import psycopg
import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.domain import commands as c
from bank_pipeline.projections.waiting import ProjectionBehind, wait_until_projected
from bank_pipeline.projections.worker import ProjectionWorker
from bank_pipeline.store import EventStore
from bank_pipeline.store.records import Checkpoint
from bank_pipeline_tests.application.bank import account, customer
from bank_pipeline_tests.projections.worker_helpers import (
    project_through,
    wait_until_final,
    worker_thread,
)


@pytest.fixture
def bank(fresh_store: EventStore) -> CommandHandler:
    handler = CommandHandler(fresh_store)
    customer(handler, "w-owner")
    account(handler, "w-owner", "w-acct", funds=1_000)
    return handler


def pay_in(handler: CommandHandler, amount: int, key: str):
    return handler.execute(c.CreditAccount("w-acct", amount, "EUR", key, "Employer", None), idempotency_key=key)


def balance(store: EventStore) -> int | None:
    with store.pool.connection() as conn:
        row = conn.execute("SELECT ledger_balance FROM projections.account_balances WHERE account_id = 'w-acct'")
        return (row.fetchone() or (None,))[0]


def test_a_commands_effect_is_readable_once_its_checkpoint_is_waited_for(fresh_store, fresh_database_url, bank):
    with worker_thread(ProjectionWorker(fresh_database_url, poll_interval=30)):
        for n in range(1, 4):
            result = pay_in(bank, 10, f"w-pay-{n}")
            wait_until_final(fresh_store, result.checkpoint)  # other databases' transactions may hold it back
            reached = wait_until_projected(fresh_store.pool, result.checkpoint)
            assert reached >= result.checkpoint
            assert balance(fresh_store) == 1_000 + 10 * n


def test_a_checkpoint_already_projected_returns_at_once(fresh_store, bank):
    result = pay_in(bank, 5, "w-pay")
    project_through(fresh_store, result.checkpoint)
    with fresh_store.pool.connection() as conn:
        started = time.monotonic()
        assert wait_until_projected(conn, result.checkpoint) == result.checkpoint
        assert time.monotonic() - started < 0.1
        assert conn.execute("SELECT count(*) FROM pg_listening_channels()").fetchone()[0] == 0  # left clean


def test_the_projectors_notification_wakes_the_waiter_before_its_poll(fresh_store, bank):
    result = pay_in(bank, 5, "w-pay")
    projected_at = []

    def project() -> None:
        project_through(fresh_store, result.checkpoint)
        projected_at.append(time.monotonic())

    projector = threading.Timer(0.3, project)
    projector.start()
    wait_until_projected(fresh_store.pool, result.checkpoint, timeout=10, poll_interval=5)
    returned_at = time.monotonic()
    projector.join()
    assert returned_at - projected_at[0] < 0.5


def test_a_checkpoint_moved_without_a_notification_is_found_by_polling(fresh_store, bank):
    """As when a rebuild swaps its schema in: the checkpoint row changes and nothing is notified."""
    result = pay_in(bank, 5, "w-pay")

    def move_checkpoint_silently() -> None:
        with fresh_store.pool.connection() as conn:
            conn.execute(
                "UPDATE projections.checkpoints SET transaction_id = %s, global_position = %s", result.checkpoint
            )

    mover = threading.Timer(0.3, move_checkpoint_silently)
    mover.start()
    assert wait_until_projected(fresh_store.pool, result.checkpoint, timeout=3, poll_interval=0.1) == result.checkpoint
    mover.join()


def test_a_read_model_that_stays_behind_raises_projection_behind_in_time(fresh_store, bank):
    result = pay_in(bank, 5, "w-pay")  # no worker runs
    started = time.monotonic()
    with pytest.raises(ProjectionBehind) as behind:
        wait_until_projected(fresh_store.pool, result.checkpoint, timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 1.5
    error = behind.value
    assert error.wanted == result.checkpoint and error.reached == Checkpoint(0, 0)
    assert error.events_behind == len(all_positions(fresh_store))  # nothing was ever projected
    assert "has not advanced" in str(error) and "bank-pipeline worker" in str(error)


def test_the_message_tells_a_stalled_read_model_from_one_that_is_advancing():
    wanted, reached = Checkpoint(900, 12), Checkpoint(880, 7)
    stalled = ProjectionBehind(wanted, reached, events_behind=40, idle_seconds=75.0, waited=2.0)
    advancing = ProjectionBehind(wanted, reached, events_behind=40, idle_seconds=0.05, waited=2.0)
    assert str(stalled).startswith("the read model is 40 event(s) behind checkpoint 900:12 (it stands at 880:7)")
    assert "has not advanced for 75.0 s" in str(stalled) and "bank-pipeline worker" in str(stalled)
    assert "is advancing (last 0.05 s ago) but behind" in str(advancing)


def test_the_wait_is_always_bounded(fresh_store, fresh_database_url):
    for timeout in (0, -1, None):
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            wait_until_projected(fresh_store.pool, fresh_store.newest_checkpoint(), timeout=timeout)
    with psycopg.connect(fresh_database_url) as conn, pytest.raises(ValueError, match="autocommit"):
        wait_until_projected(conn, Checkpoint(0, 0))


def all_positions(store: EventStore) -> list[int]:
    with store.pool.connection() as conn:
        return [row[0] for row in conn.execute("SELECT global_position FROM event_store.events")]
