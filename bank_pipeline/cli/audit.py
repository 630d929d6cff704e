"""`bank-pipeline audit ...`: tamper evidence for auditors."""

import typer

from bank_pipeline.cli.errors import operator_errors
from bank_pipeline.runtime import Runtime
from bank_pipeline.store.audit import verify as verify_store

app = typer.Typer(help="Verify the hash chains and digests; seal new digests.", no_args_is_help=True)


@app.command()
@operator_errors
def verify(show: int = typer.Option(10, help="How many findings to print.")) -> None:
    """Check every event's hash, every stream's chain and head, and every sealed digest.

    Exits 0 when everything matches; otherwise names the first modified, deleted or inserted event and exits 2.
    """
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        report = verify_store(conn)
    typer.echo(
        f"checked {report.events_checked} events in {report.streams_checked} streams "
        f"and {report.digests_checked} digests"
    )
    if report.ok:
        typer.secho("OK: every hash, chain, stream head and digest matches", fg=typer.colors.GREEN)
        return
    first = report.first_problem
    typer.secho(f"TAMPERING DETECTED: first problem: [{first.kind}] {first.message}", fg=typer.colors.RED)
    for finding in report.findings[1:show]:
        typer.echo(f"  also: [{finding.kind}] {finding.message}")
    if len(report.findings) > show:
        typer.echo(f"  ... and {len(report.findings) - show} more")
    raise typer.Exit(2)


@app.command()
@operator_errors
def seal(max_events: int = typer.Option(100_000, help="Largest number of events in one digest.")) -> None:
    """Seal digests over every final event not yet covered by one."""
    with Runtime.open() as runtime:
        sealed = runtime.store.seal_all_digests(max_events)
    for digest in sealed:
        typer.echo(
            f"digest {digest['digest_number']}: {digest['event_count']} events through position "
            f"{digest['last_position']}: {digest['digest'].hex()}"
        )
    typer.echo(f"sealed {len(sealed)} digest(s)")
