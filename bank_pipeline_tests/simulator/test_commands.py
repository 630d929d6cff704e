"""`bank-pipeline simulate` and `bank-pipeline bench simulate`, small."""

import typer
from rich.console import Console
from typer.testing import CliRunner

from bank_pipeline.bench import simulate as bench_simulate
from bank_pipeline.cli.simulate import simulate
from bank_pipeline.ingest.landing import recognise

app = typer.Typer()
app.command()(simulate)
runner = CliRunner()


def test_simulate_writes_the_landing_zone_and_prints_its_summary(tmp_path):
    result = runner.invoke(
        app, ["--customers", "40", "--days", "2", "--seed", "3", "--out", str(tmp_path), "--start", "2026-12-24"]
    )
    assert result.exit_code == 0, result.output
    assert "40 customers" in result.output and "Landing files" in result.output and "card_testing" in result.output
    days = {recognise(path).day.isoformat() for path in tmp_path.iterdir() if recognise(path)}
    assert days == {"2026-12-24", "2026-12-25"}


def test_simulate_defaults_to_the_configured_landing_zone(tmp_path, monkeypatch):
    from bank_pipeline.settings import get_settings

    monkeypatch.setenv("BANK_PIPELINE_LANDING_DIR", str(tmp_path / "zone"))
    get_settings.cache_clear()
    try:
        assert runner.invoke(app, ["--customers", "5", "--days", "1"]).exit_code == 0
    finally:
        get_settings.cache_clear()
    assert any(recognise(path) for path in (tmp_path / "zone").iterdir())


def test_simulate_refuses_impossible_arguments_with_one_clear_line(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("not a directory")
    for arguments, message in (
        (["--customers", "-5", "--out", str(tmp_path)], "at least one customer"),
        (["--out", str(afile)], "not a directory"),
        (["--bad-share", "1.5", "--out", str(tmp_path)], "bad_share"),
    ):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 1 and "error: " in result.output and message in result.output, result.output
        assert "Traceback" not in result.output


def test_the_bench_measures_us_against_polars_writing_alone():
    console = Console(record=True, width=200)
    report = bench_simulate.run(customers=300, days=2, seed=1, console=console)
    assert report.summary.transactions > 300 and report.baseline_rows == report.summary.transactions
    assert report.csv_files + report.parquet_files >= 8 and report.baseline_bytes > 0
    assert 0 < report.ratio < 10 and report.transactions_per_second > 0
    bench_simulate.render(report, console)
    text = console.export_text()
    assert "transactions / s" in text and ("met" in text or "MISSED" in text) and "ratio ours / polars" in text
