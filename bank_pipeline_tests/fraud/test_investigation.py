"""The slow path: a window of the stream behind the fast path shows a mule ring and a customer with alerts on
two accounts; investigating it again finds the same cases; the sensor launches each window once, keyed by it,
and never skips past events it has not investigated."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.defs.fraud.investigation import fraud_cases, fraud_investigation_sensor
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.domain import commands as c
from bank_pipeline.fraud.detector import FraudDetector, read_checkpoint
from bank_pipeline.fraud.investigation import investigate
from bank_pipeline.projections.catching_up import catch_up_with_committed_events
from bank_pipeline.store import EventStore
from bank_pipeline.store.records import Checkpoint
from bank_pipeline_tests.fraud.test_detector import build_fraudulent_history

RING_START = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def build_mule_ring(handler: CommandHandler) -> None:
    """Four accounts pay `collector`, which sends most of it on to `receiver` two hours later."""
    handler.execute(c.RegisterCustomer("ring-cust", "Ring", "r@example.org", "1 St"), occurred_at=RING_START)
    handler.execute(c.ChangeKycStatus("ring-cust", "verified"), occurred_at=RING_START)
    for account in ("collector", "receiver", *(f"payer-{n}" for n in range(4))):
        handler.execute(c.OpenAccount(account, "ring-cust", "EUR", "current", 0), occurred_at=RING_START)
    for n in range(4):
        handler.execute(c.CreditAccount(f"payer-{n}", 100_000, "EUR", f"ring-fund-{n}", "Employer"),
                        occurred_at=RING_START)  # fmt: skip
        handler.execute(c.TransferInternal(f"ring-in-{n}", f"payer-{n}", "collector", 40_000, "EUR"),
                        occurred_at=RING_START + timedelta(minutes=10 * n))  # fmt: skip
    handler.execute(c.TransferInternal("ring-out", "collector", "receiver", 150_000, "EUR"),
                    occurred_at=RING_START + timedelta(hours=2))  # fmt: skip


@pytest.fixture
def bank(fresh_database_url):
    with make_pool(fresh_database_url, max_size=4) as pool:
        handler = CommandHandler(EventStore(pool))
        build_fraudulent_history(handler)
        build_mule_ring(handler)
        assert catch_up_with_committed_events(pool, timeout=60).complete
        with pool.connection() as conn:
            FraudDetector().catch_up(conn)
        yield pool


def test_a_window_shows_the_ring_and_the_customer_and_again_the_same(bank) -> None:
    with bank.connection() as conn:
        upto = read_checkpoint(conn)
        cases = {case.key: case for case in investigate(conn, Checkpoint(0, 0), upto)}
        ring = cases["mule_ring:collector"]
        assert set(ring.accounts) == {"collector", "receiver", "payer-0", "payer-1", "payer-2", "payer-3"}
        assert (ring.evidence["payers"], ring.evidence["paid_in"], ring.evidence["paid_out"]) == (4, 160_000, 150_000)
        pattern = cases["customer_pattern:fraud-cust"]
        assert set(pattern.accounts) == {"tested-acct", "mule-acct"}
        assert not any(key.startswith("mule_ring:payer") for key in cases)

        again = investigate(conn, Checkpoint(0, 0), upto)
        assert {case.key for case in again} == set(cases)
        stored = conn.execute("SELECT case_key FROM fraud.cases ORDER BY 1").fetchall()
    assert [key for (key,) in stored] == sorted(cases)


def test_the_sensor_launches_each_window_once_and_the_run_records_its_cases(bank, fresh_database_url, dagster_instance):
    resources = {"bank_db": BankDatabase(database_url=fresh_database_url)}
    first = fraud_investigation_sensor(dg.build_sensor_context(instance=dagster_instance, resources=resources))
    assert isinstance(first, dg.RunRequest)
    with bank.connection() as conn:
        upto = read_checkpoint(conn)
    assert first.run_key == f"fraud-window-0:0-{upto.transaction_id}:{upto.global_position}"

    context = dg.build_sensor_context(
        instance=dagster_instance, resources=resources, cursor=f"{upto.transaction_id}:{upto.global_position}"
    )
    assert isinstance(fraud_investigation_sensor(context), dg.SkipReason)  # nothing new past the cursor

    result = dg.materialize(
        [fraud_cases], instance=dagster_instance, resources=resources,
        run_config=first.run_config,
    )  # fmt: skip
    [event] = result.get_asset_materialization_events()
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    assert metadata["mule_rings"] >= 1 and metadata["customer_patterns"] >= 1
    assert "collector" in metadata["found"]
