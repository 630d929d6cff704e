"""Statements as CSV: one table, one `record` column saying what each row is, so any CSV reader takes it whole.

Rows, in this order:
  statement        date = first day, value_date = last day, party = customer name, text = generated at (UTC),
                   id = account id, position = statement number
  opening_balance  date = first day, balance = the opening balance
  entry            one per booked line: booking and value date, direction, amount, balance after, counterparty,
                   reference, transfer id, global position of its event
  closing_balance  date = last day, balance = the closing balance; amount = net movement
  pending_hold     date = placed on, value_date = expiry day, amount, text = reason, id = hold id
  note             text = what to know about the period (the account opened or closed inside it)
Money is decimal text in major units of `currency` (never floats), debits negative in `amount`. RFC 4180: comma,
double quotes, CRLF line ends, UTF-8 without a byte order mark. Free text (names, counterparties, references)
that a spreadsheet would run as a formula (starting with = + - @ or a tab) gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from datetime import datetime

from bank_pipeline.domain.money import format_amount
from bank_pipeline.domain.statements import (
    PendingHold,
    Statement,
    StatementAccount,
    StatementPeriod,
    period_notes,
    statement_number,
)

COLUMNS = (
    "record", "date", "value_date", "direction", "amount", "balance", "currency", "party", "text", "id", "position",
)  # fmt: skip


def render_csv(statement: Statement) -> bytes:
    account, period = statement.account, statement.period
    return document(
        head_rows(account, period, statement.generated_at, statement.opening_balance),
        write_rows(entry_rows(statement)),
        tail_rows(account, period, statement.credits - statement.debits, statement.closing_balance,
                  statement.pending_holds),
    )  # fmt: skip


def document(head: list[tuple], entries: str, tail: list[tuple]) -> bytes:
    """The column names, the rows before the entries, the entries (already CSV text), the rows after them."""
    return (write_rows([COLUMNS, *head]) + entries + write_rows(tail)).encode("utf-8")


def write_rows(rows: list[tuple]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_END).writerows(rows)
    return buffer.getvalue()


def head_rows(account: StatementAccount, period: StatementPeriod, generated_at: datetime, opening: int) -> list[tuple]:
    currency = account.currency
    return [
        ("statement", period.first_day, period.last_day, "", "", "", currency, safe_text(account.customer_name),
         generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"), safe_text(account.account_id), statement_number(account, period)),
        ("opening_balance", period.first_day, "", "", "", format_amount(opening, currency), currency, "", "", "", ""),
    ]  # fmt: skip


def entry_rows(statement: Statement) -> list[tuple]:
    currency = statement.account.currency
    money = functools.partial(format_amount, currency=currency)
    return [
        ("entry", line.booking_date, line.value_date, line.direction, money(line.signed_amount),
         money(line.balance_after), currency, safe_text(line.counterparty), safe_text(line.reference),
         safe_text(line.transfer_id), line.global_position)
        for line in statement.lines
    ]  # fmt: skip


def tail_rows(
    account: StatementAccount, period: StatementPeriod, net: int, closing: int, holds: Sequence[PendingHold]
) -> list[tuple]:
    currency = account.currency
    money = functools.partial(format_amount, currency=currency)
    closing_row = ("closing_balance", period.last_day, "", "", money(net), money(closing), currency, "", "", "", "")
    return [closing_row, *rows_after_closing(account, period, holds)]


def rows_after_closing(account: StatementAccount, period: StatementPeriod, holds: Sequence[PendingHold]) -> list[tuple]:
    """The pending holds and the notes: empty for most statements."""
    currency = account.currency
    rows: list[tuple] = [
        ("pending_hold", hold.placed_on, hold.expires_at.date(), "debit", format_amount(-hold.amount, currency), "",
         currency, "", safe_text(hold.reason), safe_text(hold.hold_id), "")
        for hold in holds
    ]  # fmt: skip
    rows.extend(("note", "", "", "", "", "", "", "", note, "", "") for note in period_notes(account, period))
    return rows


def safe_text(text: str | None) -> str:
    if not text:
        return ""
    return "'" + text if text[0] in FORMULA_STARTS else text


#: A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = frozenset("=+-@\t\r")
LINE_END = "\r\n"
