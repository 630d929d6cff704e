"""The fast path against the real event store: every entry judged once, alerts written with the checkpoint in
one transaction, so batches of any size, restarts and a failure halfway give the same alerts as judging the
whole history in memory, none twice."""

from datetime import UTC, datetime, timedelta

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.fraud import judge_all
from bank_pipeline.fraud import detector as detector_module
from bank_pipeline.fraud.detector import FraudDetector, observation_of
from bank_pipeline.store import EventStore
from bank_pipeline_tests.projections.random_bank import build_random_bank

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def build_fraudulent_history(handler: CommandHandler) -> None:
    """Random ordinary accounts, plus one account whose card is tested in a burst and one that passes money
    straight through."""
    build_random_bank(handler, seed=61, accounts=6, operations=120)

    def at(minutes: float, command) -> None:
        handler.execute(command, occurred_at=START + timedelta(minutes=minutes))

    at(0, c.RegisterCustomer("fraud-cust", "Mallory", "m@example.org", "1 Dark St"))
    at(0, c.ChangeKycStatus("fraud-cust", "verified"))
    for account in ("tested-acct", "mule-acct"):
        at(1, c.OpenAccount(account, "fraud-cust", "EUR", "current", 0))
    at(2, c.CreditAccount("tested-acct", 50_000, "EUR", "salary-1", "Employer", "salary"))
    for n in range(12):
        at(60 + n * 0.5, c.DebitAccount("tested-acct", 50 + n, "EUR", f"card-{n}", f"Web shop {n}", "card"))
    at(120, c.CreditAccount("mule-acct", 400_000, "EUR", "in-big", "Friend", "loan"))
    at(127, c.DebitAccount("mule-acct", 392_000, "EUR", "out-big", "Someone Else", "forward"))


def stored_alerts(pool) -> list[tuple]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT rule, account_id, global_position FROM fraud.alerts ORDER BY global_position, rule"
        ).fetchall()


def expected_alerts(store: EventStore) -> list[tuple]:
    observations = [o for o in (observation_of(e) for e in store.iter_all()) if o is not None]
    return sorted((a.rule, a.account_id, a.global_position) for a in judge_all(observations))


@pytest.fixture
def bank(fresh_database_url):
    with make_pool(fresh_database_url, max_size=4) as pool:
        store = EventStore(pool)
        build_fraudulent_history(CommandHandler(store))
        yield pool, store


def test_the_detector_raises_what_the_rules_raise_once_and_moves_its_checkpoint(bank) -> None:
    pool, store = bank
    with pool.connection() as conn:
        batches = FraudDetector().catch_up(conn)

    alerts = stored_alerts(pool)
    assert sorted(alerts) == expected_alerts(store)
    rules_by_account = {(rule, account) for rule, account, _ in alerts}
    assert ("card_testing", "tested-acct") in rules_by_account
    assert ("rapid_pass_through", "mule-acct") in rules_by_account
    with pool.connection() as conn:
        checkpoint, seen = conn.execute(
            "SELECT (transaction_id, global_position)::text, events_seen FROM fraud.checkpoints"
        ).fetchone()
        latency = conn.execute("SELECT bool_and(detected_at >= recorded_at) FROM fraud.alerts").fetchone()[0]
    last = list(store.iter_all())[-1]
    assert checkpoint == f"({last.transaction_id},{last.global_position})"
    assert seen == sum(batch.events for batch in batches) == len(list(store.iter_all()))
    assert latency is True

    with pool.connection() as conn:
        assert FraudDetector().catch_up(conn) == []  # a restarted detector finds nothing new
    assert stored_alerts(pool) == alerts


def test_small_batches_and_restarts_judge_exactly_like_one_pass(bank) -> None:
    pool, store = bank
    with pool.connection() as conn:
        for _ in range(50):  # a new detector (a restart) every few batches of 7 events
            detector = FraudDetector(batch_size=7)
            for _ in range(3):
                detector.detect_next_batch(conn)
        FraudDetector(batch_size=7).catch_up(conn)
    assert sorted(stored_alerts(pool)) == expected_alerts(store)


def test_a_failure_halfway_through_a_batch_keeps_nothing_of_it_and_the_next_run_completes(bank, monkeypatch) -> None:
    pool, store = bank
    calls = {"n": 0}
    real_observe = detector_module.observe

    def failing_observe(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 40:
            raise ConnectionError("the server went away")
        return real_observe(*args, **kwargs)

    monkeypatch.setattr(detector_module, "observe", failing_observe)
    detector = FraudDetector(batch_size=25)
    with pool.connection() as conn:
        with pytest.raises(ConnectionError):
            detector.catch_up(conn)
        kept = stored_alerts(pool)
        detector.catch_up(conn)  # the same detector: its profiles are rebuilt from the checkpoint first
    assert set(kept) <= set(stored_alerts(pool))
    assert sorted(stored_alerts(pool)) == expected_alerts(store)
