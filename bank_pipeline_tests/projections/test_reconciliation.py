"""Reconciliation finds a read model that disagrees with the events, and names the accounts."""

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.domain import commands as c
from bank_pipeline.projections.projector import Projector
from bank_pipeline.projections.reconciliation import check_balances, check_double_entry, projection_lag
from bank_pipeline.store import EventStore
from bank_pipeline_tests.projections.random_bank import build_random_bank


@pytest.fixture
def projected_bank(fresh_store: EventStore) -> list[str]:
    accounts = build_random_bank(CommandHandler(fresh_store), seed=31, accounts=6, operations=120)
    Projector(fresh_store.pool).catch_up()
    return accounts


def test_a_faithful_read_model_passes_every_check(fresh_store: EventStore, projected_bank: list[str]) -> None:
    balances = check_balances(fresh_store.pool)
    double_entry = check_double_entry(fresh_store.pool)

    assert balances.passed and not balances.sampled
    assert balances.accounts_checked == balances.accounts_total == len(projected_bank)
    assert double_entry.passed
    assert {t.currency for t in double_entry.currencies} == {"EUR", "USD"}
    assert sum(t.projected_balances for t in double_entry.currencies) != 0


def test_a_wrong_balance_is_named_with_its_account(fresh_store: EventStore, projected_bank: list[str]) -> None:
    victim = projected_bank[2]
    with fresh_store.pool.connection() as conn:
        conn.execute(
            "UPDATE projections.account_balances SET ledger_balance = ledger_balance + 1 WHERE account_id = %s",
            (victim,),
        )
    balances = check_balances(fresh_store.pool)
    double_entry = check_double_entry(fresh_store.pool)

    assert not balances.passed
    assert balances.differing_accounts == 1
    [difference] = balances.differences
    assert (difference.account_id, difference.field) == (victim, "ledger_balance")
    assert difference.projected == difference.from_events + 1
    assert not double_entry.passed
    assert [t.currency for t in double_entry.currencies if not t.balanced] == ["EUR"]


def test_an_account_missing_from_the_read_model_is_named(fresh_store: EventStore, projected_bank: list[str]) -> None:
    victim = projected_bank[0]
    with fresh_store.pool.connection() as conn:
        conn.execute("DELETE FROM projections.account_balances WHERE account_id = %s", (victim,))
    balances = check_balances(fresh_store.pool)

    assert balances.differing_accounts == 1
    assert {d.account_id for d in balances.differences} == {victim}
    assert all(d.projected is None for d in balances.differences)


def test_a_wrong_status_or_hold_is_found(fresh_store: EventStore, projected_bank: list[str]) -> None:
    with fresh_store.pool.connection() as conn:
        conn.execute(
            "UPDATE projections.account_balances SET status = 'closed' WHERE account_id = %s", (projected_bank[1],)
        )
        conn.execute(
            "UPDATE projections.account_balances SET held_amount = held_amount + 5 WHERE account_id = %s",
            (projected_bank[3],),
        )
    balances = check_balances(fresh_store.pool)

    assert {(d.account_id, d.field) for d in balances.differences} == {
        (projected_bank[1], "status"),
        (projected_bank[3], "held_amount"),
    }


def test_a_sample_checks_that_many_accounts(fresh_store: EventStore, projected_bank: list[str]) -> None:
    balances = check_balances(fresh_store.pool, sample=2)
    assert balances.sampled and balances.accounts_checked == 2 and balances.passed


def test_events_past_the_checkpoint_are_not_differences_but_lag(
    fresh_store: EventStore, projected_bank: list[str]
) -> None:
    handler = CommandHandler(fresh_store)
    handler.execute(c.RegisterCustomer("late-customer", "Late Customer", "late@example.org", "2 Test St"))

    with fresh_store.pool.connection() as conn:
        behind = projection_lag(conn)
    assert check_balances(fresh_store.pool).passed
    assert check_double_entry(fresh_store.pool).passed
    assert behind.events_behind == 1 and behind.seconds >= 0

    Projector(fresh_store.pool).catch_up()
    with fresh_store.pool.connection() as conn:
        caught_up = projection_lag(conn)
    assert caught_up.events_behind == 0 and caught_up.seconds == 0
