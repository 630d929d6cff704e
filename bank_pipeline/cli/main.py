"""The `bank-pipeline` command."""

import time
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bank_pipeline.cli import audit, bench, db
from bank_pipeline.cli.errors import operator_errors
from bank_pipeline.domain.money import format_amount
from bank_pipeline.runtime import Runtime
from bank_pipeline.store.audit import verify

app = typer.Typer(
    help="bank_pipeline: an event-sourced bank on PostgreSQL, orchestrated by Dagster.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(audit.app, name="audit")
app.add_typer(bench.app, name="bench")


@app.command()
@operator_errors
def demo() -> None:
    """Run a small scripted bank on the (embedded) PostgreSQL and print what happened. Safe to re-run."""
    from bank_pipeline.demo import run_demo, script

    console = Console()
    started = time.perf_counter()
    with Runtime.open(migrate_schema=True) as runtime:
        console.print(f"database: {runtime.url}")
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("running the scripted bank", total=len(script(datetime.now(UTC))))
            outcome = run_demo(runtime.handler, on_step=lambda name: progress.update(task, advance=1, description=name))
        sealed = len(runtime.store.seal_all_digests())
        with runtime.pool.connection() as conn:
            report = verify(conn)
            account_streams = [
                row[0]
                for row in conn.execute(
                    "SELECT stream_id FROM event_store.streams WHERE category = 'account' ORDER BY stream_id"
                )
            ]
        accounts_now, _ = runtime.handler.load(account_streams)
    elapsed = time.perf_counter() - started

    console.print(
        f"[bold]{len(outcome.applied)}[/] commands applied, {len(outcome.replayed)} already applied earlier "
        f"(idempotency keys), {len(outcome.refused)} refused by the domain; "
        f"{outcome.events_appended} events appended in {elapsed:.1f}s"
    )
    if outcome.refused:
        refused = Table("step", "error code", "message", title="Refused (nothing appended)")
        for name, code, message in outcome.refused:
            refused.add_row(name, code, message)
        console.print(refused)
    accounts = Table("account stream", "currency", "ledger balance", "status", title="Accounts")
    for stream_id, account in accounts_now.items():
        accounts.add_row(
            stream_id, account.currency, format_amount(account.ledger_balance, account.currency), account.status
        )
    console.print(accounts)
    console.print(
        f"audit: {report.events_checked} events, {report.digests_checked} digests "
        f"({sealed} sealed now): {'OK' if report.ok else 'PROBLEM: ' + report.first_problem.message}"
    )
    console.print(
        "next: `bank-pipeline audit verify`, `bank-pipeline db psql`, or the Dagster UI: "
        "`dagster dev -w workspace.yaml`"
    )


if __name__ == "__main__":
    app()
