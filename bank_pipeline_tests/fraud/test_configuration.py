"""Operators set the fraud thresholds in a TOML file; a wrong key or value is a clear error, never a default."""

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from bank_pipeline.cli.main import app
from bank_pipeline.domain.fraud import FraudThresholds
from bank_pipeline.fraud.configuration import InvalidFraudThresholds, load_thresholds
from bank_pipeline.settings import get_settings


def test_a_file_overrides_the_defaults_it_names(tmp_path) -> None:
    path = tmp_path / "thresholds.toml"
    path.write_text('dormant_after = "P90D"\ncard_testing_window = 600\nvelocity_payments = 6\n')
    limits = load_thresholds(path)
    assert (limits.dormant_after, limits.card_testing_window) == (timedelta(days=90), timedelta(minutes=10))
    assert limits.velocity_payments == 6
    assert limits.structuring_payments == FraudThresholds().structuring_payments


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dormant_afterr = 3\n", "unknown fraud threshold(s) dormant_afterr"),
        ('velocity_payments = "many"\n', "velocity_payments: Input should be a valid integer"),
        ("velocity_payments = \n", "cannot read the fraud thresholds file"),
    ],
)
def test_a_wrong_file_is_refused_with_what_is_wrong(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "thresholds.toml"
    path.write_text(text)
    with pytest.raises(InvalidFraudThresholds, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_thresholds(path)
    with pytest.raises(InvalidFraudThresholds, match="cannot read"):
        load_thresholds(tmp_path / "missing.toml")


def test_the_thresholds_command_shows_what_is_in_force_and_fails_on_a_bad_file(tmp_path, monkeypatch) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text("velocity_payments = 7\n")
    bad.write_text("velocity = 7\n")
    results = {}
    for name, path in (("good", good), ("bad", bad)):
        monkeypatch.setenv("BANK_PIPELINE_FRAUD_THRESHOLDS", str(path))
        get_settings.cache_clear()
        try:
            results[name] = CliRunner().invoke(app, ["fraud", "thresholds"], env={"COLUMNS": "200"})
        finally:
            get_settings.cache_clear()
    assert results["good"].exit_code == 0 and "velocity_payments" in results["good"].stdout
    row = next(line for line in results["good"].stdout.splitlines() if "velocity_payments" in line)
    assert "7" in row and "5" in row  # in force, and the default beside it
    assert results["bad"].exit_code == 1 and "unknown fraud threshold(s) velocity" in results["bad"].output
