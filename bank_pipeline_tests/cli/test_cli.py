import pytest
import typer
from typer.testing import CliRunner

from bank_pipeline.cli.main import app
from bank_pipeline.dagster_home import dagster_database
from bank_pipeline.db import connect
from bank_pipeline.db.databases import drop_database
from bank_pipeline.ingest.landing import recognise
from bank_pipeline.settings import get_settings

runner = CliRunner()


def all_command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths = []

    def walk(command, path: list[str]) -> None:
        paths.append(path)
        if hasattr(command, "commands"):  # a group (typer vendors its own click classes)
            for name, sub in command.commands.items():
                walk(sub, path + [name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "bank-pipeline")
def test_every_command_has_help(path):
    result = runner.invoke(app, path + ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_expected_commands_exist():
    names = {" ".join(p) for p in all_command_paths()}
    assert {
        "db start",
        "db stop",
        "db status",
        "db url",
        "db migrate",
        "db psql",
        "audit verify",
        "audit seal",
        "demo",
        "simulate",
        "ingest",
        "ui",
        "bench transfers",
        "bench append",
        "bench simulate",
        "bench ingest",
        "worker",
        "replay",
        "projections status",
        "projections rebuild",
        "bench projections",
        "bench projection-lag",
        "bench replay",
        "statement",
        "bench statements",
        "fraud worker",
        "fraud alerts",
        "fraud review",
        "fraud thresholds",
        "bench fraud",
        "bench fraud-quality",
        "api",
        "token",
    } <= names


def test_db_status_url_and_migrate_on_the_configured_database(database_url):
    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 0, status.output
    assert "external" in status.output and "0 pending" in status.output
    url = runner.invoke(app, ["db", "url"])
    assert url.stdout.strip() == database_url
    migrate = runner.invoke(app, ["db", "migrate"])
    assert migrate.exit_code == 0 and "0 applied" in migrate.output


def test_db_start_refuses_to_manage_an_external_database(database_url):
    result = runner.invoke(app, ["db", "start"])
    assert result.exit_code == 1
    assert "only manages the embedded PostgreSQL" in result.output


def test_an_unreachable_database_is_a_clear_error_not_a_traceback(monkeypatch):
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nowhere")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["audit", "verify"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "cannot connect to PostgreSQL" in result.output
    assert "Traceback" not in result.output


def test_demo_ingests_a_simulated_bank_through_dagster_and_a_second_run_appends_nothing(
    fresh_database_url, server_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("BANK_PIPELINE_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        first = runner.invoke(app, ["demo", "--customers", "40", "--days", "2"])
        with connect(fresh_database_url) as conn:
            events_after_first = conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]
            files = conn.execute(
                "SELECT file_name, status, received, accepted, duplicate, quarantined FROM ingest.files"
            ).fetchall()
            read_model = conn.execute(
                "SELECT events_projected, (SELECT count(*) FROM projections.account_balances) "
                "FROM projections.checkpoints"
            ).fetchone()
            fraud = conn.execute(
                "SELECT (SELECT events_seen FROM fraud.checkpoints), "
                "(SELECT count(DISTINCT account_id) FROM fraud.alerts WHERE action = 'frozen'), "
                "(SELECT count(*) FROM event_store.events WHERE event_type = 'AccountFrozen' "
                "   AND metadata->>'actor' = 'fraud-detector')"
            ).fetchone()
        second = runner.invoke(app, ["demo", "--customers", "40", "--days", "2"])
        with connect(fresh_database_url) as conn:
            events_after_second = conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]
    finally:
        get_settings.cache_clear()
        drop_database(server_url, dagster_database(fresh_database_url))
    assert first.exit_code == 0, first.output
    landing_files = sorted(p.name for p in (tmp_path / "landing").iterdir() if recognise(p))
    assert sorted(f[0] for f in files) == landing_files  # every landing file was ingested, once
    assert all(status in ("ingested", "unreadable", "duplicate_file") for _, status, *_ in files)
    assert all(received == accepted + duplicate + quarantined for _, s, received, accepted, duplicate, quarantined
               in files if s == "ingested")  # fmt: skip
    assert events_after_first > 0
    first_text = " ".join(first.output.split())
    assert f"ingested: {len(landing_files)} new file(s)" in first_text
    assert "history intact" in first_text
    assert read_model[0] == events_after_first and read_model[1] > 0  # the read model caught up with every event
    assert "reconciliation: balances_equal_event_fold passed, double_entry_per_currency passed" in first_text
    assert "bank-pipeline replay --account" in first_text
    month = tmp_path / "statements" / "2026-11"
    manifest = (month / "manifest.jsonl").read_text().splitlines()
    assert len(manifest) == read_model[1]  # a statement for every account (all opened in the simulated month)
    assert {p.name for p in month.iterdir()} == {"manifest.jsonl", "pdf", "csv", "camt053", "mt940"}
    assert (
        f"statements 2026-11: {len(manifest):,} accounts, {4 * len(manifest):,} files (pdf, csv, camt.053, mt940)"
        in first_text
    )
    assert "statements_match_read_model passed" in first_text and "bank-pipeline statement --account" in first_text
    assert "first generation" in first_text
    events_judged, frozen_by_alerts, freezes = fraud
    # every event judged, once; each frozen account frozen by exactly one audited command
    assert f"fraud: {events_judged:,} events judged this run" in first_text and frozen_by_alerts == freezes
    assert events_judged == events_after_first - freezes
    assert f"{frozen_by_alerts} account(s) frozen by the detector" in first_text

    assert second.exit_code == 0, second.output
    assert "ingested: 0 new file(s)" in " ".join(second.output.split())
    assert events_after_second == events_after_first
    assert "0 changed since the previous generation" in " ".join(second.output.split())
    # the second run's detector sees only the first run's freezes, and raises nothing new
    assert f"fraud: {freezes} events judged this run" in " ".join(second.output.split())
