"""A day's core-banking transaction batches: consecutive slices of the day in booking order, each written as v2
CSV, v2 Parquet or legacy v1 CSV, with their bad rows, and now and then a duplicated or truncated copy."""

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from bank_pipeline.simulator import profile
from bank_pipeline.simulator.clock import DayClock
from bank_pipeline.simulator.defects import (
    DUPLICATE_FILE,
    TRUNCATED_FILE,
    V1_TEXT,
    V2_TEXT,
    V2_TYPED,
    Defects,
    truncated,
)
from bank_pipeline.simulator.landing_writer import LandingWriter
from bank_pipeline.simulator.tabular import record_ids, v1_text, v2_text

V1_CSV, V2_CSV, V2_PARQUET = "v1_csv", "v2_csv", "v2_parquet"


@dataclass(frozen=True)
class BatchPlan:
    """Every batch of the run, numbered 0.. across days: its format and whether a defective copy follows it."""

    per_day: int
    formats: tuple[str, ...]
    duplicated: frozenset[int]
    truncated: frozenset[int]

    @classmethod
    def make(
        cls, customers: int, days: int, legacy_share: float, bad_share: float, rng: np.random.Generator
    ) -> "BatchPlan":
        expected_rows = customers * profile.TRANSACTIONS_PER_CUSTOMER_DAY * 1.2
        per_day = max(profile.BATCHES_PER_DAY, math.ceil(expected_rows / profile.BATCH_ROWS))
        total = per_day * days
        legacy = set(rng.choice(total, round(legacy_share * total), replace=False).tolist())
        # The others alternate between CSV and Parquet.
        modern = [index for index in range(total) if index not in legacy]
        formats = [V1_CSV] * total
        for position, index in enumerate(modern):
            formats[index] = V2_CSV if position % 2 == 0 else V2_PARQUET
        duplicated: set[int] = set()
        cut: set[int] = set()
        if bad_share > 0:
            copies = max(1, round(bad_share * total))
            duplicated = set(rng.choice(total, min(copies, total), replace=False).tolist())
            csv_batches = [index for index in range(total) if formats[index] != V2_PARQUET]
            parquet_batches = [index for index in range(total) if formats[index] == V2_PARQUET]
            for batches in (csv_batches, parquet_batches):  # cut a CSV and a Parquet file alike
                if batches:
                    cut |= set(rng.choice(batches, min(copies, len(batches)), replace=False).tolist())
        return cls(per_day, tuple(formats), frozenset(duplicated), frozenset(cut))


class RecordNumbers:
    """A day's record ids of one kind (T20261102-000001, ...), handed out in order."""

    def __init__(self, prefix: str, clock: DayClock, width: int):
        self.prefix, self.clock, self.width = prefix, clock, width
        self.issued = 0

    def take(self, count: int) -> pl.Series:
        if count < 1_000:  # a polars call costs more than formatting a few in Python
            ids = pl.Series("record_id", [self.one() for _ in range(count)], dtype=pl.String)
        else:
            ids = record_ids(self.prefix, self.clock, self.issued + 1, count, self.width)
            self.issued += count
        return ids

    def one(self) -> str:
        self.issued += 1
        return f"{self.prefix}{self.clock.compact}-{self.issued:0{self.width}d}"


def write_batches(
    typed: pl.DataFrame,
    day_number: int,
    clock: DayClock,
    plan: BatchPlan,
    numbers: RecordNumbers,
    writer: LandingWriter,
    defects: Defects,
) -> None:
    """Write a day's transactions (typed v2 rows in booking order, record ids already given) as its batches."""
    bounds = np.linspace(0, typed.height, plan.per_day + 1).round().astype(int)
    for batch in range(plan.per_day):
        rows = typed[bounds[batch] : bounds[batch + 1]]
        if rows.height == 0:
            continue
        index = day_number * plan.per_day + batch
        form = plan.formats[index]
        if form == V1_CSV:
            layout, frame, version = V1_TEXT, v1_text(rows), 1
        elif form == V2_CSV:
            layout, frame, version = V2_TEXT, v2_text(rows), 2
        else:
            layout, frame, version = V2_TYPED, rows, 2
        extension = "parquet" if form == V2_PARQUET else "csv"
        path = writer.reserve("transactions", version, clock.day, extension)
        frame = defects.add_bad_rows(frame, layout, path.name, clock.day, numbers.take)
        writer.write(path, "transactions", frame)
        if index in plan.duplicated or index in plan.truncated:
            data = path.read_bytes()
            ids = frame[layout.record_id]
        if index in plan.duplicated:
            copy = writer.reserve("transactions", version, clock.day, extension)
            writer.write(copy, "transactions", data, records=0)
            defects.record(copy.name, ids, DUPLICATE_FILE)
        if index in plan.truncated:
            cut_data, rows_started = truncated(data, extension == "csv", defects.rng)
            cut = writer.reserve("transactions", version, clock.day, extension)
            writer.write(cut, "transactions", cut_data, records=0)
            # A cut CSV still holds the rows up to the one cut in half; a cut Parquet file was meant to hold all.
            defects.record(cut.name, ids[:rows_started] if extension == "csv" else ids, TRUNCATED_FILE)
