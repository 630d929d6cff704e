"""A day's money movements as numeric columns, in the order ingestion will book them.

Every movement, ordinary or fraudulent, is a row: its channel, local second of the day, our account, the other
side (`counter`, another of our accounts, for p2p; `party`, an index into the channel's pool of names or of
outside parties, otherwise), amount in minor units, a memo index, and for fraud the pattern and its subject.
Rows stay numpy arrays (Rows: column name to array) while a day is drawn and booked, and become one polars frame
after; text is made only when they are written.
"""

import numpy as np
import polars as pl

from bank_pipeline.simulator.profile import BILL, CARD, P2P, SALARY, SEPA_OUT

COLUMNS = {
    "channel": np.int8,
    "seconds": np.int32,
    "account": np.int32,
    "counter": np.int32,
    "party": np.int32,
    "amount": np.int64,
    "memo": np.int16,
    "pattern": np.int8,  # -1: not fraud
    "subject": np.int32,  # the account a fraud label names
}
SCHEMA = {name: {np.int8: pl.Int8, np.int16: pl.Int16, np.int32: pl.Int32, np.int64: pl.Int64}[dtype]
          for name, dtype in COLUMNS.items()}  # fmt: skip
NONE = -1
DEBIT_CHANNELS = (CARD, BILL, P2P, SEPA_OUT)
TRANSACTION_CHANNELS = (SALARY, CARD, BILL, P2P)


Rows = dict[str, np.ndarray]


def movements(channel: int, account: np.ndarray, seconds: np.ndarray, amount: np.ndarray, **columns) -> Rows:
    """Rows of one channel; columns not given are NONE (memo 0)."""
    count = len(account)
    values = {"channel": np.full(count, channel), "seconds": seconds, "account": account, "amount": amount}
    values.update(columns)
    return {
        name: np.asarray(values[name] if name in values else np.full(count, 0 if name == "memo" else NONE), dtype)
        for name, dtype in COLUMNS.items()
    }


def empty() -> Rows:
    return {name: np.zeros(0, dtype) for name, dtype in COLUMNS.items()}


def combine(parts: list[Rows]) -> Rows:
    return {name: np.concatenate([part[name] for part in parts]) for name in SCHEMA} if parts else empty()


def size(rows: Rows) -> int:
    return len(rows["channel"])


def to_frame(rows: Rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


def in_booking_order(rows: Rows) -> Rows:
    """Ingestion books a day's transaction batches first (rows by time), then its pain.001 (a block of transfers
    per debtor account), then its camt.054 (credits only, whose order cannot overdraw anyone). Ties keep the
    order rows were made in: an opening deposit at 00:00:00 before anything else of its account."""
    channel, seconds = rows["channel"], rows["seconds"]
    phase = np.where(np.isin(channel, TRANSACTION_CHANNELS), 0, np.where(channel == SEPA_OUT, 1, 2))
    first = np.where(phase == 1, rows["account"], seconds).astype(np.int64)
    second = np.where(phase == 1, seconds, 0).astype(np.int64)
    # One int64 key (phase: 2 bits, account or second: 33 bits, second: 17 bits) and a stable sort keep ties.
    order = np.argsort((phase.astype(np.int64) << 50) | (first << 17) | second, kind="stable")
    return {name: column[order] for name, column in rows.items()}
