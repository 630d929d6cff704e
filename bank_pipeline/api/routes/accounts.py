"""What customers read: their customer record, accounts, balances (now or as of any instant), transaction history
and statements, from the read model. Staff (operators, auditors) may read anyone's.

A customer asking for another customer's data gets exactly the answer a nonexistent id gets (404, same body but
for `instance`), after the same work: the ownership filter is part of the lookup (api/queries.py), so either is one
query finding no row. Reads that cannot filter by owner (balance as of, statements) first make that one probe.
Every endpoint takes `?min_position=` (read-your-writes: wait until the read model has a command's effect).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, ConfigDict

from bank_pipeline.api import queries
from bank_pipeline.api.dependencies import IdentityDep, ReadAfter, RuntimeDep, caller, show_position
from bank_pipeline.api.identity import Identity
from bank_pipeline.api.problems import ApiProblem, documented, not_found
from bank_pipeline.api.responses import FastJSONResponse
from bank_pipeline.api.tokens import signing_key
from bank_pipeline.domain.statements import EARLIEST_DAY, LATEST_DAY, StatementPeriod
from bank_pipeline.domain.streams import ID_PATTERN
from bank_pipeline.projections.replay import AccountAsOf, AccountNotFound, account_as_of
from bank_pipeline.runtime import Runtime
from bank_pipeline.statements.formats import FILE_EXTENSIONS, MEDIA_TYPES, renderers
from bank_pipeline.statements.reading import StatementAccountNotFound, statement_for_account

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
MAX_STATEMENT_DAYS = 366  # the document is built in memory: bound its size

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: documented("No bearer token, or not a valid one."),
    404: documented("No such customer or account, or not the caller's (the same answer)."),
    422: documented("Invalid input: `errors` names each invalid field's path."),
    503: documented("The database is unreachable, or the read model did not reach `min_position` in time."),
}

router = APIRouter(tags=["accounts"], responses=PROBLEMS)

CustomerId = Annotated[str, Path(pattern=ID_PATTERN, description="The customer's id.")]
AccountId = Annotated[str, Path(pattern=ID_PATTERN, description="The account's id (an IBAN).")]


def business_day(alias: str, description: str) -> Any:
    """A UTC business day query parameter, within the days statements can cover."""
    return Query(alias=alias, ge=EARLIEST_DAY, le=LATEST_DAY, description=description)


# Responses. Money is integer minor units of the account's currency; instants are ISO 8601 in UTC.


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: str
    name: str
    email: str
    address: str
    kyc_status: str
    status: Literal["active", "closed"]
    registered_at: datetime
    version: int
    erased_at: datetime | None = None  # once erased (GDPR), name, email and address read "[erased]"


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    account_id: str
    customer_id: str
    currency: str
    product: str
    status: Literal["open", "frozen", "closed"]
    overdraft_limit: int
    ledger_balance: int
    held_amount: int
    available_balance: int
    opened_at: datetime
    version: int


class AccountRead(AccountOut):
    position: str  # the read model's checkpoint these figures reflect, as `min_position` takes it


class AccountList(BaseModel):
    customer_id: str
    accounts: list[AccountOut]
    position: str


class BalanceOut(BaseModel):
    account_id: str
    currency: str
    ledger_balance: int
    held_amount: int
    available_balance: int
    #: The instant asked for (business time); null: now, every entry the read model holds.
    as_of: datetime | None
    #: False when the account was not opened yet at `as_of`: the balances are then 0.
    existed: bool
    position: str


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    stream_version: int
    occurred_at: datetime
    recorded_at: datetime
    direction: Literal["credit", "debit"]
    amount: int
    currency: str
    balance_after: int
    counterparty: str | None
    reference: str | None
    transfer_id: str


class TransactionsPage(BaseModel):
    entries: list[EntryOut]  # newest first
    next_cursor: str | None  # pass as `cursor` for the next (older) page; null on the last page


# Customers


@router.get("/v1/customers/{customer_id}", response_model=CustomerOut, summary="A customer's record")
def get_customer(customer_id: CustomerId, who: IdentityDep, rt: RuntimeDep, _: ReadAfter) -> CustomerOut:
    with rt.pool.connection() as conn:
        customer = queries.read_customer(conn, customer_id, visible_to=visible_to(who))
    if customer is None:
        raise not_found("customer")
    return CustomerOut.model_validate(customer)


@router.get("/v1/customers/{customer_id}/accounts", response_model=AccountList, summary="A customer's accounts")
def list_customer_accounts(customer_id: CustomerId, who: IdentityDep, rt: RuntimeDep, _: ReadAfter) -> AccountList:
    return _accounts_of(rt, who, customer_id)


@router.get("/v1/accounts", response_model=AccountList, summary="The caller's accounts (staff: a customer's)")
def list_accounts(
    who: IdentityDep,
    rt: RuntimeDep,
    _: ReadAfter,
    customer_id: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="Whose accounts: required for staff; a customer may omit it."),
    ] = None,
) -> AccountList:
    if customer_id is None:
        if who.is_staff:
            raise invalid("/query/customer_id", "staff must name the customer: ?customer_id=...")
        customer_id = who.customer_id
    return _accounts_of(rt, who, customer_id)


def _accounts_of(rt: Runtime, who: Identity, customer_id: str) -> AccountList:
    with rt.pool.connection() as conn:
        found = queries.read_customer_accounts(conn, customer_id, visible_to=visible_to(who))
    if found is None:
        raise not_found("customer")
    return AccountList(
        customer_id=found.customer_id,
        accounts=[AccountOut.model_validate(account) for account in found.accounts],
        position=show_position(found.checkpoint),
    )


# Accounts


@router.get("/v1/accounts/{account_id}", response_model=AccountRead, summary="An account with its balances now")
def get_account(account_id: AccountId, who: IdentityDep, rt: RuntimeDep, _: ReadAfter) -> AccountRead:
    with rt.pool.connection() as conn:
        found = queries.read_account(conn, account_id, visible_to=visible_to(who))
    if found is None:
        raise not_found("account")
    return AccountRead(**vars(found.account), position=show_position(found.checkpoint))


@router.get("/v1/accounts/{account_id}/balance", response_model=BalanceOut, summary="An account's balance")
async def get_balance(
    account_id: AccountId,
    request: Request,
    _: ReadAfter,
    as_of: Annotated[
        AwareDatetime | None,
        Query(
            ge=datetime.combine(EARLIEST_DAY, time.min, UTC),
            le=datetime.combine(LATEST_DAY, time.max, UTC),
            description="The balance as of this instant by business time (ISO 8601 with an offset); "
            "default: now. Entries back-dated before it count.",
        ),
    ] = None,
) -> BalanceOut | Response:
    who, pool = caller(request), request.app.state.async_pool  # not dependencies: see api/dependencies.py
    if as_of is not None:
        return await run_in_threadpool(balance_at, request.app.state.runtime, who, account_id, as_of)
    async with pool.connection() as conn:  # the hot path: on the event loop, no thread handoff
        found = await queries.read_account_async(conn, account_id, visible_to=visible_to(who))
    if found is None:
        raise not_found("account")
    return FastJSONResponse(current_balance_body(found))


def balance_at(rt: Runtime, who: Identity, account_id: str, as_of: datetime) -> BalanceOut:
    with rt.pool.connection() as conn:
        if not may_read_account(conn, who, account_id):
            raise not_found("account")
        try:
            answer = account_as_of(conn, account_id, as_of, by="business", recent=0)
        except AccountNotFound:
            raise not_found("account") from None
    return balance_as_of(answer)


def current_balance_body(found: queries.AccountNow) -> dict[str, Any]:
    """The balance now as BalanceOut's JSON body, without building the model (the hot path)."""
    account = found.account
    return {
        "account_id": account.account_id, "currency": account.currency, "ledger_balance": account.ledger_balance,
        "held_amount": account.held_amount, "available_balance": account.available_balance, "as_of": None,
        "existed": True, "position": show_position(found.checkpoint),
    }  # fmt: skip


def balance_as_of(answer: AccountAsOf) -> BalanceOut:
    return BalanceOut(
        account_id=answer.account_id, currency=answer.currency, ledger_balance=answer.ledger_balance,
        held_amount=answer.held_amount, available_balance=answer.available_balance,
        as_of=answer.as_of.astimezone(UTC), existed=answer.existed, position=show_position(answer.checkpoint),
    )  # fmt: skip


@router.get("/v1/accounts/{account_id}/transactions", response_model=TransactionsPage, summary="An account's entries")
async def list_transactions(
    account_id: AccountId,
    request: Request,
    _: ReadAfter,
    first_day: Annotated[date | None, business_day("from", "First UTC business day.")] = None,
    last_day: Annotated[date | None, business_day("to", "Last UTC business day, inclusive.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Entries per page.")] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=256, description="The `next_cursor` of the previous page, same query.")
    ] = None,
) -> Response:
    """Booked entries newest first by business time, a page at a time: follow `next_cursor` until it is null."""
    who, pool = caller(request), request.app.state.async_pool  # not dependencies: see api/dependencies.py
    if first_day is not None and last_day is not None and first_day > last_day:
        raise invalid("/query/to", f"the range ends ({last_day}) before it starts ({first_day})")
    scope = cursor_scope(account_id, first_day, last_day)
    before = decode_cursor(cursor, scope) if cursor is not None else None
    start = _day_start(first_day) if first_day is not None else queries.EARLIEST_INSTANT
    end = _day_start(last_day + timedelta(days=1)) if last_day is not None else queries.LATEST_INSTANT
    async with pool.connection() as conn:  # the hot path: on the event loop, no thread handoff
        page = await queries.read_history_async(
            conn, account_id, visible_to=visible_to(who), start=start, end=end, before=before, limit=limit
        )
    if page is None:
        raise not_found("account")
    next_cursor = encode_cursor(page.next_before, scope) if page.next_before is not None else None
    return FastJSONResponse({"entries": page.entries, "next_cursor": next_cursor})  # a TransactionsPage


StatementFormat = Literal["pdf", "csv", "camt053", "mt940"]


STATEMENT_DOCUMENT = {
    "description": "The statement document.",
    "content": {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in MEDIA_TYPES.values()},
}


@router.get(
    "/v1/accounts/{account_id}/statement",
    response_class=Response,
    summary="An account's statement for a date range",
    responses={200: STATEMENT_DOCUMENT},
)
def get_statement(
    account_id: AccountId,
    who: IdentityDep,
    rt: RuntimeDep,
    _: ReadAfter,
    first_day: Annotated[date, business_day("from", "First UTC business day.")],
    last_day: Annotated[date, business_day("to", "Last UTC business day, inclusive.")],
    format: Annotated[StatementFormat, Query(description="pdf, csv, ISO 20022 camt.053 or SWIFT MT940.")] = "pdf",
) -> Response:
    """Opening balance, every booked entry with its running balance, totals, closing balance and pending holds.
    A range before the account opened or after it closed gives an empty statement that says so."""
    period = statement_period(first_day, last_day)
    with rt.pool.connection() as conn:
        if not may_read_account(conn, who, account_id):
            raise not_found("account")
        try:
            statement = statement_for_account(conn, account_id, period)
        except StatementAccountNotFound:
            raise not_found("account") from None
    document = renderers()[format](statement)
    filename = f"statement_{_safe_filename(account_id)}_{period.label}.{FILE_EXTENSIONS[format]}"
    return Response(
        document, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def statement_period(first_day: date, last_day: date) -> StatementPeriod:
    if first_day > last_day:
        raise invalid("/query/to", f"the period ends ({last_day}) before it starts ({first_day})")
    if (last_day - first_day).days >= MAX_STATEMENT_DAYS:
        raise invalid("/query/to", f"a statement covers at most {MAX_STATEMENT_DAYS} days: ask for one per year")
    return StatementPeriod(first_day, last_day)  # the days' bounds are the query's: it cannot refuse them


# Who may read what


def visible_to(who: Identity) -> str | None:
    """The only customer whose data `who` may read; None for staff, who may read anyone's."""
    return None if who.is_staff else who.customer_id


def may_read_account(conn: psycopg.Connection, who: Identity, account_id: str) -> bool:
    """For reads that cannot filter by owner themselves: one primary-key probe for customers, which answers the same
    for another customer's account as for a nonexistent one (no row), before any more work is done."""
    return who.is_staff or queries.account_visible(conn, account_id, visible_to=visible_to(who))


def invalid(path: str, message: str) -> ApiProblem:
    return ApiProblem(
        422, "invalid_request", "Invalid request", f"{path}: {message}", errors=[{"path": path, "message": message}]
    )


# History cursors: opaque to clients, and bound to the query they came from. A cursor is the last entry's key and a
# MAC over that key and the query's account and date range, so it cannot be altered nor replayed against another
# account or range (either is a 422 naming /query/cursor).

_CURSOR_MAC_BYTES = 16


def cursor_scope(account_id: str, first_day: date | None, last_day: date | None) -> bytes:
    return f"history\0{account_id}\0{first_day or ''}\0{last_day or ''}".encode()


def encode_cursor(key: queries.HistoryKey, scope: bytes) -> str:
    body = f"{key.occurred_at.isoformat()}|{key.stream_version}".encode()
    return base64.urlsafe_b64encode(body + _cursor_mac(scope, body)).rstrip(b"=").decode()


def decode_cursor(cursor: str, scope: bytes) -> queries.HistoryKey:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except (ValueError, binascii.Error):
        raise invalid("/query/cursor", "not a cursor this API gave: pass a page's next_cursor unchanged") from None
    body, mac = raw[:-_CURSOR_MAC_BYTES], raw[-_CURSOR_MAC_BYTES:]
    if not body or not hmac.compare_digest(mac, _cursor_mac(scope, body)):
        raise invalid("/query/cursor", "this cursor was not given for this account and date range, or was altered")
    occurred_at, stream_version = body.decode().split("|")
    return queries.HistoryKey(datetime.fromisoformat(occurred_at), int(stream_version))


def _cursor_mac(scope: bytes, body: bytes) -> bytes:
    return hmac.new(_cursor_key(signing_key()), scope + b"\0" + body, hashlib.sha256).digest()[:_CURSOR_MAC_BYTES]


@lru_cache(maxsize=4)
def _cursor_key(signing: str) -> bytes:
    """The cursor's MAC key, derived from the signing key once, not on every page."""
    return hashlib.sha256(b"bank-pipeline history cursor\0" + signing.encode()).digest()


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _safe_filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)
