"""The API's reads from the read model (sql/011): plain functions over a psycopg connection, no web framework, so a
benchmark can time exactly the SQL the endpoints run.

Each read is one statement, one snapshot, a probe of a primary key or one index range scan. `visible_to` limits a
read to one customer's data: the customer id a customer's token names, or None for staff (anyone's). The filter
sits inside the same statement as the lookup, so another customer's record costs exactly what a nonexistent one
does (no row) and answers None like it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypedDict

import psycopg

from bank_pipeline.personal_data.reveal import reveal_values
from bank_pipeline.store.records import Checkpoint

#: The widest business-time range a history query can cover: a page with no range asks for everything.
EARLIEST_INSTANT = datetime.min.replace(tzinfo=UTC)
LATEST_INSTANT = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str
    email: str
    address: str
    kyc_status: str
    status: Literal["active", "closed"]
    registered_at: datetime  # business time
    version: int  # the customer stream's version
    erased_at: datetime | None = None  # business time of the erasure; the personal fields then read "[erased]"


@dataclass(frozen=True)
class Account:
    account_id: str
    customer_id: str
    currency: str
    product: str
    status: Literal["open", "frozen", "closed"]
    overdraft_limit: int  # minor units of currency, as all money here
    ledger_balance: int
    held_amount: int
    available_balance: int
    opened_at: datetime
    version: int  # the account stream's version


@dataclass(frozen=True)
class AccountNow:
    """An account with the read model's checkpoint it was read at."""

    account: Account
    checkpoint: Checkpoint


@dataclass(frozen=True)
class CustomerAccounts:
    customer_id: str
    accounts: tuple[Account, ...]  # in account id order
    checkpoint: Checkpoint


class Entry(TypedDict):
    """A booked entry, the fields of api.routes.accounts.EntryOut in its order. A plain dict, not a dataclass: a page
    of 50 is built and written out as JSON several times faster (the API's hottest read). Its instants are *naive*
    datetimes in UTC, as the query converts them: a timezone conversion per value in Python cost more than the rest
    of the row (write them with orjson.OPT_NAIVE_UTC, or attach UTC)."""

    stream_version: int
    occurred_at: datetime  # business time, UTC
    recorded_at: datetime  # system time, UTC
    direction: Literal["credit", "debit"]
    amount: int
    currency: str
    balance_after: int  # the running balance by business time: the order entries are listed and stated in
    counterparty: str | None
    reference: str | None
    transfer_id: str


ENTRY_FIELDS = tuple(Entry.__annotations__)


@dataclass(frozen=True, order=True)
class HistoryKey:
    """An entry's place in an account's history: the order of the index (account_id, occurred_at, stream_version)."""

    occurred_at: datetime
    stream_version: int


@dataclass(frozen=True)
class HistoryPage:
    entries: list[Entry]  # newest first
    #: The key of the page's last entry when older entries in the range follow, else None.
    next_before: HistoryKey | None


_CUSTOMER = """
SELECT customer_id, name, email, address, kyc_status, status, registered_at AT TIME ZONE 'UTC', version,
       erased_at AT TIME ZONE 'UTC'
  FROM projections.customers
 WHERE customer_id = %(customer_id)s
   AND (%(visible_to)s::text IS NULL OR customer_id = %(visible_to)s)
"""

_ACCOUNT_COLUMNS = """a.account_id, a.customer_id, a.currency, a.product, a.status, a.overdraft_limit,
       a.ledger_balance, a.held_amount, a.available_balance, a.opened_at AT TIME ZONE 'UTC', a.version"""

_ACCOUNT = f"""
SELECT k.transaction_id, k.global_position, {_ACCOUNT_COLUMNS}
  FROM projections.checkpoints k
  LEFT JOIN projections.account_balances a
         ON a.account_id = %(account_id)s
        AND (%(visible_to)s::text IS NULL OR a.customer_id = %(visible_to)s)
 WHERE k.projection = 'read_model'
"""

# No row: no such customer (or not visible); one row with NULL account columns: a customer without accounts.
_CUSTOMER_ACCOUNTS = f"""
SELECT k.transaction_id, k.global_position, c.customer_id, {_ACCOUNT_COLUMNS}
  FROM projections.checkpoints k
  JOIN projections.customers c
    ON c.customer_id = %(customer_id)s
   AND (%(visible_to)s::text IS NULL OR c.customer_id = %(visible_to)s)
  LEFT JOIN (projections.customer_accounts ca
             JOIN projections.account_balances a ON a.account_id = ca.account_id)
         ON ca.customer_id = c.customer_id
 WHERE k.projection = 'read_model'
 ORDER BY ca.account_id
"""

_ACCOUNT_VISIBLE = """
SELECT 1 FROM projections.account_balances
 WHERE account_id = %(account_id)s
   AND (%(visible_to)s::text IS NULL OR customer_id = %(visible_to)s)
"""

# Keyset pagination, newest first: entries strictly before `before` in (occurred_at, stream_version) order and at
# or after `start`. The row comparison is an index condition on account_entries_business_time_idx, so a page is
# one backward range scan of at most `limit` index entries whatever page it is. No row: no such account (or not
# visible); one row of NULLs: an account without entries in the range.
_HISTORY = """
SELECT e.stream_version, e.occurred_at AT TIME ZONE 'UTC', e.recorded_at AT TIME ZONE 'UTC',
       e.direction, e.amount, e.currency, coalesce(e.business_balance, e.balance_after),
       e.counterparty, e.reference, e.transfer_id
  FROM projections.account_balances a
  LEFT JOIN LATERAL (
        SELECT * FROM projections.account_entries x
         WHERE x.account_id = a.account_id
           AND x.occurred_at >= %(start)s
           AND (x.occurred_at, x.stream_version) < (%(before_at)s, %(before_version)s)
         ORDER BY x.occurred_at DESC, x.stream_version DESC
         LIMIT %(limit)s) e ON true
 WHERE a.account_id = %(account_id)s
   AND (%(visible_to)s::text IS NULL OR a.customer_id = %(visible_to)s)
 ORDER BY e.occurred_at DESC, e.stream_version DESC
"""


def read_customer(conn: psycopg.Connection, customer_id: str, *, visible_to: str | None) -> Customer | None:
    """The customer with their personal fields revealed (the read model keeps them sealed): never ciphertext."""
    row = conn.execute(_CUSTOMER, {"customer_id": customer_id, "visible_to": visible_to}).fetchone()
    if row is None:
        return None
    found_id, name, email, address, kyc_status, status, registered_at, version, erased_at = row
    name, email, address = reveal_values(
        conn, [(found_id, "name", name), (found_id, "email", email), (found_id, "address", address)]
    )
    return Customer(
        found_id, name, email, address, kyc_status, status, registered_at=_utc(registered_at), version=version,
        erased_at=_utc(erased_at) if erased_at is not None else None,
    )  # fmt: skip


def read_account(conn: psycopg.Connection, account_id: str, *, visible_to: str | None) -> AccountNow | None:
    """The account with its balances now, and the checkpoint they reflect."""
    return _account_now(conn.execute(_ACCOUNT, {"account_id": account_id, "visible_to": visible_to}).fetchone())


async def read_account_async(
    conn: psycopg.AsyncConnection, account_id: str, *, visible_to: str | None
) -> AccountNow | None:
    """read_account on an async connection: the API's hot path runs on the event loop, with no thread handoff."""
    cursor = await conn.execute(_ACCOUNT, {"account_id": account_id, "visible_to": visible_to})
    return _account_now(await cursor.fetchone())


def _account_now(row: tuple) -> AccountNow | None:
    transaction_id, position, *account = row
    if account[0] is None:
        return None
    return AccountNow(_account(account), Checkpoint(transaction_id, position))


def read_customer_accounts(
    conn: psycopg.Connection, customer_id: str, *, visible_to: str | None
) -> CustomerAccounts | None:
    rows = conn.execute(_CUSTOMER_ACCOUNTS, {"customer_id": customer_id, "visible_to": visible_to}).fetchall()
    if not rows:
        return None
    transaction_id, position, found_customer_id = rows[0][:3]
    accounts = tuple(_account(row[3:]) for row in rows if row[3] is not None)
    return CustomerAccounts(found_customer_id, accounts, Checkpoint(transaction_id, position))


def account_visible(conn: psycopg.Connection, account_id: str, *, visible_to: str | None) -> bool:
    """Whether the account exists and `visible_to` may see it: the gate before reads that cannot filter by owner."""
    return conn.execute(_ACCOUNT_VISIBLE, {"account_id": account_id, "visible_to": visible_to}).fetchone() is not None


def read_history(
    conn: psycopg.Connection,
    account_id: str,
    *,
    visible_to: str | None,
    start: datetime = EARLIEST_INSTANT,
    end: datetime = LATEST_INSTANT,
    before: HistoryKey | None = None,
    limit: int,
) -> HistoryPage | None:
    """One page of the account's entries with business time in [start, end), newest first, older than `before`
    (a previous page's `next_before`). None when there is no such account (or it is not visible)."""
    params = _history_params(account_id, visible_to, start, end, before, limit)
    return _history_page(conn.execute(_HISTORY, params).fetchall(), limit)


async def read_history_async(
    conn: psycopg.AsyncConnection,
    account_id: str,
    *,
    visible_to: str | None,
    start: datetime = EARLIEST_INSTANT,
    end: datetime = LATEST_INSTANT,
    before: HistoryKey | None = None,
    limit: int,
) -> HistoryPage | None:
    """read_history on an async connection."""
    params = _history_params(account_id, visible_to, start, end, before, limit)
    cursor = await conn.execute(_HISTORY, params)
    return _history_page(await cursor.fetchall(), limit)


def _history_params(
    account_id: str, visible_to: str | None, start: datetime, end: datetime, before: HistoryKey | None, limit: int
) -> dict:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    # (end, 0) precedes every entry at `end` (stream versions start at 1): the range's end is the first page's key.
    bound = min(before, HistoryKey(end, 0)) if before is not None else HistoryKey(end, 0)
    return {
        "account_id": account_id, "visible_to": visible_to, "start": start,
        "before_at": bound.occurred_at, "before_version": bound.stream_version, "limit": limit + 1,
    }  # fmt: skip


def _history_page(rows: list[tuple], limit: int) -> HistoryPage | None:
    if not rows:
        return None
    entries = [dict(zip(ENTRY_FIELDS, row, strict=True)) for row in rows if row[0] is not None]
    if len(entries) <= limit:
        return HistoryPage(entries, None)
    last = entries[limit - 1]
    return HistoryPage(entries[:limit], HistoryKey(last["occurred_at"].replace(tzinfo=UTC), last["stream_version"]))


def _account(fields: tuple) -> Account:
    *figures, opened_at, version = fields
    return Account(*figures, opened_at=_utc(opened_at), version=version)


def _utc(naive_utc: datetime) -> datetime:
    """An instant the query gave `AT TIME ZONE 'UTC'`, made aware. Cheaper than converting an aware value from the
    session's time zone in Python, and right whatever that time zone is."""
    return naive_utc.replace(tzinfo=UTC)
