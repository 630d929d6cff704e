"""`bank-pipeline bench statements`: a month of statements for many accounts, against a raw COPY of the same rows.

The read model is written straight into the bench database's projections tables with SQL (generate_series):
statements read the projections, never the events, and the projector has its own benches and tests. Each account
gets `entries` entries a month for three months, running balances by business time, its daily balances, a few
holds, realistic
counterparty IBANs and references (some with commas and quotes); a tenth of the accounts are in USD, a
twentieth in JPY (no minor unit). The middle month is measured, so opening balances come from earlier entries.

Phases, all in this run, from one client process (the CSV path reads the next batch on a second thread while
polars renders the current one on its thread pool; the format renderers run on one core):
  baseline   COPY (SELECT * the month's entries of those accounts, in statement order) TO STDOUT, drained;
  data+CSV   csv_statements_for_period: read and render every CSV statement of the month, in memory;
  CSV store  generate_statements(csv): the same, written to a statement store with its manifest, against
             writing as many files of the same total size into a directory on the same disk (file creation
             costs ~1 ms on this machine's ext4, 0.08 ms on tmpfs: it bounds any file-per-statement store);
  formats    render_pdf, render_camt053, render_mt940 over the first `format_sample` statements, one core each
             (the statements are read first, not timed).
Goals: data+CSV ≥ 5,000 statements/s; PDF ≥ 100 statements/s per core.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bank_pipeline.bench.common import bench_database, checkpoint, machine_load, rate, server_description
from bank_pipeline.db.connection import connect
from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.statements.csv_bulk import csv_statements_for_period
from bank_pipeline.statements.generation import generate_statements
from bank_pipeline.statements.reading import statements_for_period
from bank_pipeline.statements.store import StatementStore

BENCH_DATABASE = "bank_pipeline_bench_statements"
GOAL_CSV = 5_000  # statements/s, data + CSV
GOAL_PDF = 100  # statements/s per core
MONTHS = (StatementPeriod.month(2025, 1), StatementPeriod.month(2025, 2), StatementPeriod.month(2025, 3))
MEASURED = MONTHS[1]

_LOAD = [
    """INSERT INTO projections.customers
       SELECT 'cust-' || i, 'Customer ' || i, 'c' || i || '@example.org', i || ' Main Street', 'verified', 'active',
              1, '2024-12-01'
         FROM generate_series(1, %(accounts)s) i""",
    """INSERT INTO projections.account_balances (account_id, customer_id, currency, product, overdraft_limit, status,
              ledger_balance, held_amount, version, last_transaction_id, last_position, opened_at)
       SELECT 'DE' || lpad(i::text, 20, '0'), 'cust-' || i,
              CASE WHEN i %% 20 = 0 THEN 'JPY' WHEN i %% 10 = 0 THEN 'USD' ELSE 'EUR' END, 'current', 0, 'open',
              0, 0, 1, 1, 1, '2024-12-01'
         FROM generate_series(1, %(accounts)s) i""",
    """INSERT INTO projections.account_status_changes
       SELECT account_id, 1, 'open', NULL, '2024-12-01', '2024-12-01' FROM projections.account_balances""",
    """INSERT INTO projections.customer_accounts
       SELECT customer_id, account_id, opened_at FROM projections.account_balances""",
    # Entries: `entries` a month spread over the three months, two-fifths credits, running balances by business
    # time; recorded a few seconds after they occurred.
    """INSERT INTO projections.account_entries (account_id, stream_version, global_position, transaction_id,
              direction, amount, currency, balance_after, business_balance, known_balance, transfer_id, flow,
              counterparty, reference, occurred_at, recorded_at)
       SELECT account_id, n + 2, row_number() OVER (ORDER BY at, account_id), 1, direction, amount, currency,
              sum(signed) OVER running, sum(signed) OVER running, sum(signed) OVER running,
              'tr-' || substr(md5(account_id || n), 1, 20), CASE WHEN n %% 3 = 0 THEN 'internal' ELSE 'external' END,
              CASE WHEN n %% 3 = 0 THEN 'DE' || lpad(((n * 7919) %% %(accounts)s + 1)::text, 20, '0')
                   ELSE 'DE0250010517' || lpad((n %% 997)::text, 10, '0') END,
              CASE WHEN n %% 11 = 0 THEN 'Invoice ' || n || ', "final"' WHEN n %% 4 = 0 THEN NULL
                   ELSE 'Payment ' || n END,
              at, at + interval '3 seconds'
         FROM (SELECT b.account_id, b.currency, n,
                      CASE WHEN n %% 5 < 2 THEN 'credit' ELSE 'debit' END AS direction,
                      (1 + (hashtext(b.account_id || n) & 65535) * 3)::bigint AS amount,
                      CASE WHEN n %% 5 < 2 THEN 1 ELSE -1 END * (1 + (hashtext(b.account_id || n) & 65535) * 3)::bigint
                        AS signed,
                      timestamptz '2025-01-01' + n * (interval '90 days' / (3 * %(entries)s))
                        + (hashtext(b.account_id) & 1023) * interval '1 second' AS at
                 FROM projections.account_balances b, generate_series(0, 3 * %(entries)s - 1) n) e
       WINDOW running AS (PARTITION BY account_id ORDER BY at, n)""",
    """INSERT INTO projections.daily_balances (account_id, business_day, currency, opening_balance, credits, debits,
              closing_balance, entry_count)
       SELECT account_id, (occurred_at AT TIME ZONE 'UTC')::date, min(currency),
              (array_agg(business_balance - CASE WHEN direction = 'credit' THEN amount ELSE -amount END
                         ORDER BY occurred_at, stream_version))[1],
              coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0),
              coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0),
              (array_agg(business_balance ORDER BY occurred_at DESC, stream_version DESC))[1], count(*)
         FROM projections.account_entries GROUP BY 1, 2""",
    """INSERT INTO projections.account_holds (account_id, hold_id, amount, currency, reason, expires_at,
              placed_version, placed_occurred_at, placed_recorded_at)
       SELECT account_id, 'hold-' || account_id, 2500, currency, 'card authorisation', '2025-03-07',
              1000, '2025-02-27', '2025-02-27'
         FROM projections.account_balances WHERE right(account_id, 1) IN ('3', '7')""",
    "ANALYZE",
]

_BASELINE = """
COPY (SELECT * FROM projections.account_entries
       WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
       ORDER BY account_id, occurred_at, stream_version) TO STDOUT
"""


@dataclass
class StatementsReport:
    accounts: int
    entries_per_month: int
    load_seconds: float
    entries_in_month: int = 0
    baseline_seconds: float = 0.0
    baseline_rows: int = 0
    csv_seconds: float = 0.0
    csv_statements: int = 0
    store_seconds: float = 0.0
    store_bytes: int = 0
    files_baseline_seconds: float = 0.0
    format_rates: dict[str, float] = field(default_factory=dict)
    format_sample: int = 0
    server: str = ""
    load: str = ""

    @property
    def baseline_rate(self) -> float:
        return self.accounts / self.baseline_seconds

    @property
    def csv_rate(self) -> float:
        return self.csv_statements / self.csv_seconds


def run(*, accounts: int, entries: int, format_sample: int, keep: bool, console: Console) -> StatementsReport:
    with bench_database(BENCH_DATABASE, keep=keep) as database, connect(database.url) as conn:
        console.print(f"loading the read model: {accounts:,} accounts × {entries} entries a month × 3 months …")
        started = time.perf_counter()
        for statement in _LOAD:
            conn.execute(statement, {"accounts": accounts, "entries": entries})
        report = StatementsReport(accounts, entries, time.perf_counter() - started)
        report.server = server_description(database.url)
        checkpoint(database.url)

        params = {"start": MEASURED.start, "end": MEASURED.end}
        console.print(f"baseline: COPY of {MEASURED.label}'s entries …")
        started = time.perf_counter()
        with conn.cursor().copy(_BASELINE, params) as copy:
            report.baseline_rows = sum(1 for _ in copy)
        report.baseline_seconds = time.perf_counter() - started
        report.entries_in_month = report.baseline_rows

        console.print("data + CSV, in memory …")
        started = time.perf_counter()
        for batch in csv_statements_for_period(conn, MEASURED):
            report.csv_statements += len(batch)
        report.csv_seconds = time.perf_counter() - started

        console.print("data + CSV, into a statement store …")
        with tempfile.TemporaryDirectory(prefix="bank-pipeline-bench-statements-") as directory:
            generated = generate_statements(conn, MEASURED, StatementStore(Path(directory)), ["csv"])
            report.store_seconds, report.store_bytes = generated.seconds, generated.bytes
        report.files_baseline_seconds = _write_files(generated.statements, generated.bytes)

        console.print(f"PDF, camt.053 and MT940 over {format_sample:,} statements, one core …")
        sample = _first_statements(conn, format_sample)
        report.format_sample = len(sample)
        report.format_rates = _format_rates(sample)
        report.load = machine_load()
    return report


def _write_files(count: int, total_bytes: int) -> float:
    """Seconds to write `count` files of `total_bytes` together into a fresh directory (the store's floor)."""
    content = b"x" * (total_bytes // max(count, 1))
    with tempfile.TemporaryDirectory(prefix="bank-pipeline-bench-files-") as directory:
        started = time.perf_counter()
        for number in range(count):
            (Path(directory) / f"{number:012d}.csv").write_bytes(content)
        return time.perf_counter() - started


def _first_statements(conn, count: int) -> list:
    sample: list = []
    for batch in statements_for_period(conn, MEASURED, batch_size=min(count, 2_000)):
        sample.extend(batch[: count - len(sample)])
        if len(sample) >= count:
            break
    return sample


def _format_rates(sample: list) -> dict[str, float]:
    from bank_pipeline.statements.formats import renderers

    rates = {}
    for name in ("pdf", "camt053", "mt940"):
        render = renderers()[name]
        started = time.perf_counter()
        for statement in sample:
            render(statement)
        rates[name] = len(sample) / (time.perf_counter() - started)
    return rates


def render(report: StatementsReport, console: Console) -> None:
    entries_per_statement = report.entries_in_month / report.accounts
    console.print(
        f"data: {report.accounts:,} accounts, {report.entries_per_month} entries a month each, loaded in "
        f"{report.load_seconds:.1f}s; {MEASURED.label}: {report.entries_in_month:,} entries "
        f"({entries_per_statement:.1f} per statement)"
    )
    console.print(f"[dim]{report.server}; {report.load}[/]")
    table = Table(title=f"bench statements: {report.accounts:,} statements of {MEASURED.label}, one client")
    for column in ("", "seconds", "statements/s", "entries/s", "vs baseline", "goal"):
        table.add_column(column, justify="right" if column else "left")
    baseline = report.baseline_rate
    table.add_row(
        "baseline: raw COPY TO of the same entries", f"{report.baseline_seconds:.2f}", rate(baseline),
        rate(report.baseline_rows / report.baseline_seconds), "1.00×", "",
    )  # fmt: skip
    table.add_row(
        "ours: data + CSV (in memory)", f"{report.csv_seconds:.2f}", rate(report.csv_rate),
        rate(report.entries_in_month / report.csv_seconds), f"{report.csv_rate / baseline:.2f}×",
        _goal(report.csv_rate, GOAL_CSV),
    )  # fmt: skip
    store_rate = report.accounts / report.store_seconds
    files_rate = report.accounts / report.files_baseline_seconds
    table.add_row(
        "baseline: write as many files of the same size", f"{report.files_baseline_seconds:.2f}", rate(files_rate),
        "", f"{files_rate / baseline:.2f}×", "",
    )  # fmt: skip
    table.add_row(
        f"ours: data + CSV into the store ({report.store_bytes / 1e6:,.0f} MB)", f"{report.store_seconds:.2f}",
        rate(store_rate), rate(report.entries_in_month / report.store_seconds),
        f"{store_rate / baseline:.2f}× ({store_rate / files_rate:.2f}× files)", "",
    )  # fmt: skip
    for name, statements_per_second in report.format_rates.items():
        goal = _goal(statements_per_second, GOAL_PDF) if name == "pdf" else ""
        table.add_row(
            f"ours: {name} rendering, one core ({report.format_sample:,} statements)",
            f"{report.format_sample / statements_per_second:.2f}", rate(statements_per_second),
            rate(statements_per_second * entries_per_statement), "", goal,
        )  # fmt: skip
    console.print(table)


def _goal(value: float, goal: float) -> str:
    return f"≥ {goal:,}: " + ("[bold green]met[/]" if value >= goal else "[bold red]MISSED[/]")
