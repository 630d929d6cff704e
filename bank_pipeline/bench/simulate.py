"""`bank-pipeline bench simulate`: transactions/s the simulator generates and writes, next to polars alone writing
as many rows to the same formats.

Ours: simulate() into a temporary directory, timed from start to the last file (population, traffic, fraud,
defects, labels and every file: CSV, Parquet, XML). The baseline, in the same run and directory: random columns as
wide as the transaction columns we wrote (measured from our files), built beforehand (not timed), then written
by polars as the same number of rows to the same formats, in as many files: the I/O floor the simulator sits on.
Goal: at least 200,000 transactions/s on this machine, so that a tenth of the real bank's month (20 M
transactions from 500 k customers) takes minutes.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from bank_pipeline.bench.common import machine_load, rate, verdict
from bank_pipeline.ingest.landing import TRANSACTION_COLUMNS, recognise
from bank_pipeline.simulator import SimulationSummary, simulate
from bank_pipeline.simulator.landing_writer import PARQUET_COMPRESSION

GOAL = 200_000  # transactions/s
DEFAULT_CUSTOMERS, DEFAULT_DAYS = 50_000, 7  # about 450,000 transactions


@dataclass(frozen=True)
class SimulateReport:
    summary: SimulationSummary
    csv_files: int
    parquet_files: int
    baseline_rows: int
    baseline_seconds: float
    baseline_bytes: int
    column_widths: dict[str, float]

    @property
    def transactions_per_second(self) -> float:
        return self.summary.transactions / self.summary.seconds

    @property
    def baseline_rows_per_second(self) -> float:
        return self.baseline_rows / self.baseline_seconds

    @property
    def ratio(self) -> float:
        return self.transactions_per_second / self.baseline_rows_per_second


def run(
    *, customers: int = DEFAULT_CUSTOMERS, days: int = DEFAULT_DAYS, seed: int = 1, console: Console
) -> SimulateReport:
    console.print(f"machine: {machine_load()} before the run")
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as scratch:
        landing = Path(scratch) / "landing"
        console.print(f"simulating {customers:,} customers over {days} days (seed {seed}) into {landing}")
        summary = simulate(customers, days, seed, landing)  # no spinner: its thread would take a share of the GIL
        tabular = [path for path in sorted(landing.iterdir()) if _is_transaction_batch(path)]
        csv_files = sum(path.suffix == ".csv" for path in tabular)
        parquet_files = len(tabular) - csv_files
        widths = _column_widths([path for path in tabular if path.suffix == ".parquet"])
        console.print(f"baseline: polars writing {summary.transactions:,} rows of random columns")
        seconds, written = _baseline(
            summary.transactions, csv_files, parquet_files, widths, Path(scratch) / "baseline", seed
        )
    console.print(f"machine: {machine_load()} after the run")
    return SimulateReport(summary, csv_files, parquet_files, summary.transactions, seconds, written, widths)


def _is_transaction_batch(path: Path) -> bool:
    found = recognise(path)
    return found is not None and found.kind == "transactions"


def _column_widths(batches: list[Path]) -> dict[str, float]:
    """The mean width in characters of each text column of our Parquet batches (amount and booked_at stay typed;
    truncated copies are skipped)."""
    frames = []
    for path in batches:
        try:
            frames.append(pl.read_parquet(path))
        except Exception:  # noqa: BLE001 - a truncated copy, as intended
            continue
    frame = pl.concat(frames)
    return {
        name: float(frame[name].fill_null("").str.len_bytes().mean())
        for name in TRANSACTION_COLUMNS
        if frame.schema[name] == pl.String
    }


def _baseline(
    rows: int, csv_files: int, parquet_files: int, widths: dict[str, float], directory: Path, seed: int
) -> tuple[float, int]:
    """Seconds polars takes to write `rows` rows of random columns as wide as ours, split into the same numbers of
    CSV and Parquet files (the frames are made beforehand, untimed); and the bytes it wrote."""
    directory.mkdir()
    rng = np.random.default_rng(seed)
    files = csv_files + parquet_files
    bounds = np.linspace(0, rows, files + 1).round().astype(int)
    frames = [_random_frame(int(bounds[i + 1] - bounds[i]), widths, rng) for i in range(files)]
    started = time.perf_counter()
    for index, frame in enumerate(frames):
        if index < csv_files:
            frame.with_columns(pl.col("booked_at").dt.strftime("%Y-%m-%dT%H:%M:%S%:z")).write_csv(
                directory / f"{index}.csv"
            )
        else:
            frame.write_parquet(directory / f"{index}.parquet", compression=PARQUET_COMPRESSION)
    seconds = time.perf_counter() - started
    return seconds, sum(path.stat().st_size for path in directory.iterdir())


def _random_frame(rows: int, widths: dict[str, float], rng: np.random.Generator) -> pl.DataFrame:
    columns: dict[str, pl.Series] = {}
    for name in TRANSACTION_COLUMNS:
        if name == "booked_at":
            micros = 1_793_660_400_000_000 + rng.integers(0, 86_400_000_000, rows)
            columns[name] = pl.Series(name, micros).cast(pl.Datetime("us", "UTC"))
        elif name == "amount":
            columns[name] = pl.Series(name, rng.integers(1, 100_000, rows))
        else:
            columns[name] = _random_text(name, rows, round(widths[name]), rng)
    return pl.DataFrame(columns)


def _random_text(name: str, rows: int, width: int, rng: np.random.Generator) -> pl.Series:
    """`rows` random strings of digits, `width` characters each."""
    pieces = pl.DataFrame({f"piece{i}": rng.integers(0, 10**16, rows) for i in range(max(1, -(-width // 16)))})
    text = pl.concat_str(pl.col(piece).cast(pl.String).str.zfill(16) for piece in pieces.columns)
    return pieces.select(text.str.slice(0, width).alias(name)).to_series()


def render(report: SimulateReport, console: Console) -> None:
    summary = report.summary
    table = Table(
        title=f"bench simulate: {summary.customers:,} customers × {summary.transactions / summary.customers:.1f} "
        f"transactions each"
    )
    for column in ("", "transactions (rows) / s", "time", "written"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row(
        "ours: simulate() — the whole landing zone with labels",
        rate(report.transactions_per_second),
        f"{summary.seconds:.2f}s",
        f"{summary.bytes_written / 1e6:,.1f} MB in {sum(summary.files.values()):,} files",
    )
    table.add_row(
        f"baseline: polars writing as many random rows ({report.csv_files} CSV + {report.parquet_files} Parquet files)",
        rate(report.baseline_rows_per_second),
        f"{report.baseline_seconds:.2f}s",
        f"{report.baseline_bytes / 1e6:,.1f} MB",
    )
    console.print(table)
    console.print(f"ours, transactions / s: {verdict(report.transactions_per_second, GOAL)}")
    console.print(f"ratio ours / polars writing alone: [bold]{report.ratio:.2f}[/]")
    widths = ", ".join(f"{name} {width:.0f}" for name, width in report.column_widths.items())
    console.print(
        f"[dim]{summary.transactions:,} transactions: {summary.records['transactions']:,} core-banking rows, "
        f"{summary.records['pain001']:,} pain.001 transfers, {summary.records['camt054']:,} camt.054 entries; "
        f"plus {summary.customers:,} customers and {summary.accounts:,} accounts. The baseline's text columns are "
        f"as wide as ours on average (characters: {widths}); it writes prepared frames only, while ours also draws "
        f"the traffic, keeps balances, renders the XML and the labels.[/]"
    )
