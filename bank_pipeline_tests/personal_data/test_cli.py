"""`bank-pipeline customer` and `bank-pipeline hold` (their Typer apps, as the main CLI mounts them)."""

from typer.testing import CliRunner

from bank_pipeline.cli.customers import customer_app, hold_app
from bank_pipeline.domain import commands as c

runner = CliRunner()


def test_holds_block_erasure_from_the_command_line(database_url, handler, unique, tmp_path, monkeypatch):
    monkeypatch.setenv("BANK_PIPELINE_STATEMENT_DIR", str(tmp_path))
    from bank_pipeline.settings import get_settings

    get_settings.cache_clear()
    customer_id = f"cli-{unique}"
    handler.execute(c.RegisterCustomer(customer_id, "Quentin Cliuser", "q@example.org", "3 Shell St"))
    placed = runner.invoke(hold_app, ["place", customer_id, "--hold-id", "h1", "--reason", "inquiry", "--case", "C-9"])
    assert placed.exit_code == 0, placed.output
    listed = runner.invoke(hold_app, ["list", "--customer", customer_id])
    assert "C-9" in listed.output and "active" in listed.output
    refused = runner.invoke(customer_app, ["erase", customer_id, "--reason", "request"])
    assert refused.exit_code == 1 and "legal_hold_applies" in refused.output
    assert runner.invoke(hold_app, ["release", customer_id, "h1", "--reason", "done"]).exit_code == 0
    shown = runner.invoke(customer_app, ["show", customer_id])
    assert "Quentin Cliuser" in shown.output and "pii:" not in shown.output
    erased = runner.invoke(customer_app, ["erase", customer_id, "--reason", "request"])
    assert erased.exit_code == 0, erased.output
    shown = runner.invoke(customer_app, ["show", customer_id])
    assert "Quentin" not in shown.output and "[erased]" in shown.output
    get_settings.cache_clear()
