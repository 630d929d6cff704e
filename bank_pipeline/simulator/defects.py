"""Bad records, as upstream systems deliver them now and then, each recorded in the labels.

Row defects are extra rows, made from random good rows of the file and written after the good ones, so the
good records (and every account's balance) stay as they are whatever ingestion does with the bad ones: a
malformed amount or booked_at, an account that was never opened, the wrong currency for the account, a zero or
negative amount, or the same row twice. Typed Parquet cannot hold malformed text, so its batches get only the
others. File defects are extra files after the original: a second copy under the next sequence number, or a
copy cut short (a CSV in the middle of a row, a Parquet file so that it is unreadable)."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from bank_pipeline.simulator.ibans import NEVER_OPENED_BASE, OUR_BANK_CODES, german_ibans

MALFORMED_AMOUNT = "malformed_amount"
MALFORMED_BOOKED_AT = "malformed_booked_at"
UNKNOWN_ACCOUNT = "unknown_account"
WRONG_CURRENCY = "wrong_currency"
NON_POSITIVE_AMOUNT = "non_positive_amount"
DUPLICATE_ROW = "duplicate_row"
DUPLICATE_FILE = "duplicate_file"
TRUNCATED_FILE = "truncated_file"
TEXT_ROW_DEFECTS = (MALFORMED_AMOUNT, MALFORMED_BOOKED_AT, UNKNOWN_ACCOUNT, WRONG_CURRENCY, NON_POSITIVE_AMOUNT,
                    DUPLICATE_ROW)  # fmt: skip
TYPED_ROW_DEFECTS = (UNKNOWN_ACCOUNT, WRONG_CURRENCY, NON_POSITIVE_AMOUNT, DUPLICATE_ROW)
ROW_DEFECTS = TEXT_ROW_DEFECTS
FILE_DEFECTS = (DUPLICATE_FILE, TRUNCATED_FILE)
OTHER_CURRENCY = {"EUR": "GBP", "GBP": "EUR", "USD": "EUR", "CHF": "EUR"}
UNKNOWN_IBANS_AT_ONCE = 1_024


@dataclass(frozen=True)
class Layout:
    """Where a file layout keeps the fields defects touch, and how it writes them."""

    record_id: str
    booked_at: str
    account: str
    amount: str
    currency: str
    typed: bool  # Parquet: booked_at a datetime, amount an integer
    decimal: bool  # amounts as decimal major units (legacy v1)

    @property
    def defects(self) -> tuple[str, ...]:
        return TYPED_ROW_DEFECTS if self.typed else TEXT_ROW_DEFECTS

    def malformed_amounts(self) -> tuple[str, ...]:
        return ("12,3x", "1.234,56", "12.345", "abc", "1e3") if self.decimal else ("12,3x", "12.50", "EUR 10", "1e3")

    def malformed_times(self, day: date) -> tuple[str, ...]:
        if self.decimal:
            return (f"{day} 25:61:00", f"{day:%d.%m.%Y} 08:15:00", f"{day:%Y/%m/%d} 08:15", "n/a")
        return (f"{day}T25:61:00+01:00", f"{day:%d.%m.%Y} 08:15", f"{day}T08:15:00", f"{day} 08:15:00", "yesterday")


V2_TEXT = Layout("record_id", "booked_at", "account_id", "amount", "currency", typed=False, decimal=False)
V2_TYPED = Layout("record_id", "booked_at", "account_id", "amount", "currency", typed=True, decimal=False)
V1_TEXT = Layout("txn_ref", "booking_time", "iban", "amount", "ccy", typed=False, decimal=True)


class Defects:
    """Decides how many bad rows each file gets (the run's share stays `share` of all rows, however small the
    files), makes them, and records (file, record_id, defect) for every one."""

    def __init__(self, share: float, rng: np.random.Generator):
        self.share = share
        self.rng = rng
        self._rows_seen: Counter[str] = Counter()  # by kind of file
        self._bad_made: Counter[str] = Counter()
        self._never_opened: list[str] = []
        self._never_opened_made = 0
        self.recorded: list[pl.DataFrame] = []
        self._turns: dict[str, int] = {}

    def bad_count(self, good_rows: int, kind: str) -> int:
        """Bad rows for a file of `kind` with `good_rows`: bad / (good + bad) = share, rounded so that the run's
        total for the kind keeps it."""
        if self.share <= 0 or good_rows == 0:
            return 0
        self._rows_seen[kind] += good_rows
        due = max(round(self._rows_seen[kind] * self.share / (1 - self.share)) - self._bad_made[kind], 0)
        self._bad_made[kind] += due
        return due

    def record(self, file: str, record_ids: pl.Series | list[str], defect: str | pl.Series) -> None:
        ids = pl.Series("record_id", record_ids, dtype=pl.String)
        defects = defect if isinstance(defect, pl.Series) else pl.Series([defect] * len(ids), dtype=pl.String)
        self.recorded.append(
            pl.DataFrame({"file": [file] * len(ids), "record_id": ids, "defect": defects.rename("defect")})
        )

    def unknown_ibans(self, count: int) -> list[str]:
        """IBANs of our bank whose accounts were never opened, each used once."""
        while len(self._never_opened) < count:  # made in bulk: one at a time costs a polars call each
            numbers = NEVER_OPENED_BASE + self._never_opened_made + np.arange(UNKNOWN_IBANS_AT_ONCE, dtype=np.int64)
            bank_codes = np.full(UNKNOWN_IBANS_AT_ONCE, int(OUR_BANK_CODES[0]), dtype=np.int64)
            self._never_opened += german_ibans(bank_codes, numbers).to_list()
            self._never_opened_made += UNKNOWN_IBANS_AT_ONCE
        taken, self._never_opened = self._never_opened[:count], self._never_opened[count:]
        return taken

    def kinds(self, count: int, defects: tuple[str, ...], family: str) -> list[str]:
        """The next `count` defects of `defects`, taken in turn across the run's files of one `family` (from a
        random first one), so every kind shows up as soon as the family has as many bad rows as kinds."""
        start = self._turns.setdefault(family, int(self.rng.integers(0, len(defects))))
        self._turns[family] = start + count
        return [defects[(start + index) % len(defects)] for index in range(count)]

    def add_bad_rows(
        self,
        frame: pl.DataFrame,
        layout: Layout,
        file: str,
        day: date,
        new_ids: Callable[[int], pl.Series],
    ) -> pl.DataFrame:
        """`frame` with its share of bad rows after its good ones."""
        count = self.bad_count(frame.height, file.split("_", 1)[0])
        if count == 0 or frame.height == 0:
            return frame
        rng = self.rng
        templates = np.sort(rng.integers(0, frame.height, count))
        kinds = self.kinds(count, layout.defects, "typed" if layout.typed else "text")
        bad = frame[templates]
        fresh_ids = iter(new_ids(sum(kind != DUPLICATE_ROW for kind in kinds)).to_list())
        columns = {name: bad[name].to_list() for name in (layout.record_id, layout.booked_at, layout.account,
                                                           layout.amount, layout.currency)}  # fmt: skip
        unknown_ibans = iter(self.unknown_ibans(kinds.count(UNKNOWN_ACCOUNT)))
        for row, kind in enumerate(kinds):
            if kind != DUPLICATE_ROW:
                columns[layout.record_id][row] = next(fresh_ids)
            if kind == UNKNOWN_ACCOUNT:
                columns[layout.account][row] = next(unknown_ibans)
            elif kind == WRONG_CURRENCY:
                columns[layout.currency][row] = OTHER_CURRENCY[columns[layout.currency][row]]
            elif kind == NON_POSITIVE_AMOUNT:
                columns[layout.amount][row] = self._non_positive(columns[layout.amount][row], layout)
            elif kind == MALFORMED_AMOUNT:
                columns[layout.amount][row] = _pick(layout.malformed_amounts(), self.rng)
            elif kind == MALFORMED_BOOKED_AT:
                columns[layout.booked_at][row] = _pick(layout.malformed_times(day), self.rng)
        bad = bad.with_columns(pl.Series(name, values, dtype=bad.schema[name]) for name, values in columns.items())
        self.record(file, columns[layout.record_id], pl.Series(kinds, dtype=pl.String))
        return pl.concat([frame, bad])

    def _non_positive(self, amount: int | str, layout: Layout) -> int | str:
        """Zero or the amount negated, half and half."""
        zero = self.rng.random() < 0.5
        if layout.typed:
            return 0 if zero else -amount
        return ("0.00" if layout.decimal else "0") if zero else f"-{amount}"


def _pick(values: tuple[str, ...], rng: np.random.Generator) -> str:
    return values[int(rng.integers(0, len(values)))]


def truncated(data: bytes, csv: bool, rng: np.random.Generator) -> tuple[bytes, int]:
    """A copy of a file's bytes cut short, and how many of its CSV rows (after the header) it still starts.

    A CSV is cut inside a row after that row's first field, so the cut row's record id is still whole; a Parquet
    file loses its footer (and so all of it)."""
    if not csv:
        return data[: max(len(data) // 2, 1)], 0
    line_ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
    if len(line_ends) < 2:
        return data[: len(data) // 2], 0
    row = int(rng.integers(1, len(line_ends)))  # never the header
    start, end = int(line_ends[row - 1]) + 1, int(line_ends[row])
    first_comma = data.index(b",", start)
    cut = int(rng.integers(first_comma + 1, end))
    return data[:cut], row
