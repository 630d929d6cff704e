"""`bank-pipeline statement`: any account, any range, any format, to a file or standard output; bad input is a
clear message and exit code 1."""

import pytest
from typer.testing import CliRunner

from bank_pipeline.cli.main import app
from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.settings import get_settings
from bank_pipeline.statements.formats.camt053 import validate_camt053
from bank_pipeline.statements.formats.csv import render_csv
from bank_pipeline.statements.reading import statement_for_account
from bank_pipeline_tests.statements.statement_bank import TRICKY, Bank

runner = CliRunner()


@pytest.fixture
def configured(bank: Bank, monkeypatch):
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", bank.url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_each_format_to_a_file(bank: Bank, conn, configured, tmp_path) -> None:
    for format_name, check in [
        ("pdf", lambda data: data.startswith(b"%PDF")),
        ("camt053", lambda data: validate_camt053(data) is None),
        ("mt940", lambda data: data.startswith(b":20:")),
    ]:
        out = tmp_path / f"statement.{format_name}"
        arguments = ["statement", "--account", TRICKY, "--from", "2026-11-01", "--to", "2026-11-30"]
        result = runner.invoke(app, [*arguments, "--format", format_name, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert check(out.read_bytes()), format_name
        assert f"statement {TRICKY}-2026-11: 7 entries" in result.stderr


def test_csv_to_standard_output_equals_the_renderer(bank: Bank, conn, configured) -> None:
    result = runner.invoke(
        app, ["statement", "--account", TRICKY, "--from", "2026-11-02", "--to", "2026-11-04", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    expected = render_csv(statement_for_account(conn, TRICKY, StatementPeriod.parse("2026-11-02", "2026-11-04")))
    assert result.stdout_bytes == expected


def test_a_range_before_the_account_opened_is_answered_not_refused(bank: Bank, configured) -> None:
    result = runner.invoke(
        app, ["statement", "--account", TRICKY, "--from", "2025-01-01", "--to", "2025-01-31", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert "The account was opened on 2026-11-03, after this period." in result.stderr


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--account", "nobody", "--from", "2026-11-01", "--to", "2026-11-30"], "'nobody' is not in the read model"),
        (["--account", TRICKY, "--from", "2026-11-30", "--to", "2026-11-01"], "starts (2026-11-30) after it ends"),
        (["--account", TRICKY, "--from", "yesterday", "--to", "2026-11-01"], "--from 'yesterday' is not a date"),
    ],
)
def test_bad_input_is_a_message_and_exit_code_1(bank: Bank, configured, arguments, message) -> None:
    result = runner.invoke(app, ["statement", *arguments, "--format", "csv"])
    assert result.exit_code == 1
    assert message in result.stderr
