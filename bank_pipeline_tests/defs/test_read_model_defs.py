"""The read model in Dagster against the real database: a run catches up and reconciles, a backfill over a
range of days rebuilds them in one run, a failed reconciliation names the accounts and stops the totals."""

import dagster as dg
import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.defs.projections.assets import BACKFILL_TAG, daily_ledger_totals, read_model
from bank_pipeline.defs.projections.checks import BALANCES_CHECK, DOUBLE_ENTRY_CHECK, LAG_CHECK
from bank_pipeline.defs.projections.schedules import read_model_every_five_minutes
from bank_pipeline.defs.projections.sensors import read_model_after_ingestion
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.store import EventStore
from bank_pipeline_tests.projections.expectations import assert_read_model_matches_events
from bank_pipeline_tests.projections.random_bank import build_random_bank
from bank_pipeline_tests.projections.read_model import whole_read_model


@pytest.fixture
def bank(fresh_database_url):
    with make_pool(fresh_database_url, max_size=4) as pool:
        store = EventStore(pool)
        accounts = build_random_bank(CommandHandler(store), seed=51, accounts=5, operations=100)
        yield store, accounts


def run(instance, url: str, *, partition_key: str | None = None, tags: dict | None = None):
    return dg.materialize(
        [read_model, daily_ledger_totals],
        partition_key=partition_key,
        resources={"bank_db": BankDatabase(database_url=url)},
        instance=instance,
        tags=tags,
        raise_on_error=False,
    )


def check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_a_run_catches_up_reconciles_and_totals_the_day(bank, fresh_database_url, dagster_instance) -> None:
    store, _ = bank
    result = run(dagster_instance, fresh_database_url, partition_key="2026-11-04")

    assert result.success
    checks = check_results(result)
    assert checks[BALANCES_CHECK].passed and checks[DOUBLE_ENTRY_CHECK].passed and checks[LAG_CHECK].passed
    assert materialized(result) == {"read_model", "daily_ledger_totals"}
    [read] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "read_model"]
    metadata = read.materialization.metadata
    assert metadata["events_projected_by_run"].value > 0
    assert metadata["entries_in_range"].value > 0
    assert metadata["events_behind_after_run"].value == 0
    assert_read_model_matches_events(store)


def test_a_backfill_rebuilds_its_days_in_one_run(bank, fresh_database_url, dagster_instance) -> None:
    store, _ = bank
    assert run(dagster_instance, fresh_database_url, partition_key="2026-11-03").success
    with store.pool.connection() as conn:
        good = whole_read_model(conn)
        conn.execute(
            "DELETE FROM projections.account_entries WHERE occurred_at >= '2026-11-03' AND occurred_at < '2026-11-05'"
        )
        conn.execute(
            "UPDATE projections.daily_balances SET debits = debits + 1, closing_balance = closing_balance - 1 "
            "WHERE business_day = '2026-11-04'"
        )

    result = run(
        dagster_instance,
        fresh_database_url,
        tags={
            "dagster/asset_partition_range_start": "2026-11-03",
            "dagster/asset_partition_range_end": "2026-11-04",
            BACKFILL_TAG: "test-backfill",
        },
    )

    assert result.success
    with store.pool.connection() as conn:
        assert whole_read_model(conn) == good
    partitions = {e.partition for e in result.get_asset_materialization_events()}
    assert partitions == {"2026-11-03", "2026-11-04"}


def test_a_wrong_balance_fails_the_blocking_check_names_the_account_and_stops_the_totals(
    bank, fresh_database_url, dagster_instance
) -> None:
    store, accounts = bank
    assert run(dagster_instance, fresh_database_url, partition_key="2026-11-04").success
    with store.pool.connection() as conn:
        conn.execute(
            "UPDATE projections.account_balances SET ledger_balance = ledger_balance - 10 WHERE account_id = %s",
            (accounts[1],),
        )

    result = run(dagster_instance, fresh_database_url, partition_key="2026-11-04")

    checks = check_results(result)
    assert not checks[BALANCES_CHECK].passed
    assert accounts[1] in checks[BALANCES_CHECK].description
    assert checks[BALANCES_CHECK].metadata["differing_accounts"].value == 1
    assert materialized(result) == {"read_model"}  # the totals did not run


def test_the_schedule_asks_for_today_and_the_sensor_for_the_ingested_files_day(dagster_instance) -> None:
    from datetime import UTC, datetime

    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 27, 10, 5, tzinfo=UTC))
    assert read_model_every_five_minutes(context).partition_key == "2026-11-27"

    dagster_instance.add_dynamic_partitions("landing_files", ["transactions_v2_20261103_0002.csv"])
    dagster_instance.report_runless_asset_event(
        dg.AssetMaterialization("ingested_landing_file", partition="transactions_v2_20261103_0002.csv")
    )
    requests = list(read_model_after_ingestion(dg.build_sensor_context(instance=dagster_instance)) or [])
    [request] = [r for r in requests if isinstance(r, dg.RunRequest)]
    assert request.partition_key == "2026-11-03"
