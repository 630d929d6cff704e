"""simulate(): a reproducible synthetic bank written into a landing zone, one business day after another.

Everything comes from one numpy generator seeded with `seed` and from the business dates (no clock, no uuid4),
so the same arguments write byte-identical files.
"""

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from bank_pipeline.ingest.landing import recognise
from bank_pipeline.simulator import names, profile
from bank_pipeline.simulator.batches import BatchPlan, RecordNumbers, write_batches
from bank_pipeline.simulator.clock import DayClock
from bank_pipeline.simulator.defects import FILE_DEFECTS, ROW_DEFECTS, Defects
from bank_pipeline.simulator.fraud import PATTERNS, FraudPlan
from bank_pipeline.simulator.ibans import outside_ibans
from bank_pipeline.simulator.labels import (
    BAD_RECORD_COLUMNS,
    LABELS_DIR,
    MANIFEST,
    FraudLabels,
    counts,
    write_labels,
)
from bank_pipeline.simulator.landing_writer import LandingWriter
from bank_pipeline.simulator.ledger import Ledger
from bank_pipeline.simulator.movements import TRANSACTION_CHANNELS, combine, in_booking_order, movements, to_frame
from bank_pipeline.simulator.population import Population, build_population
from bank_pipeline.simulator.profile import EUR, RETURN, SEPA_IN, SEPA_OUT
from bank_pipeline.simulator.sepa_files import OutsideParties, write_camt054, write_pain001
from bank_pipeline.simulator.tabular import TextPools, accounts_frame, customers_frame, transactions_frame
from bank_pipeline.simulator.traffic import DayContext, local_seconds, ordinary_traffic

DEFAULT_START = date(2026, 11, 2)  # a Monday
KINDS_COUNTED = ("customers", "accounts", "transactions", "pain001", "camt054")


class SimulationError(ValueError):
    """The arguments do not describe a simulation that can be written (the message says why)."""


@dataclass(frozen=True)
class SimulationSummary:
    out: Path
    customers: int
    accounts: int
    #: money records written: transaction rows (bad ones included), pain.001 transfers, camt.054 entries; not
    #: the rows of duplicated or truncated copies of files
    transactions: int
    files: dict[str, int]  # by kind, version and format, e.g. transactions_v2_parquet
    records: dict[str, int]  # by kind, as `transactions` counts them
    fraud_labels: dict[str, int]  # labelled records by pattern
    bad_records: dict[str, int]  # by defect
    bytes_written: int
    seconds: float = field(compare=False)

    @property
    def transactions_per_second(self) -> float:
        return self.transactions / self.seconds if self.seconds > 0 else math.inf


def simulate(
    customers: int,
    days: int,
    seed: int,
    out: Path,
    start: date = DEFAULT_START,
    bad_share: float = 0.01,
    legacy_share: float = 0.1,
    fraud: bool = True,
    *,
    on_day: Callable[[date], None] | None = None,
) -> SimulationSummary:
    """Write `days` business days of a bank of `customers` customers into the landing zone `out`, starting on
    `start`, with ground truth under `out/_labels/`. `on_day` is called after each day is written."""
    started = time.perf_counter()
    out = Path(out)
    arguments = {
        "customers": customers, "days": days, "seed": seed, "start": start.isoformat(), "bad_share": bad_share,
        "legacy_share": legacy_share, "fraud": fraud,
    }  # fmt: skip
    _check(arguments, out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    run_tag = hashlib.sha256(f"{customers}:{days}:{seed}:{start}".encode()).hexdigest()[:8]

    population = build_population(customers, days, rng)
    ordinary_parties = int(np.clip(customers // 20, 200, 20_000))
    fresh_parties = FraudPlan.fresh_parties_needed(customers, fraud)
    outside = OutsideParties.make(outside_ibans(ordinary_parties + fresh_parties, rng), rng)
    plan = FraudPlan(population, days, rng, enabled=fraud, fresh_parties=ordinary_parties)
    batches = BatchPlan.make(customers, days, legacy_share, bad_share, rng)
    run = _Run(population, outside, plan, batches, Defects(bad_share, rng), run_tag, out, rng)
    for number in range(days):
        run.day(number, start + timedelta(days=number), ordinary_parties)
        if on_day is not None:
            on_day(start + timedelta(days=number))

    bad = pl.concat(run.defects.recorded) if run.defects.recorded else pl.DataFrame(
        schema=dict.fromkeys(BAD_RECORD_COLUMNS, pl.String)
    )  # fmt: skip
    fraud_labels = run.labels.frame()
    writer = run.writer
    records = {kind: int(writer.records[kind]) for kind in KINDS_COUNTED}
    transactions = records["transactions"] + records["pain001"] + records["camt054"]
    summary_counts = {
        "customers": customers,
        "accounts": population.size,
        "transactions": transactions,
        "files": dict(sorted(writer.files.items())),
        "records": records,
        "fraud_labels": counts(fraud_labels, "pattern", PATTERNS),
        "bad_records": counts(bad, "defect", ROW_DEFECTS + FILE_DEFECTS),
        "bytes_written": writer.bytes_written,
    }
    write_labels(out, fraud_labels, bad, {"arguments": arguments, "counts": summary_counts})
    return SimulationSummary(out=out, seconds=time.perf_counter() - started, **summary_counts)


def _check(arguments: dict, out: Path) -> None:
    customers, days = arguments["customers"], arguments["days"]
    if customers < 1 or days < 1:
        raise SimulationError(f"need at least one customer and one day, got {customers} customers and {days} days")
    bad_share, legacy_share = arguments["bad_share"], arguments["legacy_share"]
    if not 0 <= bad_share < 1 or not 0 <= legacy_share <= 1:
        raise SimulationError(
            f"bad_share must be in [0, 1) and legacy_share in [0, 1], got {bad_share} and {legacy_share}"
        )
    if out.exists() and not out.is_dir():
        raise SimulationError(f"{out} exists and is not a directory")
    earlier = sorted(path.name for path in out.iterdir() if recognise(path)) if out.is_dir() else []
    manifest = out / LABELS_DIR / MANIFEST
    if earlier or manifest.exists():
        # The same arguments write the same files again (a re-run is harmless); anything else would mix two banks.
        previous = json.loads(manifest.read_text()).get("arguments") if manifest.exists() else None
        if previous != arguments:
            raise SimulationError(
                f"{out} already holds a landing zone ({', '.join(earlier[:2]) or LABELS_DIR}"
                f"{', ...' if len(earlier) > 2 else ''}) written with other arguments ({previous or 'unknown'}); "
                "simulate into an empty directory"
            )


class _Run:
    """The state carried from one day to the next: balances, yesterday's outbound transfers, labels, files."""

    def __init__(self, population: Population, outside: OutsideParties, plan: FraudPlan, batches: BatchPlan,
                 defects: Defects, run_tag: str, out: Path, rng: np.random.Generator):  # fmt: skip
        self.population, self.outside, self.plan, self.batches = population, outside, plan, batches
        self.defects, self.run_tag, self.rng = defects, run_tag, rng
        self.writer = LandingWriter(out)
        self.ledger = Ledger(np.zeros(population.size, dtype=np.int64), population.overdraft_limit)
        self.labels = FraudLabels(population)
        self.pools = TextPools(population)
        self.yesterdays_transfers: pl.DataFrame | None = None
        # Record ids get as many digits as the busiest day could need (6 at least: T20261102-000123).
        busiest = len(population.customers) * profile.TRANSACTIONS_PER_CUSTOMER_DAY * 3
        self.id_width = max(6, len(str(int(busiest))))

    def day(self, number: int, day: date, ordinary_parties: int) -> None:
        population, rng, writer = self.population, self.rng, self.writer
        clock = DayClock.of(day)
        for kind, frame in (("customers", customers_frame(population, number)),
                            ("accounts", accounts_frame(population, number))):  # fmt: skip
            if frame.height:
                writer.write(writer.reserve(kind, 1, day, "csv"), kind, frame)

        active = (population.opening_day <= number) & ~self.plan.quiet
        recipients = np.flatnonzero(active & (population.currency == EUR))
        context = DayContext(number, day, ordinary_parties)
        ordinary = ordinary_traffic(population, context, active, self.plan.paying_accounts(number), rng)
        fraud = self.plan.movements(number, self.ledger.balances, recipients, rng)
        outcomes = self._outcomes()
        returned = outcomes.filter(pl.col("rejected"))
        refunds = movements(
            RETURN, returned["account"].to_numpy(), returned["seconds"].to_numpy(), returned["amount"].to_numpy()
        )
        booked = to_frame(self.ledger.book(in_booking_order(combine([ordinary, fraud, refunds]))))

        transactions = booked.filter(pl.col("channel").is_in(TRANSACTION_CHANNELS))
        numbers = RecordNumbers("T", clock, self.id_width)
        ids = numbers.take(transactions.height)
        typed = transactions_frame(transactions, population, clock, ids, self.pools)
        write_batches(typed, number, clock, self.batches, numbers, writer, self.defects)
        self.labels.add(transactions.with_columns(record_id=ids), day)

        transfers = write_pain001(
            booked.filter(pl.col("channel") == SEPA_OUT), population, self.outside, clock, self.run_tag, writer,
            self.defects,
        )  # fmt: skip
        self.labels.add(transfers.rename({"end_to_end_id": "record_id"}), day)
        entries = write_camt054(
            booked.filter(pl.col("channel") == SEPA_IN), outcomes, population, self.outside, clock, self.run_tag,
            writer, self.defects, rng,
        )  # fmt: skip
        self.labels.add(entries, day)
        self.yesterdays_transfers = transfers

    def _outcomes(self) -> pl.DataFrame:
        """The clearing house's answer today to yesterday's outbound transfers: most settle, a few are rejected
        (their held money comes back today)."""
        transfers = self.yesterdays_transfers
        if transfers is None:
            transfers = pl.DataFrame(
                schema={"account": pl.Int32, "amount": pl.Int64, "end_to_end_id": pl.String,
                        "creditor_name": pl.String, "creditor_iban": pl.String, "remittance": pl.String}
            )  # fmt: skip
        count = transfers.height
        return transfers.select(
            "account", "amount", "end_to_end_id", "creditor_name", "creditor_iban", "remittance",
            seconds=pl.Series(local_seconds(RETURN, count, self.rng)),
            rejected=pl.Series(self.rng.random(count) < profile.REJECTED_OUTBOUND_SHARE),
            reason=pl.Series(self.rng.integers(0, len(names.RETURN_REASONS), count)),
        )  # fmt: skip
