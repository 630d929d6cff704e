"""A period's CSV statements at thousands per second: the entries go from COPY into polars and become CSV text
column by column, instead of a Python object and a formatted row each.

The rows around the entries (statement, opening and closing balance, pending holds, notes) come from
`formats.csv`, and the entry rows follow the same rules (formula-safe text, RFC 4180 quoting, amounts in major
units), so a document made here is byte for byte the one `render_csv` makes from a `Statement`: a test
compares them for every account. The balance chain is checked here too, column-wise: each entry's running
balance must be the opening balance plus the entries up to it, or `InconsistentStatement` names the account.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
import psycopg

from bank_pipeline.domain.money import CURRENCY_EXPONENTS
from bank_pipeline.domain.statements import (
    InconsistentStatement,
    PendingHold,
    StatementAccount,
    StatementPeriod,
    statement_number,
)
from bank_pipeline.read_ahead import read_ahead
from bank_pipeline.statements.formats.csv import COLUMNS, FORMULA_STARTS, LINE_END, rows_after_closing, write_rows
from bank_pipeline.statements.reading import (
    AccountHeader,
    accounts_in_period,
    one_snapshot,
    read_headers_and_holds,
    statement_parameters,
)

_ENTRIES = """
COPY (SELECT account_id, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), direction, amount, currency,
             business_balance, counterparty, reference, transfer_id, global_position,
             (extract(epoch FROM recorded_at) * 1000000)::bigint
        FROM {schema}.account_entries
       WHERE account_id = ANY(%(accounts)s) AND occurred_at >= %(start)s AND occurred_at < %(end)s
       ORDER BY account_id, occurred_at, stream_version)
  TO STDOUT (FORMAT csv)
"""
_ENTRY_SCHEMA = {
    "account_id": pl.String, "day": pl.String, "direction": pl.String, "amount": pl.Int64, "currency": pl.String,
    "balance": pl.Int64,
    "counterparty": pl.String, "reference": pl.String, "transfer_id": pl.String, "position": pl.Int64,
    "recorded_us": pl.Int64,
}  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Accounts per batch: polars has a fixed cost per operation, so larger batches than the object path's.
CSV_BATCH_SIZE = 5_000


@dataclass(frozen=True)
class CsvStatement:
    """A rendered CSV statement and the figures its manifest line needs."""

    account: StatementAccount
    period: StatementPeriod
    opening_balance: int
    credits: int
    debits: int
    entry_count: int
    pending_hold_total: int
    generated_at: datetime
    document: bytes

    @property
    def closing_balance(self) -> int:
        return self.opening_balance + self.credits - self.debits

    @property
    def statement_id(self) -> str:
        return f"{self.account.account_id}-{self.period.label}"


def csv_statements_for_period(
    conn: psycopg.Connection,
    period: StatementPeriod,
    *,
    schema: str = "projections",
    batch_size: int = CSV_BATCH_SIZE,
) -> Iterator[list[CsvStatement]]:
    """Every CSV statement of the period, in batches in account id order (the accounts open in it). The next
    batch is read from the database while this one becomes CSV, so the server and the client work at once."""
    batches = (
        _read_batch(conn, accounts, period, schema)
        for accounts in accounts_in_period(conn, period, schema=schema, batch_size=batch_size)
    )
    for batch in read_ahead(batches):
        yield _render(batch, period)


def csv_statements(
    conn: psycopg.Connection, account_ids: Sequence[str], period: StatementPeriod, *, schema: str = "projections"
) -> list[CsvStatement]:
    """The CSV statements of `account_ids` that exist in the read model, in account id order."""
    return _render(_read_batch(conn, account_ids, period, schema), period)


@dataclass(frozen=True)
class _Batch:
    headers: list[AccountHeader]
    holds: dict[str, list[PendingHold]]
    newest_hold: dict[str, datetime]
    entries: bytes  # COPY's CSV of the entries


def _read_batch(conn: psycopg.Connection, account_ids: Sequence[str], period: StatementPeriod, schema: str) -> _Batch:
    params = statement_parameters(account_ids, period)
    with one_snapshot(conn), conn.cursor() as cursor:
        headers, holds, newest_hold = read_headers_and_holds(cursor, params, schema=schema)
        with cursor.copy(_ENTRIES.format(schema=schema), params) as copy:
            entries = b"".join(copy)
    return _Batch(headers, holds, newest_hold, entries)


def _render(batch: _Batch, period: StatementPeriod) -> list[CsvStatement]:
    bodies = _entry_bodies(_read_entries(batch.entries))
    figures, texts = [], []
    for header in batch.headers:
        account = header.account
        text, credits, debits, count, newest_us, opening_of_entries = bodies.get(account.account_id, _NO_ENTRIES)
        if count and opening_of_entries != header.opening_balance:
            raise InconsistentStatement(
                f"{account.account_id}: the opening balance is {header.opening_balance}, the first entry of the "
                f"period says {opening_of_entries}"
            )
        newest_entry = _EPOCH + timedelta(microseconds=newest_us) if newest_us is not None else None
        generated_at = header.generated_at(newest_entry, batch.newest_hold.get(account.account_id))
        header.check_against_daily_balances(header.opening_balance + credits - debits)
        holds = batch.holds.get(account.account_id, [])
        after_closing = rows_after_closing(account, period, holds)
        figures.append(
            (account, header.opening_balance, credits, debits, count, sum(hold.amount for hold in holds), generated_at)
        )
        texts.append((text, write_rows(after_closing) if after_closing else ""))
    heads, tails = _frames(figures, period)
    return [
        CsvStatement(account, period, opening, credits, debits, count, held, generated_at,
                     (_COLUMN_LINE + head + body + tail + after).encode("utf-8"))
        for (account, opening, credits, debits, count, held, generated_at), head, tail, (body, after)
        in zip(figures, heads, tails, texts, strict=True)
    ]  # fmt: skip


def _frames(figures: list[tuple], period: StatementPeriod) -> tuple[list[str], list[str]]:
    """Column-wise, like `head_rows` and the closing row of `tail_rows`: the rows before and after the entries."""
    if not figures:
        return [], []
    accounts = [account for account, *_ in figures]
    columns = pl.DataFrame(
        {
            "account_id": [account.account_id for account in accounts],
            "currency": [account.currency for account in accounts],
            "name": [account.customer_name for account in accounts],
            "generated": [f[6].strftime("%Y-%m-%dT%H:%M:%SZ") for f in figures],
            "number": [statement_number(account, period) for account in accounts],
            "opening": [f[1] for f in figures],
            "net": [f[2] - f[3] for f in figures],
            "closing": [f[1] + f[2] - f[3] for f in figures],
        },
        schema_overrides={"opening": pl.Int64, "net": pl.Int64, "closing": pl.Int64},
    ).with_columns(pl.col("currency").replace_strict(CURRENCY_EXPONENTS, return_dtype=pl.Int64).alias("exponent"))
    first, last, empty, currency = (
        pl.lit(str(period.first_day)),
        pl.lit(str(period.last_day)),
        pl.lit(""),
        pl.col("currency"),
    )

    def money(column: str) -> pl.Expr:
        return _money_text(pl.col(column), pl.col("exponent"))

    def row(*fields: pl.Expr) -> pl.Expr:
        return pl.concat_str(list(fields), separator=",") + pl.lit(LINE_END)

    head = row(
        pl.lit("statement"),
        first,
        last,
        empty,
        empty,
        empty,
        currency,
        _csv_text(pl.col("name")),
        pl.col("generated"),
        _csv_text(pl.col("account_id")),
        pl.col("number").cast(pl.String),
    ) + row(
        pl.lit("opening_balance"), first, empty, empty, empty, money("opening"), currency, empty, empty, empty, empty
    )
    tail = row(pl.lit("closing_balance"), last, empty, empty, money("net"), money("closing"), currency, empty, empty,
               empty, empty)  # fmt: skip
    texts = columns.select(head.alias("head"), tail.alias("tail"))
    return texts["head"].to_list(), texts["tail"].to_list()


_COLUMN_LINE = ",".join(COLUMNS) + LINE_END
_NO_ENTRIES = ("", 0, 0, 0, None, None)


def _read_entries(data: bytes) -> pl.DataFrame:
    if not data:
        return pl.DataFrame(schema=_ENTRY_SCHEMA)
    return pl.read_csv(data, has_header=False, new_columns=list(_ENTRY_SCHEMA), schema=_ENTRY_SCHEMA)


def _entry_bodies(entries: pl.DataFrame) -> dict[str, tuple]:
    """Per account: its entry rows as CSV text, credits, debits, entry count, newest recording (µs since the
    epoch) and the balance before its first entry (to compare with the opening balance)."""
    signed = pl.when(pl.col("direction") == "credit").then(pl.col("amount")).otherwise(-pl.col("amount"))
    frame = entries.with_columns(
        signed.alias("signed"),
        pl.col("currency").replace_strict(CURRENCY_EXPONENTS, return_dtype=pl.Int64).alias("exponent"),
    )
    same_account = pl.col("account_id") == pl.col("account_id").shift(1)
    chain_broken = same_account & (pl.col("balance") != pl.col("balance").shift(1) + pl.col("signed"))
    broken = frame.filter(chain_broken)
    if broken.height:
        first = broken.row(0, named=True)
        raise InconsistentStatement(
            f"{first['account_id']}: the entry of transfer {first['transfer_id']} says the balance is "
            f"{first['balance']}, the entry before it and its amount say otherwise"
        )
    line = pl.concat_str(
        [
            pl.lit("entry"), pl.col("day"), pl.col("day"), pl.col("direction"),
            _money_text(pl.col("signed"), pl.col("exponent")), _money_text(pl.col("balance"), pl.col("exponent")),
            pl.col("currency"), _csv_text(pl.col("counterparty")), _csv_text(pl.col("reference")),
            _csv_text(pl.col("transfer_id")), pl.col("position").cast(pl.String),
        ],
        separator=",",
    ) + pl.lit(LINE_END)  # fmt: skip
    grouped = frame.group_by("account_id", maintain_order=True).agg(
        line.str.join("").alias("text"),
        pl.col("signed").filter(pl.col("signed") > 0).sum().alias("credits"),
        (-pl.col("signed").filter(pl.col("signed") < 0).sum()).alias("debits"),
        pl.len().alias("count"),
        pl.col("recorded_us").max().alias("newest_us"),
        (pl.col("balance") - pl.col("signed")).first().alias("opening"),
    )
    return {row[0]: row[1:] for row in grouped.iter_rows()}


def _money_text(minor_units: pl.Expr, exponent: pl.Expr) -> pl.Expr:
    """Like `format_amount`: minor units to decimal text in major units of the row's currency exponent."""
    magnitude = minor_units.abs()
    sign = pl.when(minor_units < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    text = pl.when(exponent == 0).then(magnitude.cast(pl.String))
    for places in sorted(set(CURRENCY_EXPONENTS.values()) - {0}):
        scale = 10**places
        fraction = (magnitude % scale).cast(pl.String).str.zfill(places)
        text = text.when(exponent == places).then(
            pl.concat_str([(magnitude // scale).cast(pl.String), fraction], separator=".")
        )
    return pl.concat_str([sign, text.otherwise(None)])


def _csv_text(text: pl.Expr) -> pl.Expr:
    """Like `safe_text` and then the csv module's minimal quoting: an empty string for NULL."""
    text = text.fill_null("")
    formula = "^[" + "".join(sorted(FORMULA_STARTS)).replace("\\", "\\\\").replace("-", "\\-") + "]"
    safe = pl.when(text.str.contains(formula)).then(pl.lit("'") + text).otherwise(text)
    quoted = pl.lit('"') + safe.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(safe.str.contains(r'[,"\r\n]')).then(quoted).otherwise(safe)
