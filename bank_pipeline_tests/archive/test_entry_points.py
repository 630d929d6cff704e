"""The CLI sub-app and the Dagster asset, against the real database."""

import dagster as dg
import psycopg
from typer.testing import CliRunner

from bank_pipeline.cli.archive import app
from bank_pipeline.defs.archive.assets import event_archive
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.settings import get_settings
from bank_pipeline_tests.archive.test_archive import LATER, MONTH, history, partition_exists


def test_cli_run_archives_due_months_and_list_shows_them(fresh_store, fresh_database_url, monkeypatch, tmp_path):
    history(fresh_store)
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        kept = runner.invoke(app, ["run", "--store", str(tmp_path)])
        assert kept.exit_code == 0, kept.output
        assert "0 month(s) archived" in kept.output
        done = runner.invoke(app, ["run", "--now", LATER.isoformat(), "--store", str(tmp_path)])
        assert done.exit_code == 0, done.output
        assert f"{MONTH:%Y-%m}: archived 213 events" in done.output and "B/event" in done.output
        listed = runner.invoke(app, ["list"])
        assert listed.exit_code == 0 and f"{MONTH:%Y-%m}" in listed.output and "213" in listed.output
        refused = runner.invoke(app, ["run", "--now", "yesterday"])
        assert refused.exit_code == 1 and "ISO 8601" in refused.output
    finally:
        get_settings.cache_clear()


def materialize(url: str, instance, config: dict):
    return dg.materialize(
        [event_archive],
        partition_key=MONTH.isoformat(),
        resources={"bank_db": BankDatabase(database_url=url)},
        run_config={"ops": {"event_archive": {"config": config}}},
        instance=instance,
        raise_on_error=False,
    )


def test_the_asset_keeps_a_hot_month_and_archives_a_due_one(
    fresh_store, fresh_database_url, dagster_instance, tmp_path
):
    history(fresh_store)
    hot = materialize(fresh_database_url, dagster_instance, {"store_uri": str(tmp_path)})
    assert hot.success and hot.get_asset_materialization_events() == []

    due = materialize(fresh_database_url, dagster_instance, {"store_uri": str(tmp_path), "now": LATER.isoformat()})
    assert due.success
    [event] = due.get_asset_materialization_events()
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    assert metadata["events"] == 213 and metadata["bytes"] > 0 and len(metadata["chain_digest"]) == 64
    with psycopg.connect(fresh_database_url) as conn:
        assert not partition_exists(conn)
