"""High-severity alerts freeze their account through the command path, exactly once even when the first attempt
died between the freeze and recording it; the worker judges appends as they arrive."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import AccountFrozen
from bank_pipeline.fraud.actions import ACTOR, act_on_high_alerts
from bank_pipeline.fraud.detector import FraudDetector
from bank_pipeline.fraud.worker import FraudWorker
from bank_pipeline.store import EventStore
from bank_pipeline_tests.fraud.test_detector import build_fraudulent_history


@pytest.fixture
def bank(fresh_database_url):
    with make_pool(fresh_database_url, max_size=4) as pool:
        store = EventStore(pool)
        build_fraudulent_history(CommandHandler(store))
        yield pool, store


def freezes(store: EventStore, account_id: str) -> list:
    return [e for e in store.read_stream(f"account-{account_id}") if e.event_type == "AccountFrozen"]


def test_high_alerts_freeze_their_accounts_once(bank) -> None:
    pool, store = bank
    handler = CommandHandler(store)
    with pool.connection() as conn:
        FraudDetector().catch_up(conn)
        high = conn.execute(
            "SELECT alert_id, account_id FROM fraud.alerts WHERE severity = 'high' ORDER BY alert_id"
        ).fetchall()
        assert {"tested-acct", "mule-acct"} <= {account for _, account in high}
        # The first attempt at the oldest alert froze its account and died before recording it.
        first_id, first_account = high[0]
        handler.execute(
            c.FreezeAccount(first_account, f"fraud alert {first_id}: " + conn.execute(
                "SELECT rule || ' at event ' || global_position FROM fraud.alerts WHERE alert_id = %s", (first_id,)
            ).fetchone()[0]),
            idempotency_key=f"fraud-alert-{first_id}", actor=ACTOR, causation_id=f"fraud-alert-{first_id}",
        )  # fmt: skip

        actions = act_on_high_alerts(conn, handler)
        assert act_on_high_alerts(conn, handler) == []  # nothing left to act on
        recorded = dict(conn.execute("SELECT alert_id, action FROM fraud.alerts WHERE severity = 'high'").fetchall())

    assert [a.alert_id for a in actions] == [alert_id for alert_id, _ in high]
    assert actions[0].outcome == "frozen" and actions[0].position is not None
    for account in {account for _, account in high}:  # never two freezes for one episode of alerts
        assert len([f for f in freezes(store, account) if f.metadata["actor"] == ACTOR]) <= 1
    for account in ("tested-acct", "mule-acct"):
        assert len([f for f in freezes(store, account) if f.metadata["actor"] == ACTOR]) == 1
        outcomes = [recorded[alert_id] for alert_id, owner in high if owner == account]
        assert outcomes[0] == "frozen" and set(outcomes[1:]) <= {AccountFrozen.code}
    with pytest.raises(AccountFrozen):
        handler.execute(c.DebitAccount("tested-acct", 1, "EUR", "after-freeze", "Web shop"))


def test_the_worker_judges_appends_as_they_arrive_and_freezes(fresh_database_url) -> None:
    with make_pool(fresh_database_url, max_size=4) as pool:
        store = EventStore(pool)
        handler = CommandHandler(store)
        start = datetime.now(UTC) - timedelta(hours=1)
        handler.execute(c.RegisterCustomer("w-cust", "Walter", "w@example.org", "1 St"), occurred_at=start)
        handler.execute(c.ChangeKycStatus("w-cust", "verified"), occurred_at=start)
        handler.execute(c.OpenAccount("w-acct", "w-cust", "EUR", "current", 0), occurred_at=start)
        handler.execute(c.CreditAccount("w-acct", 100_000, "EUR", "w-in", "Employer", "salary"), occurred_at=start)

        worker = FraudWorker(fresh_database_url, poll_interval=30)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        try:
            burst_started = time.monotonic()
            for n in range(10):  # a card-testing burst, appended while the worker runs
                handler.execute(c.DebitAccount("w-acct", 10 + n, "EUR", f"w-card-{n}", f"Web shop {n}"))
            deadline = burst_started + 20
            while not freezes(store, "w-acct") and time.monotonic() < deadline:
                time.sleep(0.05)
            frozen_after = time.monotonic() - burst_started
        finally:
            stop.set()
            thread.join(timeout=10)
        with pool.connection() as conn:
            alerts = conn.execute("SELECT rule, action FROM fraud.alerts WHERE account_id = 'w-acct'").fetchall()
        frozen = freezes(store, "w-acct")
    assert ("card_testing", "frozen") in alerts
    assert len(frozen) == 1
    # Judged as the appends arrived, not at the 30 s poll (on a slow machine the worker's start-up catch-up may
    # already take the burst in, so the number of notified wake-ups is not the measure).
    assert frozen_after < 20  # < the 30 s poll


def test_the_alerts_command_lists_them(bank, fresh_database_url, monkeypatch) -> None:
    import json

    from typer.testing import CliRunner

    from bank_pipeline.cli.main import app
    from bank_pipeline.settings import get_settings

    pool, _ = bank
    with pool.connection() as conn:
        FraudDetector().catch_up(conn)
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["fraud", "alerts", "--account", "tested-acct", "--json"])
        table = CliRunner().invoke(app, ["fraud", "alerts"], env={"COLUMNS": "200"})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    [alert] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (alert["rule"], alert["severity"], alert["account_id"]) == ("card_testing", "high", "tested-acct")
    assert alert["latency_ms"] >= 0 and alert["evidence"]["payments"] == 8
    assert table.exit_code == 0 and "card_testing" in table.stdout


def daily_metrics(dagster_instance, database_url: str, day: str) -> dict:
    """The metadata of one materialisation of daily_fraud_metrics for `day`."""
    import dagster as dg

    from bank_pipeline.defs.fraud.assets import daily_fraud_metrics
    from bank_pipeline.defs.resources import BankDatabase

    result = dg.materialize(
        [daily_fraud_metrics], partition_key=day, instance=dagster_instance,
        resources={"bank_db": BankDatabase(database_url=database_url)},
    )  # fmt: skip
    [event] = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def test_the_daily_metrics_asset_counts_the_day_s_alerts(bank, fresh_database_url, dagster_instance) -> None:
    pool, store = bank
    with pool.connection() as conn:
        FraudDetector().catch_up(conn)
        act_on_high_alerts(conn, CommandHandler(store))
        expected = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE severity = 'high'), count(*) FILTER (WHERE action = 'frozen') "
            "FROM fraud.alerts WHERE occurred_at >= '2026-03-02' AND occurred_at < '2026-03-03'"
        ).fetchone()
    metadata = daily_metrics(dagster_instance, fresh_database_url, "2026-03-02")
    assert (metadata["alerts"], metadata["high_severity_alerts"], metadata["accounts_frozen"]) == expected
    assert expected[0] >= 2 and "card_testing" in metadata["by_rule"]
    assert (metadata["alerts_reviewed"], metadata["precision_reviewed"]) == (0, "n/a")


def test_reviews_give_the_daily_metrics_their_precision_and_keep_every_verdict(
    bank, fresh_database_url, dagster_instance
) -> None:
    import psycopg

    from bank_pipeline.fraud.reviews import UnknownAlert, review_alert

    pool, _ = bank
    with pool.connection() as conn:
        FraudDetector().catch_up(conn)
        alerts = conn.execute("SELECT alert_id, rule FROM fraud.alerts ORDER BY alert_id").fetchall()
        assert len(alerts) >= 2
        (first, first_rule), (second, _) = alerts[:2]
        review_alert(conn, first, "legitimate", "ana")
        review_alert(conn, first, "fraud", "ben", note="customer confirmed the card was stolen")  # supersedes
        review_alert(conn, second, "legitimate", "ana")
        with pytest.raises(UnknownAlert):
            review_alert(conn, 10**9, "fraud", "ana")
        with pytest.raises(ValueError):
            review_alert(conn, first, "maybe", "ana")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("UPDATE fraud.alert_reviews SET verdict = 'legitimate'")
        history = conn.execute(
            "SELECT verdict, reviewed_by FROM fraud.alert_reviews WHERE alert_id = %s ORDER BY review_id", (first,)
        ).fetchall()
    assert history == [("legitimate", "ana"), ("fraud", "ben")]
    metadata = daily_metrics(dagster_instance, fresh_database_url, "2026-03-02")
    assert (metadata["alerts_reviewed"], metadata["alerts_confirmed_fraud"]) == (2, 1)
    assert (metadata["alerts_dismissed_legitimate"], metadata["precision_reviewed"]) == (1, 0.5)
    assert f"| {first_rule} |" in metadata["by_rule"]


def test_the_review_command_records_a_verdict_and_refuses_bad_ones(bank, fresh_database_url, monkeypatch) -> None:
    from typer.testing import CliRunner

    from bank_pipeline.cli.main import app
    from bank_pipeline.settings import get_settings

    pool, _ = bank
    with pool.connection() as conn:
        FraudDetector().catch_up(conn)
        [alert_id] = conn.execute("SELECT min(alert_id) FROM fraud.alerts").fetchone()
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        done = runner.invoke(app, ["fraud", "review", str(alert_id), "fraud", "--by", "ana"])
        unknown = runner.invoke(app, ["fraud", "review", "999999999", "fraud", "--by", "ana"])
        bad = runner.invoke(app, ["fraud", "review", str(alert_id), "perhaps", "--by", "ana"])
        listed = runner.invoke(app, ["fraud", "alerts", "--json"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0 and f"alert {alert_id}: fraud, reviewed by ana" in done.stdout
    assert unknown.exit_code == 1 and "no fraud alert 999999999" in unknown.output
    assert bad.exit_code == 1 and "fraud, legitimate" in bad.output
    verdicts = {doc["alert_id"]: doc["verdict"] for doc in map(json.loads, listed.stdout.splitlines())}
    assert verdicts[alert_id] == "fraud"
