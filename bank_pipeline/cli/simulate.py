"""`bank-pipeline simulate`: write a reproducible synthetic bank into the landing zone."""

from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bank_pipeline.cli.errors import fail, operator_errors
from bank_pipeline.settings import get_settings
from bank_pipeline.simulator import DEFAULT_START, SimulationError, SimulationSummary
from bank_pipeline.simulator import simulate as simulate_bank


@operator_errors
def simulate(
    customers: int = typer.Option(1_000, help="Customers of the bank (about 1.3 transactions each a day)."),
    days: int = typer.Option(7, help="Business days to simulate, one after another."),
    seed: int = typer.Option(1, help="Random seed: the same arguments always write the same bytes."),
    out: Path | None = typer.Option(
        None, help="Landing directory to write into (default: the configured landing zone, BANK_PIPELINE_LANDING_DIR)."
    ),
    start: datetime = typer.Option(
        datetime.combine(DEFAULT_START, datetime.min.time()),
        formats=["%Y-%m-%d"],
        show_default=DEFAULT_START.isoformat(),
        help="First business day.",
    ),
    bad_share: float = typer.Option(0.01, help="Share of rows that are bad (malformed, unknown account, ...)."),
    legacy_share: float = typer.Option(0.1, help="Share of transaction batches in the legacy v1 CSV layout."),
    fraud: bool = typer.Option(True, "--fraud/--no-fraud", help="Inject labelled fraud patterns."),
) -> None:
    """Write a synthetic bank into the landing zone: customers, accounts, transaction batches (CSV, Parquet,
    legacy CSV), SEPA pain.001 and camt.054 files, with labelled fraud and bad records under `_labels/`."""
    console = Console()
    out = out if out is not None else get_settings().landing_path
    first_day: date = start.date()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"simulating {customers:,} customers into {out}", total=max(days, 0))

            def day_done(day: date) -> None:
                progress.update(task, advance=1, description=f"simulated {day:%a %Y-%m-%d}")

            summary = simulate_bank(
                customers, days, seed, out, first_day, bad_share, legacy_share, fraud, on_day=day_done
            )
    except SimulationError as error:
        fail(str(error))
    render(summary, console)


def render(summary: SimulationSummary, console: Console) -> None:
    rate = summary.transactions_per_second
    console.print(
        f"simulated {summary.customers:,} customers, {summary.accounts:,} accounts and {summary.transactions:,} "
        f"transactions into {summary.out} in {summary.seconds:.1f}s ({rate:,.0f} transactions/s, "
        f"{summary.bytes_written / 1e6:,.1f} MB)"
    )
    files = Table("kind", "files", "of which", "records", title="Landing files")
    for kind, records in summary.records.items():
        formats = {key.removeprefix(f"{kind}_"): count for key, count in summary.files.items() if key.startswith(kind)}
        detail = ", ".join(f"{name.replace('_', ' ')}: {count:,}" for name, count in formats.items())
        files.add_row(kind, f"{sum(formats.values()):,}", detail if len(formats) > 1 else "", f"{records:,}")
    console.print(files)
    labels = Table("fraud pattern", "labelled records", "defect", "bad records", title=f"{summary.out}/_labels")
    frauds, defects = list(summary.fraud_labels.items()), list(summary.bad_records.items())
    for index in range(max(len(frauds), len(defects))):
        pattern, count = frauds[index] if index < len(frauds) else ("", "")
        defect, bad = defects[index] if index < len(defects) else ("", "")
        labels.add_row(pattern, f"{count:,}" if count != "" else "", defect, f"{bad:,}" if bad != "" else "")
    console.print(labels)
