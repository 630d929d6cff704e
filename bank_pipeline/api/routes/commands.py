"""Commands over HTTP: open an account, move money between accounts of the bank, send money to another bank.

Every command needs an Idempotency-Key and goes through the one command path (CommandHandler) with the caller
as the actor of its events. Amounts are integer minor units, never floats or decimal text.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import schwifty
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator
from schwifty.exceptions import SchwiftyException

from bank_pipeline.api.command_results import (
    COMMAND_PROBLEMS,
    AccountId,
    CommandAccepted,
    IdempotencyKey,
    Name,
    Reference,
    RequestId,
    accepted_fields,
    answer_created,
    derived_id,
    run_command,
    scoped_key,
)
from bank_pipeline.api.dependencies import RuntimeDep, require
from bank_pipeline.api.identity import Identity
from bank_pipeline.api.problems import ApiProblem, not_found
from bank_pipeline.application.handler import CommandResult
from bank_pipeline.domain.account import AccountState
from bank_pipeline.domain.commands import OpenAccount, RequestOutboundTransfer, TransferInternal
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.domain.events import OutboundTransferRequested, event_from_stored
from bank_pipeline.domain.money import CURRENCY_EXPONENTS
from bank_pipeline.domain.streams import ID_PATTERN, account_stream, transfer_stream
from bank_pipeline.ingest.commands import OUTBOUND_HOLD_DAYS
from bank_pipeline.runtime import Runtime
from bank_pipeline.statements.issuer import BANK
from bank_pipeline.store import IdempotencyConflict

router = APIRouter(prefix="/v1", tags=["commands"])

Caller = Annotated[Identity, Depends(require("customer", "operator"))]
Currency = Literal[tuple(sorted(CURRENCY_EXPONENTS))]
# Far above any real payment, far below where sums of them could overflow the read model's bigint balances.
MAX_MINOR_UNITS = 10**15
MinorUnits = Annotated[
    StrictInt,
    Field(
        gt=0,
        le=MAX_MINOR_UNITS,
        description="Minor units of `currency` (cents for EUR) as a JSON integer: "
        "a number with a decimal point, even 150.0, or text is refused.",
    ),
]
IBAN_SHAPE = r"^[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 ]{8,60}$"
CustomerId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
# Account numbers of accounts opened through the API: between the simulator's opened accounts (from 1e9) and
# its never-opened ones (from 9e9), so a derived number never lands on a simulated account.
API_ACCOUNT_NUMBERS = range(5_000_000_000, 9_000_000_000)


class OpenAccountRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId | None = Field(
        None, description="Whose account: operators must name the customer; customers may omit it (themselves)."
    )
    currency: Currency
    product: Literal["current", "savings"] = "current"
    overdraft_limit: Annotated[StrictInt, Field(ge=0, le=MAX_MINOR_UNITS)] = Field(
        0, description="Minor units the balance may go below zero; only operators may grant one."
    )


class AccountOpenedResponse(CommandAccepted):
    account_id: str = Field(description="The new account's IBAN.")
    customer_id: str


class InternalTransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_account_id: AccountId = Field(description="One of your accounts (any account, for operators).")
    to_account_id: AccountId = Field(description="Any account of the bank.")
    amount: MinorUnits
    currency: Currency
    reference: Reference | None = None


class ExternalTransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_account_id: AccountId = Field(description="One of your accounts (any account, for operators).")
    amount: MinorUnits
    currency: Currency
    creditor_iban: Annotated[str, StringConstraints(pattern=IBAN_SHAPE, max_length=64)] = Field(
        description="The payee's IBAN, with or without spaces; its check digits are verified."
    )
    creditor_name: Name
    reference: Reference | None = None

    @field_validator("creditor_iban")
    @classmethod
    def _valid_iban(cls, value: str) -> str:
        try:
            return schwifty.IBAN(value).compact
        except SchwiftyException as error:
            raise ValueError(f"not a valid IBAN: {error}") from error


class TransferAcceptedResponse(CommandAccepted):
    transfer_id: str = Field(description="The same for every retry with the same Idempotency-Key.")


@router.post(
    "/accounts", status_code=201, response_model=AccountOpenedResponse, summary="Open an account",
    responses={200: {"model": AccountOpenedResponse, "description": "A retry: the account the first request opened."},
               **COMMAND_PROBLEMS},
)  # fmt: skip
def open_account(
    body: OpenAccountRequest,
    who: Caller,
    rt: RuntimeDep,
    response: Response,
    idempotency_key: IdempotencyKey,
    x_request_id: RequestId = None,
) -> AccountOpenedResponse:
    """Open an account; the bank chooses its IBAN. Customers open for themselves, operators for any customer."""
    customer_id = customer_opening_for(who, body)
    account_id = new_account_iban(customer_id, scoped_key(who, idempotency_key))
    command = OpenAccount(account_id, customer_id, body.currency, body.product, body.overdraft_limit)
    result = run_command(rt, who, command, idempotency_key, x_request_id)
    answer_created(response, result, f"/v1/accounts/{account_id}")
    return AccountOpenedResponse(**accepted_fields(result), account_id=account_id, customer_id=customer_id)


@router.post(
    "/transfers", status_code=201, response_model=TransferAcceptedResponse, summary="Transfer within the bank",
    responses={200: {"model": TransferAcceptedResponse, "description": "A retry: the first request's transfer."},
               **COMMAND_PROBLEMS},
)  # fmt: skip
def transfer_internal(
    body: InternalTransferRequest,
    who: Caller,
    rt: RuntimeDep,
    response: Response,
    idempotency_key: IdempotencyKey,
    x_request_id: RequestId = None,
) -> TransferAcceptedResponse:
    """Move money from one of your accounts to any account of the bank, at once."""
    require_sending_account(rt, who, body.from_account_id)
    transfer_id = derived_id("api", scoped_key(who, idempotency_key))
    command = TransferInternal(
        transfer_id, body.from_account_id, body.to_account_id, body.amount, body.currency, body.reference
    )
    try:
        result = run_command(rt, who, command, idempotency_key, x_request_id)
    except DomainError as refusal:
        if who.role == "customer" and refusal.account_id == body.to_account_id:
            raise payee_refused() from refusal
        raise
    answer_created(response, result)
    return TransferAcceptedResponse(**accepted_fields(result), transfer_id=transfer_id)


@router.post(
    "/external-transfers", status_code=201, response_model=TransferAcceptedResponse,
    summary="Send money to another bank (SEPA)",
    responses={200: {"model": TransferAcceptedResponse, "description": "A retry: the first request's transfer."},
               **COMMAND_PROBLEMS},
)  # fmt: skip
def request_external_transfer(
    body: ExternalTransferRequest,
    who: Caller,
    rt: RuntimeDep,
    response: Response,
    idempotency_key: IdempotencyKey,
    x_request_id: RequestId = None,
) -> TransferAcceptedResponse:
    """Hold the amount on your account until the clearing house settles or rejects the transfer (at most
    seven days)."""
    require_sending_account(rt, who, body.from_account_id)
    transfer_id = derived_id("api", scoped_key(who, idempotency_key))
    command = RequestOutboundTransfer(
        transfer_id, body.from_account_id, body.amount, body.currency, body.creditor_iban, body.creditor_name,
        body.reference, datetime.now(UTC) + timedelta(days=OUTBOUND_HOLD_DAYS),
    )  # fmt: skip
    result = run_outbound_request(rt, who, command, idempotency_key, x_request_id)
    answer_created(response, result)
    return TransferAcceptedResponse(**accepted_fields(result), transfer_id=transfer_id)


def customer_opening_for(who: Identity, body: OpenAccountRequest) -> str:
    if who.role == "operator":
        if body.customer_id is None:
            raise ApiProblem(422, "invalid_request", "Invalid request", "an operator must name the customer",
                             errors=[{"path": "/body/customer_id", "message": "required for operators"}])  # fmt: skip
        return body.customer_id
    if body.customer_id not in (None, who.customer_id):
        raise not_found(f"customer {body.customer_id}")
    if body.overdraft_limit:
        raise ApiProblem(403, "forbidden", "Forbidden", "only an operator may grant an overdraft")
    assert who.customer_id is not None
    return who.customer_id


def new_account_iban(customer_id: str, scoped_idempotency_key: str) -> str:
    """An IBAN of the bank derived from the customer and the request's key, so a retry opens no second account."""
    seed = hashlib.sha256(f"{customer_id}\x1f{scoped_idempotency_key}".encode()).digest()
    number = API_ACCOUNT_NUMBERS.start + int.from_bytes(seed[:8]) % len(API_ACCOUNT_NUMBERS)
    return schwifty.IBAN.generate("DE", bank_code=BANK.bank_codes[0], account_code=f"{number:010d}").compact


def payee_refused() -> ApiProblem:
    """One answer for every refusal about the receiving account (unknown, frozen, closed, another currency): a
    customer learns nothing about another customer's account but that it cannot take this payment."""
    return ApiProblem(
        422, "payee_refused", "Unprocessable Content", "this account cannot receive this transfer",
        errors=[{"path": "/body/to_account_id", "message": "cannot receive this transfer"}],
    )  # fmt: skip


def require_sending_account(rt: Runtime, who: Identity, account_id: str) -> None:
    """Customers send only from their own accounts; another's is answered exactly like one that does not exist."""
    if who.role != "customer":
        return  # operators act on any account; the domain refuses unknown ones
    stream = account_stream(account_id)
    states, _ = rt.handler.load([stream])
    account = states[stream]
    if not isinstance(account, AccountState) or account.customer_id != who.customer_id:
        raise not_found(f"account {account_id}")


def run_outbound_request(
    rt: Runtime, who: Identity, command: RequestOutboundTransfer, idempotency_key: str, request_id: str | None
) -> CommandResult:
    """The hold expiry comes from the clock, so a retry's command differs from the first one in that field alone:
    on a conflict, ask again with the first request's expiry. Only a request that differs in more stays refused."""
    try:
        return run_command(rt, who, command, idempotency_key, request_id)
    except IdempotencyConflict:
        first_expiry = hold_expiry_requested(rt, command.transfer_id)
        if first_expiry is None or first_expiry == command.hold_expires_at:
            raise
        return run_command(rt, who, replace(command, hold_expires_at=first_expiry), idempotency_key, request_id)


def hold_expiry_requested(rt: Runtime, transfer_id: str) -> datetime | None:
    first = next(iter(rt.store.read_stream(transfer_stream(transfer_id))), None)
    if first is None or first.event_type != OutboundTransferRequested.event_type:
        return None
    requested = event_from_stored(first.event_type, first.schema_version, first.payload)
    assert isinstance(requested, OutboundTransferRequested)
    return requested.hold_expires_at
