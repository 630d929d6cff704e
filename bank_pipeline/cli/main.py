"""The `bank-pipeline` command."""

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bank_pipeline.cli import api as api_commands
from bank_pipeline.cli import archive, audit, bench, customers, db, fraud, projections
from bank_pipeline.cli.errors import fail, operator_errors
from bank_pipeline.cli.replay import replay
from bank_pipeline.cli.simulate import simulate
from bank_pipeline.cli.statement import statement
from bank_pipeline.cli.worker import worker
from bank_pipeline.dagster_home import prepare_dagster_home
from bank_pipeline.demo import DEMO_CUSTOMERS, DEMO_DAYS, DEMO_SEED
from bank_pipeline.domain.money import format_amount
from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings

app = typer.Typer(
    help="bank_pipeline: an event-sourced bank on PostgreSQL, orchestrated by Dagster.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(audit.app, name="audit")
app.add_typer(archive.app, name="archive")
app.add_typer(bench.app, name="bench")
app.add_typer(projections.app, name="projections")
app.add_typer(fraud.app, name="fraud")
app.add_typer(customers.customer_app, name="customer")
app.add_typer(customers.hold_app, name="hold")
api_commands.register(app)
app.command()(simulate)
app.command()(replay)
app.command()(statement)
app.command()(worker)


@app.command()
@operator_errors
def demo(
    customers: int = typer.Option(DEMO_CUSTOMERS, min=1, help="Customers of the simulated bank."),
    days: int = typer.Option(DEMO_DAYS, min=1, help="Business days simulated."),
    seed: int = typer.Option(DEMO_SEED, help="Simulation seed (same seed, same files)."),
) -> None:
    """From nothing: migrate, simulate a small bank into the landing zone, ingest every file through Dagster
    (one run per file, in landing order), seal digests and verify history; then print what happened.
    Safe to re-run."""
    from bank_pipeline.demo import run_demo

    console = Console()
    with Progress(console=console, transient=True) as progress:
        phase = {"task": None}

        def on_phase(description: str, total: int) -> None:
            if phase["task"] is not None:
                progress.update(phase["task"], completed=progress.tasks[phase["task"]].total)
            phase["task"] = progress.add_task(description, total=max(total, 1))

        def on_step(step: str) -> None:
            progress.update(phase["task"], advance=1)

        summary = run_demo(customers=customers, days=days, seed=seed, on_phase=on_phase, on_step=on_step)
    render_demo(summary, console)


def render_demo(summary, console: Console) -> None:
    simulation = summary.simulation
    console.print(
        f"simulated: {simulation.customers:,} customers, {simulation.accounts:,} accounts, "
        f"{simulation.transactions:,} transactions into {summary.landing_dir}"
    )
    new_runs = summary.file_runs
    failed = [run for run in new_runs if not run.succeeded]
    console.print(
        f"ingested: {len(new_runs)} new file(s) this run ({len(failed)} stopped by a blocking check or an error); "
        f"files by status overall: {dict(summary.files_by_status) or 'none'}"
    )
    totals = summary.totals
    rows = Table("rows received", "accepted", "duplicate", "quarantined", "events appended", title="All landing files")
    rows.add_row(
        *(f"{totals.get(k, 0):,}" for k in ("received", "accepted", "duplicate", "quarantined", "events_appended"))
    )
    console.print(rows)
    if summary.quarantined_by_reason:
        reasons = Table("reason", "rows", title="Quarantined rows by reason (ingest.quarantine)")
        for reason, count in summary.quarantined_by_reason.items():
            reasons.add_row(reason, f"{count:,}")
        console.print(reasons)
    for run in failed:
        if run.blocked_by:
            console.print(
                f"[yellow]{run.file_name}[/]: its blocking check {run.blocked_by} failed (too many of its rows "
                "quarantined), so its run stopped before the quarantine report; the rows are in ingest.quarantine"
            )
        else:
            console.print(f"[yellow]{run.file_name}: run failed[/]: {run.error or 'see the run in the UI'}")
    read_model = summary.read_model
    if read_model is not None:
        checks = ", ".join(
            f"{name} {'passed' if passed else '[red]FAILED[/]'}" for name, passed in read_model.checks.items()
        )
        balances = ", ".join(
            f"{currency} {format_amount(total, currency)}"
            for currency, total in read_model.balances_by_currency.items()
        )
        console.print(
            f"read model ({read_model.first_day}..{read_model.last_day}): {read_model.accounts:,} accounts, "
            f"{read_model.entries:,} entries, {read_model.events_projected:,} events projected this run; "
            f"balances {balances or 'none'}; reconciliation: {checks}"
        )
    fraud = summary.fraud
    if fraud is not None:
        alerts = ", ".join(f"{rule} {count}" for rule, count in fraud.alerts_by_rule.items()) or "none"
        graded = fraud.score
        quality = (
            f"; against the simulator's labels: recall {graded.recall:.2f} ({graded.instances_hit}/{graded.instances}"
            f" instances), precision {graded.precision:.2f} ({graded.alerts_on_fraud}/{graded.alerts} alerts)"
            if graded is not None and graded.instances and graded.alerts
            else ""
        )
        console.print(
            f"fraud: {fraud.events_judged:,} events judged this run; alerts {alerts}; {fraud.accounts_frozen} "
            f"account(s) frozen by the detector; {fraud.cases} case(s) investigated{quality}"
        )
    for run in summary.statements:
        checks = ", ".join(f"{name} {'passed' if passed else '[red]FAILED[/]'}" for name, passed in run.checks.items())
        console.print(
            f"statements {run.month}: {run.statements:,} accounts, {run.files:,} files (pdf, csv, camt.053, mt940) "
            f"in {run.directory}; "
            + (f"{run.changed:,} changed since the previous generation" if run.regenerated else "first generation")
            + f"; checks: {checks}"
        )
    timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in summary.timings.items())
    console.print(f"timings: {timings}")
    console.print(
        f"event store: {summary.events_total:,} events; digests sealed now: {summary.digests_sealed_now}; "
        f"history {'intact (audit verify passed)' if summary.history_intact else 'NOT verified: see the UI'}"
    )
    console.print(
        f"next: `bank-pipeline ui` opens the Dagster UI on these runs (DAGSTER_HOME={summary.dagster_home}); "
        "`bank-pipeline audit verify`; `bank-pipeline db psql` then `SELECT * FROM ingest.quarantine`; "
        "`bank-pipeline worker` keeps the read model current within a second; `bank-pipeline fraud alerts` lists "
        "the fraud alerts and `bank-pipeline fraud review ID fraud|legitimate --by NAME` records a verdict."
    )
    if read_model is not None and read_model.example_account:
        console.print(
            f"replay an account: `bank-pipeline replay --account {read_model.example_account} "
            f"--as-of {read_model.example_instant}`"
        )
    for run in summary.statements[-1:]:
        if run.example_account:
            console.print(
                f"a statement: `bank-pipeline statement --account {run.example_account} --from {run.month}-01 "
                f"--to {run.last_day} --format pdf --out statement.pdf`"
            )


@app.command()
@operator_errors
def ingest() -> None:
    """Ingest every landing file not ingested yet, in landing order, without Dagster (the sensor and the
    ingested_landing_file asset do the same file by file)."""
    from bank_pipeline.ingest.ingestion import Ingestion, changed_after_ingestion
    from bank_pipeline.ingest.landing import unrecognised_names

    console = Console()
    landing_dir = get_settings().landing_path
    table = Table("file", "status", "received", "accepted", "duplicate", "quarantined", "seconds")
    table.columns[0].no_wrap = True
    with (
        Runtime.open(migrate_schema=True) as runtime,
        Ingestion(runtime.handler, runtime.pool, landing_dir) as ingestion,
    ):
        misnamed = unrecognised_names(landing_dir)
        if misnamed:
            console.print(f"[yellow]ignored, not landing file names:[/] {', '.join(misnamed[:10])}")
        changed = changed_after_ingestion(runtime.pool, landing_dir)
        if changed:
            console.print(
                f"[yellow]changed after they were ingested, not ingested again:[/] {', '.join(changed[:10])} "
                "(deliver corrections as new files, next sequence number)"
            )
        pending = ingestion.pending_files()
        try:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"ingesting {len(pending)} file(s) from {landing_dir}", total=len(pending))
                for landing in pending:
                    outcome = ingestion.ingest(landing_dir / landing.name)
                    counts = (outcome.received, outcome.accepted, outcome.duplicate, outcome.quarantined)
                    table.add_row(outcome.file_name, outcome.status, *map(str, counts), f"{outcome.seconds:.2f}")
                    progress.update(task, advance=1)
        finally:  # what was ingested before an error is reported too
            console.print(table if table.row_count else f"nothing ingested from {landing_dir}")


@app.command()
@operator_errors
def ui(port: int = typer.Option(3000, help="Port of the Dagster UI.")) -> None:
    """Open the Dagster UI (`dagster dev -w workspace.yaml`) on this project's Dagster home in PostgreSQL."""
    import os
    import subprocess

    home = prepare_dagster_home()
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    if not workspace.exists():
        fail(f"workspace.yaml not found next to the package ({workspace}): run from a source checkout")
    environment = {**os.environ, "DAGSTER_HOME": str(home)}
    Console().print(f"DAGSTER_HOME={home}; Dagster UI on http://127.0.0.1:{port}")
    raise typer.Exit(subprocess.call(["dagster", "dev", "-w", str(workspace), "-p", str(port)], env=environment,
                                     cwd=workspace.parent))  # fmt: skip


if __name__ == "__main__":
    app()
