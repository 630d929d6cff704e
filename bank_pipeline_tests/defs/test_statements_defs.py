"""The monthly statements asset, its checks, schedule and the ad-hoc range job, against the real database: a run
catches the read model up and writes the month; a second run regenerates the same bytes; a back-dated entry
shows up as the one changed statement and breaks the chain with the month before until that is regenerated."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.defs.resources import BankDatabase, StatementStoreResource
from bank_pipeline.defs.statements.assets import monthly_statements
from bank_pipeline.defs.statements.checks import CAMT053_CHECK, CHAIN_CHECK, RECONCILIATION_CHECK
from bank_pipeline.defs.statements.jobs import statements_for_a_range
from bank_pipeline.defs.statements.schedules import monthly_statements_schedule
from bank_pipeline.domain import commands as c
from bank_pipeline.store import EventStore
from bank_pipeline_tests.statements.statement_bank import TRICKY, build_statement_bank

OCTOBER_ACCOUNT = "october-acct"


@pytest.fixture
def handler(fresh_database_url):
    with make_pool(fresh_database_url, max_size=4) as pool:
        handler = CommandHandler(EventStore(pool))
        build_statement_bank(handler)  # not projected: the asset catches the read model up first
        open_an_account_in_october(handler)
        yield handler


def open_an_account_in_october(handler: CommandHandler) -> None:
    def at(day: int, command) -> None:
        handler.execute(command, occurred_at=datetime(2026, 10, day, 9, 0, tzinfo=UTC))

    at(5, c.RegisterCustomer("october-cust", "Olga", "olga@example.org", "5 Oct St"))
    at(5, c.ChangeKycStatus("october-cust", "verified"))
    at(6, c.OpenAccount(OCTOBER_ACCOUNT, "october-cust", "EUR", "current", 0))
    at(7, c.CreditAccount(OCTOBER_ACCOUNT, 50_000, "EUR", "oct-in-1", "Employer", "salary"))
    at(20, c.DebitAccount(OCTOBER_ACCOUNT, 12_000, "EUR", "oct-out-1", "Landlord", "rent"))


def materialize(url: str, root: Path, instance, month: str, formats=("csv", "camt053")):
    return dg.materialize(
        [monthly_statements],
        partition_key=month,
        resources={
            "bank_db": BankDatabase(database_url=url),
            "statement_store": StatementStoreResource(path=str(root), formats=list(formats)),
        },
        instance=instance,
        raise_on_error=False,
    )


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def metadata(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def test_a_month_is_written_checked_and_regenerated_identically(
    handler, fresh_database_url, dagster_instance, tmp_path
) -> None:
    first = materialize(fresh_database_url, tmp_path, dagster_instance, "2026-11-01")
    assert first.success
    results = checks(first)
    assert results[RECONCILIATION_CHECK].passed and results[CHAIN_CHECK].passed and results[CAMT053_CHECK].passed
    written = metadata(first)
    manifest = [json.loads(line) for line in (tmp_path / "2026-11" / "manifest.jsonl").read_text().splitlines()]
    assert written["statements"] == len(manifest) > 20
    assert written["files"] == 2 * len(manifest)
    assert written["read_model_caught_up"] is True and written["regenerated"] is False
    assert results[CAMT053_CHECK].metadata["validated"].value == len(manifest)

    second = materialize(fresh_database_url, tmp_path, dagster_instance, "2026-11-01")
    again = metadata(second)
    assert (again["regenerated"], again["changed_since_previous_generation"]) == (True, 0)
    assert again["manifest_sha256"] == written["manifest_sha256"]


def test_a_back_dated_entry_is_the_one_changed_statement_and_breaks_the_chain_until_regenerated(
    handler, fresh_database_url, dagster_instance, tmp_path
) -> None:
    assert materialize(fresh_database_url, tmp_path, dagster_instance, "2026-10-01").success
    assert materialize(fresh_database_url, tmp_path, dagster_instance, "2026-11-01").success
    handler.execute(
        c.DebitAccount(OCTOBER_ACCOUNT, 500, "EUR", f"late-{uuid.uuid4().hex[:6]}", "Fee"),
        occurred_at=datetime(2026, 10, 30, 18, 0, tzinfo=UTC),
    )

    november = materialize(fresh_database_url, tmp_path, dagster_instance, "2026-11-01")
    assert november.success
    assert metadata(november)["first_changed_accounts"] == OCTOBER_ACCOUNT
    chain = checks(november)[CHAIN_CHECK]
    assert not chain.passed and chain.severity == dg.AssetCheckSeverity.WARN
    assert OCTOBER_ACCOUNT in chain.metadata["first_breaks"].value

    october = materialize(fresh_database_url, tmp_path, dagster_instance, "2026-10-01")
    assert metadata(october)["first_changed_accounts"] == OCTOBER_ACCOUNT
    assert checks(materialize(fresh_database_url, tmp_path, dagster_instance, "2026-11-01"))[CHAIN_CHECK].passed


def test_the_range_job_writes_chosen_accounts_and_fails_clearly_on_an_unknown_one(
    handler, fresh_database_url, dagster_instance, tmp_path
) -> None:
    definitions = dg.Definitions(
        jobs=[statements_for_a_range],
        resources={
            "bank_db": BankDatabase(database_url=fresh_database_url),
            "statement_store": StatementStoreResource(path=str(tmp_path)),
        },
    )
    job = definitions.resolve_job_def("statements_for_a_range")

    def run(**config):
        return job.execute_in_process(
            run_config={"ops": {"statements_for_range": {"config": config}}}, instance=dagster_instance,
            raise_on_error=False,
        )  # fmt: skip

    result = run(first_day="2026-11-02", last_day="2026-11-05", account_ids=[TRICKY], formats=["pdf", "mt940"])
    assert result.success
    directory = tmp_path / "ranges" / "2026-11-02_2026-11-05"
    assert sorted(p.name for p in directory.rglob("*") if p.is_file()) == sorted(
        ["manifest.jsonl", f"{TRICKY}-2026-11-02_2026-11-05.pdf", f"{TRICKY}-2026-11-02_2026-11-05.sta"]
    )
    failed = run(first_day="2026-11-02", last_day="2026-11-05", account_ids=["nobody"])
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "'nobody' is not in the read model" in failure.event_specific_data.error.message
    backwards = run(first_day="2026-11-05", last_day="2026-11-02")
    assert not backwards.success


def test_the_schedule_asks_on_the_first_for_the_month_that_ended() -> None:
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    assert monthly_statements_schedule(context).partition_key == "2026-11-01"
    january = dg.build_schedule_context(scheduled_execution_time=datetime(2027, 1, 1, 2, 0, tzinfo=UTC))
    assert monthly_statements_schedule(january).partition_key == "2026-12-01"
