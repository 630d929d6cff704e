"""`bank-pipeline audit ...`: tamper evidence for auditors."""

import json
from datetime import UTC, datetime

import typer

from bank_pipeline.cli.errors import operator_errors
from bank_pipeline.runtime import Runtime
from bank_pipeline.store.audit import verify as verify_store
from bank_pipeline.store.month_digests import prove_inclusion, publish_due_months, published_months

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
        f"checked {report.events_checked} events in {report.streams_checked} streams, "
        f"{report.digests_checked} digests and {report.months_checked} published month digests"
    )
    if report.ok:
        typer.secho("OK: every hash, chain, stream head, digest and month digest matches", fg=typer.colors.GREEN)
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


@app.command()
@operator_errors
def publish(
    now: datetime = typer.Option(
        None,
        help="Publish the months closed by this instant (default: now).",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"],
    ),
) -> None:
    """Publish the digest of every closed month not published yet, oldest first (docs/audit-digests.md)."""
    instant = now or datetime.now(UTC)
    if instant.tzinfo is None:  # a time without an offset is UTC
        instant = instant.replace(tzinfo=UTC)
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        published = publish_due_months(conn, instant)
    for digest in published:
        typer.echo(f"{digest.month:%Y-%m}: {digest.event_count} events, root {digest.merkle_root.hex()}")
    typer.echo(f"published {len(published)} month digest(s)")


@app.command()
@operator_errors
def months() -> None:
    """The published month digests: the roots an auditor recomputes from the archive."""
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        digests = published_months(conn)
    for digest in digests:
        typer.echo(
            f"{digest.month:%Y-%m}  {digest.event_count:>12,} events  root {digest.merkle_root.hex()}  "
            f"previous {digest.previous_root.hex()[:16]}…  published {digest.published_at:%Y-%m-%d %H:%M}"
        )
    if not digests:
        typer.echo("no month digest published yet: `bank-pipeline audit publish` once a month is closed")


@app.command()
@operator_errors
def prove(global_position: int = typer.Argument(..., help="The event's global position.")) -> None:
    """The inclusion proof of one event in its published month, as JSON (RFC 9162 audit path)."""
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        proof = prove_inclusion(conn, global_position)
    document = {
        "month": f"{proof.month:%Y-%m}", "global_position": proof.global_position,
        "event_hash": proof.event_hash.hex(), "leaf_index": proof.index, "tree_size": proof.tree_size,
        "audit_path": [step.hex() for step in proof.path], "merkle_root": proof.merkle_root.hex(),
    }  # fmt: skip
    typer.echo(json.dumps(document, indent=2))
