import pytest
import typer
from typer.testing import CliRunner

from bank_pipeline.cli.main import app
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
        "bench transfers",
        "bench append",
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


def test_demo_runs_and_a_second_run_appends_nothing(fresh_database_url, monkeypatch):
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    try:
        first = runner.invoke(app, ["demo"])
        second = runner.invoke(app, ["demo"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    first_text, second_text = " ".join(first.output.split()), " ".join(second.output.split())
    assert "27 commands applied" in first_text and "6 refused" in first_text
    assert "insufficient_funds" in first_text and "digests (1 sealed now): OK" in first_text
    assert second.exit_code == 0, second.output
    assert "0 commands applied, 27 already applied earlier" in second_text
    assert "0 events appended" in second_text
