"""The data set of `bank-pipeline bench api`: a big read model written straight into the projections with COPY.

The API serves the projections (sql/011), so the benchmark loads them directly: customers, customer_accounts,
account_balances, account_status_changes and account_entries, consistent with one another as the projector would
leave them, and the read model's checkpoint. Going through the event store and the projector instead would take
hours for 20 M entries on a small machine (both have benches of their own: `bench append`, `bench projections`).
daily_balances and account_holds stay empty: no endpoint measured here reads them.

Per account: an opening deposit, then salaries, card payments, bills and person-to-person transfers spread over
~13 months (stream versions 2.., after AccountOpened at 1), 2 % of them back-dated in business time by up to three
days; balance_after and known_balance are the running sum in stream order (recorded_at follows it), business_balance
the running sum in (occurred_at, stream_version) order, as the projector computes them; no balance ever goes
negative in stream order. Entries are skewed: a few busy accounts share 5 % of them, every other account gets about
the same number. Generated with numpy and polars in chunks on one thread while the main thread streams the previous
chunk to the server (COPY ... FORMAT csv, FREEZE), secondary indexes and keys dropped during the load and built
afterwards, then VACUUM ANALYZE.
"""

from __future__ import annotations

import io
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bank_pipeline.bench.common import BENCH_DATABASE, bench_database
from bank_pipeline.db.connection import connect, database_url
from bank_pipeline.db.databases import drop_database, with_database
from bank_pipeline.simulator import names

DATABASE = f"{BENCH_DATABASE}_api"
DEFAULT_ACCOUNTS = 1_000_000
DEFAULT_ENTRIES = 20_000_000
DEFAULT_SEED = 7

HISTORY_DAYS = 395  # ~13 months of business time, up to the start of today (UTC)
OPENING_SPREAD_DAYS = 30  # accounts open during the first month
CUSTOMER_SHARE = 0.8  # customers per account: one customer in four has a second account
BUSY_ACCOUNT_SHARE = 1 / 10_000  # of accounts: the busy ones
BUSY_ENTRY_SHARE = 0.05  # of entries: what the busy accounts share, Zipf-like
BACKDATED_SHARE = 0.02
RECORDING_DELAY = timedelta(seconds=2)  # recorded_at - occurred_at, for entries not back-dated
CHUNK_ENTRIES = 1_000_000  # per generated chunk: ~250 MB of numpy and polars columns at its peak
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Entry kinds: what an entry is decides its direction, amount, counterparty, reference and flow.
OPENING, SALARY, CARD, BILL, P2P_IN, P2P_OUT = range(6)
KIND_WEIGHTS = {SALARY: 0.06, CARD: 0.52, BILL: 0.18, P2P_IN: 0.11, P2P_OUT: 0.13}
CREDIT_KINDS = (OPENING, SALARY, P2P_IN)
CURRENCIES = ("EUR", "USD", "GBP")
CURRENCY_WEIGHTS = (0.9, 0.06, 0.04)
CARD_NUMBERS = 10_000

ENTRY_COLUMNS = (
    "account_id", "stream_version", "global_position", "transaction_id", "direction", "amount", "currency",
    "balance_after", "business_balance", "known_balance", "transfer_id", "flow", "counterparty", "reference",
    "occurred_at", "recorded_at",
)  # fmt: skip
LOADED_TABLES = ("customers", "customer_accounts", "account_balances", "account_status_changes", "account_entries")
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%.6f+00"


@dataclass(frozen=True)
class DatasetPlan:
    accounts: int = DEFAULT_ACCOUNTS
    entries: int = DEFAULT_ENTRIES
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        if self.accounts < 2 or self.entries < self.accounts:
            raise ValueError("need at least 2 accounts and an entry per account (its opening deposit)")

    @property
    def customers(self) -> int:
        return max(1, math.ceil(self.accounts * CUSTOMER_SHARE))


@dataclass(frozen=True)
class LoadedDataset:
    url: str
    plan: DatasetPlan
    reused: bool
    load_seconds: float  # of the load that made it (an earlier run's when reused)
    copy_seconds: float  # of that: generating and COPYing the rows
    index_seconds: float  # building keys and indexes, VACUUM ANALYZE
    database_bytes: int
    table_bytes: dict[str, int]  # total relation size per loaded table


# -- identifiers, the same wherever computed ----------------------------------------------------------------


def account_ids(numbers: np.ndarray) -> pl.Series:
    """IBAN-like ids of account numbers 0..: DE, two check digits, a bank code and the number."""
    numbers = pl.Series(np.asarray(numbers, dtype=np.int64))
    check = ((numbers * 7_919) % 97 + 2).cast(pl.String).str.zfill(2)
    return ("DE" + check + "50010517" + numbers.cast(pl.String).str.zfill(10)).rename("account_id")


def customer_numbers(account_numbers: np.ndarray, customers: int) -> np.ndarray:
    """Account n belongs to customer n; the accounts past the customers are second accounts, spread over them."""
    numbers = np.asarray(account_numbers, dtype=np.int64)
    return np.where(numbers < customers, numbers, (numbers - customers) * 7 % customers)


def customer_ids(numbers: np.ndarray) -> pl.Series:
    return ("cust-" + pl.Series(np.asarray(numbers, dtype=np.int64)).cast(pl.String).str.zfill(8)).rename("customer_id")


# -- the shape of the data set ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """Per account: its entry count, currency, customer and opening time; the history's time span."""

    entry_counts: np.ndarray  # int64, ≥ 1 each, summing to plan.entries
    currency_codes: np.ndarray  # int8 index into CURRENCIES
    customers: np.ndarray  # int64 customer number
    opened_us: np.ndarray  # int64 microseconds since the Unix epoch
    end_us: int
    plan: DatasetPlan


def shape_of(plan: DatasetPlan, history_end: datetime) -> Shape:
    rng = np.random.default_rng([plan.seed, 1])
    end_us = _microseconds(history_end)
    start_us = end_us - HISTORY_DAYS * 86_400_000_000
    opened_us = start_us + rng.integers(0, OPENING_SPREAD_DAYS * 86_400_000_000, plan.accounts)
    currency_codes = rng.choice(len(CURRENCIES), plan.accounts, p=CURRENCY_WEIGHTS).astype(np.int8)
    customers = customer_numbers(np.arange(plan.accounts), plan.customers)
    return Shape(entry_counts(plan, rng), currency_codes, customers, opened_us, end_us, plan)


def entry_counts(plan: DatasetPlan, rng: np.random.Generator) -> np.ndarray:
    """Every account one entry (its opening deposit); the busy accounts (scattered over the numbers) share
    BUSY_ENTRY_SHARE of the rest by 1/rank, the others share the remainder evenly at random."""
    counts = np.ones(plan.accounts, dtype=np.int64)
    spare = plan.entries - plan.accounts
    busy = rng.choice(plan.accounts, max(1, round(plan.accounts * BUSY_ACCOUNT_SHARE)), replace=False)
    weights = 1 / np.arange(1, len(busy) + 1)
    busy_extra = rng.multinomial(round(spare * BUSY_ENTRY_SHARE), weights / weights.sum())
    counts[busy] += busy_extra
    quiet = np.ones(plan.accounts, dtype=bool)
    quiet[busy] = False
    counts[quiet] += rng.multinomial(spare - busy_extra.sum(), np.full(quiet.sum(), 1 / quiet.sum()))
    return counts


def account_chunks(counts: np.ndarray, entries_per_chunk: int = CHUNK_ENTRIES) -> list[tuple[int, int]]:
    """Consecutive account ranges [first, last) of about `entries_per_chunk` entries each (one busy account may
    make a chunk bigger)."""
    ends = np.cumsum(counts)
    chunks, first = [], 0
    while first < len(counts):
        already = ends[first - 1] if first else 0
        last = int(np.searchsorted(ends, already + entries_per_chunk, side="right"))
        last = max(last, first + 1)
        chunks.append((first, last))
        first = last
    return chunks


# -- one chunk of entries -----------------------------------------------------------------------------------


class TextPools:
    """Counterparty and reference texts entries draw from by index: string building per entry would dominate."""

    def __init__(self, shape: Shape):
        self.employers = pl.Series(names.EMPLOYERS)
        self.merchants = pl.Series(names.MERCHANTS)
        self.billers = pl.Series(names.BILLERS)
        self.memos = pl.Series(names.P2P_MEMOS + names.SEPA_MEMOS)
        self.cards = "CARD *" + pl.int_range(0, CARD_NUMBERS, eager=True).cast(pl.String).str.zfill(4)
        end = datetime.fromtimestamp(shape.end_us / 1e6, UTC)
        months = [(end.year * 12 + end.month - 1 - back) for back in range(HISTORY_DAYS // 28 + 2)]
        self.first_month = min(months)
        self.salaries = pl.Series([f"SALARY {m // 12}-{m % 12 + 1:02d}" for m in sorted(months)])


@dataclass(frozen=True)
class Chunk:
    csv: bytes  # account_entries rows in ENTRY_COLUMNS order
    balances: pl.DataFrame  # the chunk's accounts: ledger balance, version, last checkpoint
    entries: int


def entry_chunk(shape: Shape, pools: TextPools, first: int, last: int) -> Chunk:
    rng = np.random.default_rng([shape.plan.seed, 2, first])
    counts = shape.entry_counts[first:last]
    account = np.repeat(np.arange(first, last), counts)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    index_in_account = np.arange(len(account)) - np.repeat(starts, counts)
    kind = _kinds(rng, index_in_account)
    occurred_us = _entry_times(rng, shape, account, first, counts)
    recorded_us = occurred_us + _microseconds_of(RECORDING_DELAY)
    backdated = (rng.random(len(account)) < BACKDATED_SHARE) & (index_in_account > 0)
    occurred_us = occurred_us - backdated * rng.integers(3_600_000_000, 3 * 86_400_000_000, len(account))
    amount = _amounts(rng, kind)
    signed = np.where(np.isin(kind, CREDIT_KINDS), amount, -amount)
    balance_after = _segment_cumsum(signed, starts, counts)
    # No balance below zero in stream order: the opening deposit covers the lowest point of the history.
    shortfall = np.maximum(0, -np.minimum.reduceat(balance_after, starts))
    shortfall = np.ceil(shortfall / 10_000).astype(np.int64) * 10_000
    amount[starts] += shortfall
    signed[starts] += shortfall
    balance_after += np.repeat(shortfall, counts)
    business_balance = _business_balance(signed, account, occurred_us, index_in_account, starts, counts)
    transaction_id, global_position = _positions(recorded_us, account)
    ids = account_ids(np.arange(first, last))
    frame = pl.DataFrame(
        {
            "account_id": ids.gather(account - first),
            "stream_version": index_in_account + 2,
            "global_position": global_position,
            "transaction_id": transaction_id,
            "direction": np.where(signed > 0, "credit", "debit"),
            "amount": amount,
            "currency": pl.Series(CURRENCIES).gather(shape.currency_codes[account]),
            "balance_after": balance_after,
            "business_balance": business_balance,
            "known_balance": balance_after,  # recorded_at follows stream order, so the bank knew them in it
            "transfer_id": "tr-" + pl.Series(global_position).cast(pl.String).str.zfill(16),
            "flow": np.where((kind == P2P_OUT) | (kind == P2P_IN), "internal", "external"),
            "counterparty": _counterparties(rng, pools, kind, shape.plan.accounts),
            "reference": _references(rng, pools, kind, account, occurred_us),
            "occurred_at": _datetimes(occurred_us),
            "recorded_at": _datetimes(recorded_us),
        }
    )
    ends = starts + counts - 1
    balances = pl.DataFrame(
        {
            "account_number": np.arange(first, last),
            "ledger_balance": balance_after[ends],
            "version": counts + 1,
            "last_transaction_id": transaction_id[ends],
            "last_position": global_position[ends],
        }
    )
    return Chunk(_csv(frame), balances, len(account))


def _kinds(rng: np.random.Generator, index_in_account: np.ndarray) -> np.ndarray:
    kinds = np.array(list(KIND_WEIGHTS), dtype=np.int8)
    weights = np.array(list(KIND_WEIGHTS.values()))
    kind = rng.choice(kinds, len(index_in_account), p=weights / weights.sum())
    kind[index_in_account == 0] = OPENING
    return kind


def _entry_times(
    rng: np.random.Generator, shape: Shape, account: np.ndarray, first: int, counts: np.ndarray
) -> np.ndarray:
    """Sorted uniform instants per account between its opening and the end of the history: sorting
    (account + u) sorts each account's u within its own segment, as the segments keep their places."""
    key = (account - first) + rng.random(len(account))
    key.sort()
    fraction = key - (account - first)
    opened = shape.opened_us[account]
    return opened + (fraction * (shape.end_us - opened)).astype(np.int64)


def _amounts(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    """Minor units: lognormal around what each kind of payment usually is."""
    typical = np.select(
        [kind == OPENING, kind == SALARY, kind == CARD, kind == BILL],
        [50_000, 320_000, 2_500, 9_000],
        4_000,
    )
    spread = np.where(kind == SALARY, 0.3, 0.9)
    return np.maximum(1, (typical * rng.lognormal(0, spread, len(kind))).astype(np.int64))


def _segment_cumsum(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    running = np.cumsum(values)
    before_segment = running[starts] - values[starts]
    return running - np.repeat(before_segment, counts)


def _business_balance(
    signed: np.ndarray,
    account: np.ndarray,
    occurred_us: np.ndarray,
    index_in_account: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """The running sum in (occurred_at, stream_version) order within each account, in stream order again."""
    order = np.lexsort((index_in_account, occurred_us, account))
    balance = np.empty_like(signed)
    balance[order] = _segment_cumsum(signed[order], starts, counts)
    return balance


def _positions(recorded_us: np.ndarray, account: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Checkpoints that follow recording order: a transaction per millisecond, positions within it by account."""
    transaction_id = recorded_us // 1_000
    return transaction_id, transaction_id * 1_000 + account % 1_000


def _counterparties(rng: np.random.Generator, pools: TextPools, kind: np.ndarray, accounts: int) -> pl.Series:
    size = len(kind)
    pick = {
        SALARY: pools.employers.gather(rng.integers(0, len(pools.employers), size)),
        CARD: pools.merchants.gather(rng.integers(0, len(pools.merchants), size)),
        BILL: pools.billers.gather(rng.integers(0, len(pools.billers), size)),
    }
    other_accounts = account_ids(rng.integers(0, accounts, size))  # internal transfers name the other account
    frame = pl.DataFrame({"kind": kind, "other": other_accounts, **{str(k): v for k, v in pick.items()}})
    return frame.select(
        pl.when(pl.col("kind") == SALARY)
        .then(pl.col(str(SALARY)))
        .when(pl.col("kind") == CARD)
        .then(pl.col(str(CARD)))
        .when(pl.col("kind") == BILL)
        .then(pl.col(str(BILL)))
        .when(pl.col("kind").is_in([P2P_IN, P2P_OUT]))
        .then(pl.col("other"))
        .otherwise(None)
        .alias("counterparty")
    ).to_series()


def _references(
    rng: np.random.Generator, pools: TextPools, kind: np.ndarray, account: np.ndarray, occurred_us: np.ndarray
) -> pl.Series:
    size = len(kind)
    occurred = _datetimes(occurred_us)
    months = occurred.dt.year().cast(pl.Int64) * 12 + occurred.dt.month().cast(pl.Int64) - 1
    salary_index = (months - pools.first_month).clip(0, len(pools.salaries) - 1)
    contracts = pl.Series(account * 7_919 % 100_000_000).cast(pl.String).str.zfill(8)
    frame = pl.DataFrame(
        {
            "kind": kind,
            "salary": pools.salaries.gather(salary_index),
            "card": pools.cards.gather(rng.integers(0, CARD_NUMBERS, size)),
            "memo": pools.memos.gather(rng.integers(0, len(pools.memos), size)),
            "contract": "CONTRACT " + contracts,
            "blank": rng.random(size) < 0.1,  # some payers leave the reference empty
        }
    )
    return frame.select(
        pl.when(pl.col("kind") == OPENING)
        .then(pl.lit("OPENING DEPOSIT"))
        .when(pl.col("kind") == SALARY)
        .then(pl.col("salary"))
        .when(pl.col("kind") == CARD)
        .then(pl.col("card"))
        .when(pl.col("kind") == BILL)
        .then(pl.col("contract"))
        .when(pl.col("blank"))
        .then(None)
        .otherwise(pl.col("memo"))
        .alias("reference")
    ).to_series()


def _datetimes(microseconds: np.ndarray) -> pl.Series:
    return pl.Series(microseconds).cast(pl.Datetime("us"))


def _csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, datetime_format=DATETIME_FORMAT)
    return buffer.getvalue()


def _microseconds(instant: datetime) -> int:
    return _microseconds_of(instant - EPOCH)


def _microseconds_of(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


# -- the tables around the entries --------------------------------------------------------------------------


def customers_frame(shape: Shape) -> pl.DataFrame:
    rng = np.random.default_rng([shape.plan.seed, 3])
    count = shape.plan.customers
    numbers = np.arange(count)
    first = pl.Series(names.FIRST_NAMES).gather(rng.integers(0, len(names.FIRST_NAMES), count))
    last = pl.Series(names.LAST_NAMES).gather(rng.integers(0, len(names.LAST_NAMES), count))
    street = pl.Series(names.STREETS).gather(rng.integers(0, len(names.STREETS), count))
    city = pl.Series(names.CITIES).gather(rng.integers(0, len(names.CITIES), count))
    house = pl.Series(rng.integers(1, 200, count)).cast(pl.String)
    # A customer registers just before their first account opens.
    first_opened = np.full(count, np.iinfo(np.int64).max)
    np.minimum.at(first_opened, shape.customers, shape.opened_us)
    ids = customer_ids(numbers)
    return pl.DataFrame(
        {
            "customer_id": ids,
            "name": first + " " + last,
            "email": ids + "@" + pl.Series(names.EMAIL_DOMAINS).gather(numbers % len(names.EMAIL_DOMAINS)),
            "address": street + " " + house + ", " + city,
            "kyc_status": np.full(count, "verified"),
            "status": np.full(count, "active"),
            "version": np.full(count, 2),  # CustomerRegistered, KycStatusChanged
            "registered_at": _datetimes(first_opened - 60_000_000),
        }
    )


def balances_frame(shape: Shape, per_chunk: list[pl.DataFrame]) -> pl.DataFrame:
    figures = pl.concat(per_chunk).sort("account_number")
    numbers = figures["account_number"].to_numpy()
    count = len(numbers)
    return pl.DataFrame(
        {
            "account_id": account_ids(numbers),
            "customer_id": customer_ids(shape.customers[numbers]),
            "currency": pl.Series(CURRENCIES).gather(shape.currency_codes[numbers]),
            "product": np.where(numbers < shape.plan.customers, "current", "savings"),
            "overdraft_limit": np.zeros(count, dtype=np.int64),
            "status": np.full(count, "open"),
            "ledger_balance": figures["ledger_balance"],
            "held_amount": np.zeros(count, dtype=np.int64),
            "version": figures["version"],
            "last_transaction_id": figures["last_transaction_id"],
            "last_position": figures["last_position"],
            "opened_at": _datetimes(shape.opened_us[numbers]),
        }
    )


# -- loading ------------------------------------------------------------------------------------------------

ProgressCallback = Callable[[int], None]


@contextmanager
def api_dataset(plan: DatasetPlan, *, keep: bool, console: Console, name: str = DATABASE) -> Iterator[LoadedDataset]:
    """The loaded bench database `name`: a kept one of an earlier run when it holds this plan's data, else a fresh
    one loaded now. Dropped afterwards unless `keep`."""
    server_url = database_url()
    reusable = reusable_dataset(server_url, plan, name) if keep else None
    if reusable is not None:
        console.print(f"reusing the kept database {name} (loaded in {reusable.load_seconds:,.0f}s by a run before)")
        yield reusable
        return
    with bench_database(name, keep=keep, server_url=server_url) as database:
        yield load(database.url, plan, console=console)


def load(url: str, plan: DatasetPlan, *, console: Console, history_end: datetime | None = None) -> LoadedDataset:
    history_end = history_end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    console.print(
        f"loading the read model straight into the projections (COPY; through the event store and the projector "
        f"this would take hours): {plan.accounts:,} accounts, {plan.customers:,} customers, {plan.entries:,} "
        "entries — a few minutes per million accounts on a small machine …"
    )
    started = time.perf_counter()
    shape = shape_of(plan, history_end)
    with connect(url) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        rebuild_keys = drop_keys_and_indexes(conn)
        with conn.transaction():
            _truncate(conn)  # in the COPY's transaction, so COPY may FREEZE (no later hint-bit and freeze writes)
            per_chunk = _copy_entries(conn, shape, console)
            _copy_frame(conn, "customers", customers_frame(shape))
            balances = balances_frame(shape, per_chunk)
            _copy_frame(conn, "account_balances", balances)
            _copy_frame(conn, "customer_accounts", balances.select("customer_id", "account_id", "opened_at"))
            _copy_frame(conn, "account_status_changes", _status_changes(balances))
            _set_checkpoint(conn, plan, balances)
        copied = time.perf_counter()
        _build(conn, rebuild_keys, console)
        _vacuum_analyze(conn)
        finished = time.perf_counter()
        _mark_complete(conn, plan, finished - started, copied - started)
    dataset = describe(url, plan, reused=False, load_seconds=finished - started, copy_seconds=copied - started)
    console.print(
        f"loaded in {dataset.load_seconds:,.0f}s: rows {dataset.copy_seconds:,.0f}s "
        f"({plan.entries / dataset.copy_seconds:,.0f} entries/s), keys, indexes and VACUUM ANALYZE "
        f"{dataset.index_seconds:,.0f}s; database {dataset.database_bytes / 1e9:,.1f} GB"
    )
    return dataset


def _copy_entries(conn: psycopg.Connection, shape: Shape, console: Console) -> list[pl.DataFrame]:
    """Stream every chunk of entries; a thread generates the next chunk meanwhile (numpy and polars release the
    GIL for their heavy parts). Returns each chunk's per-account figures."""
    chunks = account_chunks(shape.entry_counts)
    ready: queue.Queue[Chunk | BaseException | None] = queue.Queue(maxsize=2)
    pools = TextPools(shape)
    stop = threading.Event()

    def produce() -> None:
        try:
            for first, last in chunks:
                if stop.is_set():
                    return
                ready.put(entry_chunk(shape, pools, first, last))
            ready.put(None)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            ready.put(error)

    producer = threading.Thread(target=produce, name="bench-api-generator", daemon=True)
    producer.start()
    per_chunk: list[pl.DataFrame] = []
    statement = _copy_statement("account_entries", ENTRY_COLUMNS)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    try:
        with Progress(*columns, console=console, transient=True) as progress, conn.cursor().copy(statement) as copy:
            task = progress.add_task("entries", total=shape.plan.entries, rate="")
            while (chunk := ready.get()) is not None:
                if isinstance(chunk, BaseException):
                    raise chunk
                copy.write(chunk.csv)
                per_chunk.append(chunk.balances)
                progress.advance(task, chunk.entries)
                done = progress.tasks[0].completed
                progress.update(task, rate=f"{done / (time.perf_counter() - started):,.0f} entries/s")
    finally:
        stop.set()
        _drain(ready)
        producer.join(timeout=60)
    return per_chunk


def _drain(ready: queue.Queue) -> None:
    """Let a producer blocked on a full queue see `stop`."""
    try:
        while True:
            ready.get_nowait()
    except queue.Empty:
        pass


def _copy_statement(table: str, columns: tuple[str, ...] | list[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, FREEZE)").format(
        sql.Identifier("projections", table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def _copy_frame(conn: psycopg.Connection, table: str, frame: pl.DataFrame) -> None:
    with conn.cursor().copy(_copy_statement(table, frame.columns)) as copy:
        for offset in range(0, frame.height, CHUNK_ENTRIES):
            copy.write(_csv(frame.slice(offset, CHUNK_ENTRIES)))


def _status_changes(balances: pl.DataFrame) -> pl.DataFrame:
    return balances.select(
        "account_id",
        pl.lit(1, dtype=pl.Int64).alias("stream_version"),
        pl.lit("open").alias("status"),
        pl.col("opened_at").alias("occurred_at"),
        (pl.col("opened_at") + RECORDING_DELAY).alias("recorded_at"),
    )


def _truncate(conn: psycopg.Connection) -> None:
    tables = sql.SQL(", ").join(sql.Identifier("projections", table) for table in LOADED_TABLES)
    conn.execute(sql.SQL("TRUNCATE {}").format(tables))


def _set_checkpoint(conn: psycopg.Connection, plan: DatasetPlan, balances: pl.DataFrame) -> None:
    """Where the read model stands: past every loaded entry; as many events as the histories hold (customers
    registered and verified, accounts opened, their entries)."""
    newest = balances.select(pl.max("last_transaction_id"), pl.max("last_position")).row(0)
    events = 2 * plan.customers + plan.accounts + plan.entries
    conn.execute(
        "UPDATE projections.checkpoints SET transaction_id = %s, global_position = %s, events_projected = %s, "
        "updated_at = now() WHERE projection = 'read_model'",
        (newest[0], newest[1], events),
    )


def drop_keys_and_indexes(conn: psycopg.Connection) -> list[str]:
    """Drop the loaded tables' primary keys and indexes (COPY into bare tables, then one sort per index: far
    quicker than maintaining them row by row); returns the statements that rebuild them exactly."""
    rebuild: list[str] = []
    with conn.transaction():
        for table in LOADED_TABLES:
            qualified = f"projections.{table}"
            keys = conn.execute(
                "SELECT conname, pg_get_constraintdef(oid), conindid FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
                (qualified,),
            ).fetchall()
            indexes = conn.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = %s::regclass AND i.indexrelid <> ALL(%s::oid[])",
                (qualified, [index_oid for *_, index_oid in keys]),
            ).fetchall()
            for name, definition, _ in keys:
                conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.Identifier("projections", table), sql.Identifier(name)))  # fmt: skip
                rebuild.append(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ")
                    .format(sql.Identifier("projections", table), sql.Identifier(name))
                    .as_string(conn)
                    + definition
                )
            for name, definition in indexes:
                conn.execute(f"DROP INDEX {name}")
                rebuild.append(definition)
    return rebuild


def _build(conn: psycopg.Connection, statements: list[str], console: Console) -> None:
    with console.status("building primary keys and indexes …"):
        for statement in statements:
            conn.execute(statement)


def _vacuum_analyze(conn: psycopg.Connection) -> None:
    for table in LOADED_TABLES:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier("projections", table)))


# -- kept data sets -----------------------------------------------------------------------------------------

_MARKER = "public.bench_api_dataset"


def _mark_complete(conn: psycopg.Connection, plan: DatasetPlan, load_seconds: float, copy_seconds: float) -> None:
    conn.execute(
        f"CREATE TABLE {_MARKER} (accounts bigint, entries bigint, seed bigint, load_seconds float8, "
        "copy_seconds float8, loaded_at timestamptz DEFAULT now())"
    )
    conn.execute(
        f"INSERT INTO {_MARKER} (accounts, entries, seed, load_seconds, copy_seconds) VALUES (%s, %s, %s, %s, %s)",
        (plan.accounts, plan.entries, plan.seed, load_seconds, copy_seconds),
    )


def reusable_dataset(server_url: str, plan: DatasetPlan, name: str = DATABASE) -> LoadedDataset | None:
    """The kept database `name` when a completed load of this plan is in it and its row counts match; else None."""
    with connect(with_database(server_url, "postgres")) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            return None
    url = with_database(server_url, name)
    with connect(url) as conn:
        if conn.execute("SELECT to_regclass(%s)", (_MARKER,)).fetchone()[0] is None:
            return None
        marker = conn.execute(f"SELECT accounts, entries, seed, load_seconds, copy_seconds FROM {_MARKER}").fetchone()
        if marker is None or tuple(marker[:3]) != (plan.accounts, plan.entries, plan.seed):
            return None
        accounts = conn.execute("SELECT count(*) FROM projections.account_balances").fetchone()[0]
        entries = conn.execute("SELECT count(*) FROM projections.account_entries").fetchone()[0]
    if (accounts, entries) != (plan.accounts, plan.entries):
        return None
    return describe(url, plan, reused=True, load_seconds=marker[3], copy_seconds=marker[4])


def describe(url: str, plan: DatasetPlan, *, reused: bool, load_seconds: float, copy_seconds: float) -> LoadedDataset:
    with connect(url) as conn:
        database_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        table_bytes = dict(
            conn.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'projections' AND c.relname = ANY(%s)",
                (list(LOADED_TABLES),),
            ).fetchall()
        )
    return LoadedDataset(url, plan, reused, load_seconds, copy_seconds, load_seconds - copy_seconds, database_bytes,
                         table_bytes)  # fmt: skip


def drop_kept(name: str = DATABASE, server_url: str | None = None) -> None:
    drop_database(server_url or database_url(), name)
