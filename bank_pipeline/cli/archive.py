"""`bank-pipeline archive ...`: move months older than the hot window to Parquet, verified before dropping."""

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from bank_pipeline.archive.purge import purge_expired
from bank_pipeline.archive.retire import archive_due_months, archived_months
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.cli.errors import fail, operator_errors
from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings

app = typer.Typer(
    help="Archive old months of events to Parquet; list what is archived; purge what is past retention.",
    no_args_is_help=True,
)


def _instant(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--now must be an ISO 8601 instant such as 2027-01-31T00:00:00+00:00, not {text!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
@operator_errors
def run(
    now: str | None = typer.Option(None, help="The instant the hot window is measured from (ISO 8601; default now)."),
    hot_months: int | None = typer.Option(None, min=0, help="Months kept hot before the current one (default 13)."),
    store: str | None = typer.Option(None, help="Archive store: directory or fsspec URI (default <home>/archive)."),
) -> None:
    """Archive every due month: export to Parquet, verify against the partition, then record and drop it."""
    settings = get_settings()
    archive = ArchiveStore(store or settings.archive_location)
    hot = settings.archive_hot_months if hot_months is None else hot_months
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        outcomes = archive_due_months(
            conn,
            archive,
            now=_instant(now),
            hot_months=hot,
            on_month=lambda month: typer.echo(f"{month:%Y-%m}: exporting, verifying, dropping…"),
        )
    for outcome in outcomes:
        if outcome.export is None:
            typer.echo(f"{outcome.month:%Y-%m}: {outcome.status.replace('_', ' ')}")
            continue
        export = outcome.export
        typer.echo(
            f"{outcome.month:%Y-%m}: archived {export.events:,} events, {export.bytes:,} bytes "
            f"({export.bytes_per_event:.1f} B/event), export {export.events_per_second:,.0f} events/s, "
            f"{outcome.seconds:.1f} s in all; chain digest {export.manifest.chain_digest}; {export.manifest_uri}"
        )
    typer.echo(f"{sum(o.status == 'archived' for o in outcomes)} month(s) archived into {archive.uri}")


@app.command()
@operator_errors
def purge(
    now: str | None = typer.Option(None, help="The instant retention is measured from (ISO 8601; default now)."),
    retention_years: int | None = typer.Option(None, min=1, help="Years ended streams are kept (default 7)."),
    store: str | None = typer.Option(None, help="Archive store: directory or fsspec URI (default <home>/archive)."),
    allow_future_now: bool = typer.Option(
        False, "--allow-future-now", help="Accept a --now later than the clock: rehearsals on a copy of the data only."
    ),
) -> None:
    """Purge streams past retention: the archived events of transfers, closed accounts and former customers with
    nothing recorded since the cutoff become tombstones (hash and position only), unless a legal hold keeps them.
    Live streams are never purged. Recorded as a RetentionPurged event; every digest still verifies."""
    settings = get_settings()
    years = settings.archive_retention_years if retention_years is None else retention_years
    with Runtime.open() as runtime:
        report = purge_expired(
            runtime.store,
            ArchiveStore(store or settings.archive_location),
            now=_instant(now),
            retention_years=years,
            allow_future_now=allow_future_now,
            on_month=lambda month: typer.echo(f"{month:%Y-%m}: rewriting without the purged streams…"),
        )
    for month in report.months:
        typer.echo(f"{month.month:%Y-%m}: {month.events_purged:,} events purged, {month.events_kept:,} kept "
                   f"(purge {month.purge_number}, sha256 {month.parquet_sha256[:16]}…)")  # fmt: skip
    typer.echo(
        f"cutoff {report.cutoff:%Y-%m-%d}: {report.streams_purged:,} streams purged ({report.events_purged:,} events), "
        f"{report.streams_held:,} kept by legal holds"
        + (f"; recorded at position {report.event_position}" if report.event_position is not None else "")
    )


@app.command(name="list")
@operator_errors
def list_() -> None:
    """The archived months with their counts, position ranges and digests."""
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        rows = archived_months(conn)
    if not rows:
        typer.echo("no month is archived")
        return
    table = Table("month", "events", "positions", "chain digest", "parquet sha256", "archived at", "manifest")
    for row in rows:
        positions = f"{row['first_global_position']}..{row['last_global_position']}" if row["event_count"] else "-"
        table.add_row(
            f"{row['month']:%Y-%m}", f"{row['event_count']:,}", positions, bytes(row["chain_digest"]).hex(),
            bytes(row["parquet_sha256"]).hex()[:16] + "…", f"{row['archived_at']:%Y-%m-%d %H:%M}", row["manifest_uri"],
        )  # fmt: skip
    Console(width=240).print(table)
