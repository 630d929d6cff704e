"""Statements read from the projections (sql/011): no event replay, a few index probes per account.

The opening balance is the business-time running balance (`business_balance`) of the account's last entry before
the period; the lines are its entries inside the period in (occurred_at, stream_version) order, each carrying
its running balance; pending holds are those placed before the period ended and not released by then. All of a
batch's queries run in one REPEATABLE READ transaction, so a statement never mixes two states of the read model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from bank_pipeline.domain.errors import InconsistentStatement, UnknownAccount
from bank_pipeline.domain.statements import (
    PendingHold,
    Statement,
    StatementAccount,
    StatementLine,
    StatementPeriod,
)
from bank_pipeline.personal_data.reveal import reveal_values

#: Accounts read per round trip by `statements_for_period`.
DEFAULT_BATCH_SIZE = 2_000


class StatementAccountNotFound(UnknownAccount):
    def __init__(self, account_id: str):
        super().__init__(
            f"account {account_id!r} is not in the read model: check the id, or project the newest events first "
            "(`bank-pipeline projections status`)"
        )
        self.account_id = account_id


_ACCOUNTS = """
SELECT a.account_id, a.customer_id, coalesce(c.name, ''), a.currency, a.product, a.opened_at,
       (SELECT max(s.occurred_at) FROM {schema}.account_status_changes s
         WHERE s.account_id = a.account_id AND s.status = 'closed' AND s.occurred_at < %(end)s) AS closed_at,
       (SELECT max(s.recorded_at) FROM {schema}.account_status_changes s
         WHERE s.account_id = a.account_id AND s.occurred_at < %(end)s) AS status_recorded_at,
       o.business_balance, o.recorded_at,
       (SELECT d.closing_balance FROM {schema}.daily_balances d
         WHERE d.account_id = a.account_id AND d.business_day < %(first_day)s
         ORDER BY d.business_day DESC LIMIT 1) AS daily_opening,
       (SELECT d.closing_balance FROM {schema}.daily_balances d
         WHERE d.account_id = a.account_id AND d.business_day <= %(last_day)s
         ORDER BY d.business_day DESC LIMIT 1) AS daily_closing
  FROM {schema}.account_balances a
  LEFT JOIN {schema}.customers c ON c.customer_id = a.customer_id
  LEFT JOIN LATERAL (
        SELECT e.business_balance, e.recorded_at FROM {schema}.account_entries e
         WHERE e.account_id = a.account_id AND e.occurred_at < %(start)s
         ORDER BY e.occurred_at DESC, e.stream_version DESC LIMIT 1) o ON true
 WHERE a.account_id = ANY(%(accounts)s)
 ORDER BY a.account_id
"""

_LINES = """
SELECT account_id, occurred_at, direction, amount, business_balance, transfer_id, flow, counterparty, reference,
       stream_version, global_position, recorded_at
  FROM {schema}.account_entries
 WHERE account_id = ANY(%(accounts)s) AND occurred_at >= %(start)s AND occurred_at < %(end)s
 ORDER BY account_id, occurred_at, stream_version
"""

_PENDING_HOLDS = """
SELECT account_id, hold_id, amount, reason, placed_occurred_at, expires_at, placed_recorded_at
  FROM {schema}.account_holds
 WHERE account_id = ANY(%(accounts)s) AND placed_occurred_at < %(end)s
   AND (released_occurred_at IS NULL OR released_occurred_at >= %(end)s)
 ORDER BY account_id, placed_occurred_at, placed_version
"""

# The accounts a period's statements are for: opened before the period ended (or with an entry back-dated before
# its opening and before the period ended), and not closed before it began.
_ACCOUNTS_IN_PERIOD = """
SELECT a.account_id FROM {schema}.account_balances a
 WHERE a.account_id > %(after)s
   AND (a.opened_at < %(end)s
        OR EXISTS (SELECT 1 FROM {schema}.account_entries e
                    WHERE e.account_id = a.account_id AND e.occurred_at < %(end)s))
   AND NOT EXISTS (SELECT 1 FROM {schema}.account_status_changes s
                    WHERE s.account_id = a.account_id AND s.status = 'closed' AND s.occurred_at < %(start)s)
 ORDER BY a.account_id LIMIT %(limit)s
"""


def statement_for_account(
    conn: psycopg.Connection, account_id: str, period: StatementPeriod, *, schema: str = "projections"
) -> Statement:
    """One account's statement for any period, including periods before it opened or after it closed."""
    statements = read_statements(conn, [account_id], period, schema=schema)
    if not statements:
        raise StatementAccountNotFound(account_id)
    return statements[0]


def statements_for_period(
    conn: psycopg.Connection,
    period: StatementPeriod,
    *,
    schema: str = "projections",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[list[Statement]]:
    """Every statement of the period, in batches in account id order: the accounts open at some point in it."""
    for accounts in accounts_in_period(conn, period, schema=schema, batch_size=batch_size):
        yield read_statements(conn, accounts, period, schema=schema)


def accounts_in_period(
    conn: psycopg.Connection, period: StatementPeriod, *, schema: str = "projections", batch_size: int
) -> Iterator[list[str]]:
    """The ids of the accounts open at some point in the period, in batches in id order."""
    after = ""
    while True:
        params = {"start": period.start, "end": period.end, "after": after, "limit": batch_size}
        accounts = [row[0] for row in conn.execute(_ACCOUNTS_IN_PERIOD.format(schema=schema), params)]
        if not accounts:
            return
        yield accounts
        after = accounts[-1]


def read_statements(
    conn: psycopg.Connection, account_ids: Sequence[str], period: StatementPeriod, *, schema: str = "projections"
) -> list[Statement]:
    """The statements of `account_ids` that exist in the read model, in account id order."""
    params = statement_parameters(account_ids, period)
    with one_snapshot(conn), conn.cursor() as cursor:
        accounts = revealed_names(conn, cursor.execute(_ACCOUNTS.format(schema=schema), params).fetchall())
        lines = _group(cursor.execute(_LINES.format(schema=schema), params).fetchall())
        holds = _group(cursor.execute(_PENDING_HOLDS.format(schema=schema), params).fetchall())
    statements = []
    for row in accounts:
        header = AccountHeader.from_row(row)
        line_rows, hold_rows = lines.get(header.account.account_id, ()), holds.get(header.account.account_id, ())
        statements.append(_statement(header, period, line_rows, hold_rows))
    return statements


def read_headers_and_holds(
    cursor: psycopg.Cursor, params: dict, *, schema: str
) -> tuple[list[AccountHeader], dict[str, list[PendingHold]], dict[str, datetime]]:
    """For the bulk readers: the accounts' headers, their pending holds, and each one's newest hold recording."""
    rows = revealed_names(cursor.connection, cursor.execute(_ACCOUNTS.format(schema=schema), params).fetchall())
    headers = [AccountHeader.from_row(row) for row in rows]
    holds: dict[str, list[PendingHold]] = defaultdict(list)
    newest: dict[str, datetime] = {}
    for row in cursor.execute(_PENDING_HOLDS.format(schema=schema), params):
        holds[row[0]].append(_pending_hold(row))
        newest[row[0]] = max(newest.get(row[0], row[6]), row[6])
    return headers, holds, newest


def revealed_names(conn: psycopg.Connection, rows: list[tuple]) -> list[tuple]:
    """The `_ACCOUNTS` rows with the customer's name revealed (personal_data/reveal.py): the read model keeps it
    sealed; an erased customer's reads ERASED_MARKER."""
    names = reveal_values(conn, [(row[1], "name", row[2]) for row in rows])
    return [(*row[:2], name, *row[3:]) for row, name in zip(rows, names, strict=True)]


def statement_parameters(account_ids: Sequence[str], period: StatementPeriod) -> dict:
    return {
        "accounts": list(account_ids),
        "start": period.start,
        "end": period.end,
        "first_day": period.first_day,
        "last_day": period.last_day,
    }


@contextmanager
def one_snapshot(conn: psycopg.Connection) -> Iterator[None]:
    """A REPEATABLE READ transaction when the connection is idle; inside a caller's transaction, that one.
    Instants come back in UTC, so an entry's date is its UTC business day whatever the server's time zone."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with conn.transaction():
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            yield
        return
    previous = conn.isolation_level
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            yield
    finally:
        conn.isolation_level = previous


def _group(rows: list[tuple]) -> dict[str, list[tuple]]:
    grouped: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row)
    return grouped


@dataclass(frozen=True)
class AccountHeader:
    """What a statement needs about its account besides the lines and holds."""

    account: StatementAccount
    opening_balance: int
    #: The newest recordings among the account's status changes and the entry the opening balance comes from.
    recorded: tuple[datetime, ...]
    opened_at: datetime
    #: The account's closing balances in `daily_balances` on the last day with entries before the period and on
    #: the last such day in it: kept by the projector apart from the entries' running balances.
    daily_opening: int
    daily_closing: int

    @classmethod
    def from_row(cls, row: tuple) -> AccountHeader:
        (account_id, customer_id, customer_name, currency, product, opened_at, closed_at, status_recorded_at,
         opening_balance, opening_recorded_at, daily_opening, daily_closing) = row  # fmt: skip
        account = StatementAccount(
            account_id=account_id, customer_id=customer_id, customer_name=customer_name, currency=currency,
            product=product, opened_on=opened_at.date(), closed_on=closed_at.date() if closed_at else None,
        )  # fmt: skip
        recorded = tuple(instant for instant in (status_recorded_at, opening_recorded_at) if instant is not None)
        return cls(account, opening_balance or 0, recorded, opened_at, daily_opening or 0, daily_closing or 0)

    def generated_at(self, *recorded: datetime | None) -> datetime:
        """The newest recording among the events the statement shows (its entries and pending holds), the entry
        its opening balance comes from and the account's status changes, or the opening when there are none:
        its "generated" time, the same on every regeneration from the same events."""
        newest = max((*self.recorded, *(instant for instant in recorded if instant is not None)), default=None)
        return (newest or self.opened_at).astimezone(UTC)

    def check_against_daily_balances(self, closing_balance: int) -> None:
        """The statement's opening and closing balances must be the daily balances', read in the same snapshot."""
        if (self.opening_balance, closing_balance) != (self.daily_opening, self.daily_closing):
            raise InconsistentStatement(
                f"{self.account.account_id}: the statement opens at {self.opening_balance} and closes at "
                f"{closing_balance}, the daily balances say {self.daily_opening} and {self.daily_closing}: the read "
                "model disagrees with itself; rebuild it (`bank-pipeline projections rebuild`) and generate again"
            )


def _statement(header: AccountHeader, period: StatementPeriod, line_rows, hold_rows) -> Statement:
    lines = tuple(
        StatementLine(
            booking_date=occurred_at.date(), value_date=occurred_at.date(), direction=direction, amount=amount,
            balance_after=balance, transfer_id=transfer_id, flow=flow, counterparty=counterparty,
            reference=reference, stream_version=version, global_position=position, occurred_at=occurred_at,
            recorded_at=recorded_at,
        )
        for (_, occurred_at, direction, amount, balance, transfer_id, flow, counterparty, reference, version, position,
             recorded_at) in line_rows
    )  # fmt: skip
    statement = Statement(
        account=header.account,
        period=period,
        opening_balance=header.opening_balance,
        lines=lines,
        pending_holds=tuple(_pending_hold(row) for row in hold_rows),
        generated_at=header.generated_at(*(line.recorded_at for line in lines), *(row[6] for row in hold_rows)),
    )
    header.check_against_daily_balances(statement.closing_balance)
    return statement


def _pending_hold(row: tuple) -> PendingHold:
    _, hold_id, amount, reason, placed_at, expires_at, _recorded = row
    return PendingHold(hold_id=hold_id, amount=amount, reason=reason, placed_on=placed_at.date(), expires_at=expires_at)
