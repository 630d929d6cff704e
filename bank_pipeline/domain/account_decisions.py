"""Decisions on account commands, including transfers between two accounts of this bank."""

from __future__ import annotations

from datetime import datetime

from bank_pipeline.domain import events
from bank_pipeline.domain.account import OUTBOUND_TRANSFER_HOLD_REASON, AccountState
from bank_pipeline.domain.account_rules import (
    credit_entry,
    debit_entry,
    release_hold_entry,
    require_account,
    require_funds,
    require_hold,
    require_not_closed,
    require_usable,
)
from bank_pipeline.domain.commands import (
    CloseAccount,
    CreditAccount,
    DebitAccount,
    FreezeAccount,
    OpenAccount,
    PlaceHold,
    ReleaseHold,
    TransferInternal,
    UnfreezeAccount,
)
from bank_pipeline.domain.customer_decisions import require_customer
from bank_pipeline.domain.errors import (
    AccountAlreadyExists,
    AccountFrozen,
    AccountNotEmpty,
    AccountNotFrozen,
    DuplicateHold,
    InvalidCommand,
    KycNotVerified,
    MalformedAmount,
    SameAccountTransfer,
)
from bank_pipeline.domain.money import Money, validate_amount, validate_currency
from bank_pipeline.domain.states import Decision, StreamStates
from bank_pipeline.domain.streams import account_stream, validate_id
from bank_pipeline.domain.validation import errors_about, optional_text, require_text, require_utc


def open_account(command: OpenAccount, states: StreamStates, now: datetime) -> Decision:
    account_id = validate_id(command.account_id, "account_id")
    with errors_about(f"account {account_id}"):
        customer_id = validate_id(command.customer_id, "customer_id")
        currency = validate_currency(command.currency)
        product = require_text(command.product, "product")
        overdraft_limit = command.overdraft_limit
        if isinstance(overdraft_limit, bool) or not isinstance(overdraft_limit, int):
            raise MalformedAmount(f"overdraft limit must be an integer number of minor units, got {overdraft_limit!r}")
        if overdraft_limit < 0:
            raise InvalidCommand(f"overdraft limit must not be negative, got {overdraft_limit}")
    customer = require_customer(states, customer_id)
    if customer.kyc_status != "verified":
        raise KycNotVerified(
            f"customer {customer_id} cannot open account {account_id}: KYC status is {customer.kyc_status}"
        )
    stream = account_stream(account_id)
    if states[stream] is not None:
        raise AccountAlreadyExists(f"account {account_id} already exists")
    return [(stream, events.AccountOpened(account_id, customer_id, currency, product, overdraft_limit))]


def credit_account(command: CreditAccount, states: StreamStates, now: datetime) -> Decision:
    account, amount, transfer_id, counterparty, reference = _external_movement(command, states)
    return [credit_entry(account, amount, transfer_id, "external", counterparty, reference)]


def debit_account(command: DebitAccount, states: StreamStates, now: datetime) -> Decision:
    account, amount, transfer_id, counterparty, reference = _external_movement(command, states)
    require_funds(account, amount)
    return [debit_entry(account, amount, transfer_id, "external", counterparty, reference)]


def _external_movement(
    command: CreditAccount | DebitAccount, states: StreamStates
) -> tuple[AccountState, int, str, str | None, str | None]:
    """The checked fields of money entering or leaving the bank through one usable account."""
    account_id = validate_id(command.account_id, "account_id")
    with errors_about(f"account {account_id}"):
        amount = validate_amount(command.amount)
        currency = validate_currency(command.currency)
        transfer_id = validate_id(command.transfer_id, "transfer_id")
        counterparty = optional_text(command.counterparty, "counterparty")
        reference = optional_text(command.reference, "reference")
    account = require_account(states, account_id)
    require_usable(account, currency)
    return account, amount, transfer_id, counterparty, reference


def place_hold(command: PlaceHold, states: StreamStates, now: datetime) -> Decision:
    account_id = validate_id(command.account_id, "account_id")
    with errors_about(f"account {account_id}"):
        hold_id = validate_id(command.hold_id, "hold_id")
        amount = validate_amount(command.amount)
        currency = validate_currency(command.currency)
        expires_at = require_utc(command.expires_at, "hold expiry")
        if expires_at <= now:
            raise InvalidCommand(f"hold {hold_id} would expire at {expires_at.isoformat()}, not after now")
        reason = require_text(command.reason, "reason")
        if reason == OUTBOUND_TRANSFER_HOLD_REASON:
            raise InvalidCommand(f"hold reason {reason!r} is reserved for outbound transfers")
    account = require_account(states, account_id)
    require_usable(account, currency)
    if account.find_hold(hold_id) is not None:
        raise DuplicateHold(f"account {account_id} already has a hold {hold_id}")
    require_funds(account, amount)
    return [
        (
            account_stream(account_id),
            events.HoldPlaced(account_id, hold_id, amount, currency, expires_at, reason),
        )
    ]


def release_hold(command: ReleaseHold, states: StreamStates, now: datetime) -> Decision:
    account_id = validate_id(command.account_id, "account_id")
    with errors_about(f"account {account_id}"):
        hold_id = validate_id(command.hold_id, "hold_id")
    account = require_account(states, account_id)
    require_not_closed(account)
    hold = require_hold(account, hold_id)
    if hold.reason == OUTBOUND_TRANSFER_HOLD_REASON:
        raise InvalidCommand(
            f"hold {hold_id} on account {account_id} reserves outbound transfer {hold_id};"
            " it is released by settling, rejecting or expiring that transfer"
        )
    return [release_hold_entry(account, hold, "released")]


def freeze_account(command: FreezeAccount, states: StreamStates, now: datetime) -> Decision:
    account_id = validate_id(command.account_id, "account_id")
    with errors_about(f"account {account_id}"):
        reason = require_text(command.reason, "reason")
    account = require_account(states, account_id)
    require_not_closed(account)
    if account.status == "frozen":
        raise AccountFrozen(f"account {account_id} is already frozen")
    return [(account_stream(account_id), events.AccountFrozen(account_id, reason))]


def unfreeze_account(command: UnfreezeAccount, states: StreamStates, now: datetime) -> Decision:
    account_id = validate_id(command.account_id, "account_id")
    with errors_about(f"account {account_id}"):
        reason = require_text(command.reason, "reason")
    account = require_account(states, account_id)
    require_not_closed(account)
    if account.status != "frozen":
        raise AccountNotFrozen(f"account {account_id} is not frozen")
    return [(account_stream(account_id), events.AccountUnfrozen(account_id, reason))]


def close_account(command: CloseAccount, states: StreamStates, now: datetime) -> Decision:
    account_id = validate_id(command.account_id, "account_id")
    with errors_about(f"account {account_id}"):
        reason = require_text(command.reason, "reason")
    account = require_account(states, account_id)
    require_not_closed(account)
    if account.ledger_balance != 0 or account.holds:
        raise AccountNotEmpty(
            f"account {account_id} cannot be closed: ledger balance"
            f" {Money(account.ledger_balance, account.currency)}, {len(account.holds)} active hold(s)"
        )
    return [(account_stream(account_id), events.AccountClosed(account_id, reason))]


def transfer_internal(command: TransferInternal, states: StreamStates, now: datetime) -> Decision:
    transfer_id = validate_id(command.transfer_id, "transfer_id")
    from_account_id = validate_id(command.from_account_id, "from_account_id")
    to_account_id = validate_id(command.to_account_id, "to_account_id")
    if from_account_id == to_account_id:
        raise SameAccountTransfer(f"transfer {transfer_id} from account {from_account_id} to itself")
    with errors_about(f"transfer {transfer_id} from account {from_account_id} to account {to_account_id}"):
        amount = validate_amount(command.amount)
        currency = validate_currency(command.currency)
        reference = optional_text(command.reference, "reference")
    source = require_account(states, from_account_id)
    require_usable(source, currency)
    require_funds(source, amount)
    target = require_account(states, to_account_id)
    require_usable(target, currency)
    return [
        debit_entry(source, amount, transfer_id, "internal", to_account_id, reference),
        credit_entry(target, amount, transfer_id, "internal", from_account_id, reference),
    ]
