"""Decisions on transfers to and from other banks."""

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
    require_usable,
)
from bank_pipeline.domain.commands import (
    ExpireOutboundTransfer,
    ReceiveInboundTransfer,
    RejectOutboundTransfer,
    RequestOutboundTransfer,
    SettleOutboundTransfer,
    SubmitOutboundTransfer,
)
from bank_pipeline.domain.errors import (
    AccountClosed,
    AccountFrozen,
    CurrencyMismatch,
    DuplicateHold,
    HoldNotExpired,
    InvalidCommand,
    InvalidTransferState,
    TransferAlreadyExists,
    UnknownAccount,
    UnknownTransfer,
)
from bank_pipeline.domain.money import validate_amount, validate_currency
from bank_pipeline.domain.states import Decision, StreamStates
from bank_pipeline.domain.streams import account_stream, transfer_stream, validate_id
from bank_pipeline.domain.transfer import TransferState, TransferStatus
from bank_pipeline.domain.validation import errors_about, optional_text, require_text, require_utc


def _require_new_transfer(states: StreamStates, transfer_id: str) -> str:
    stream = transfer_stream(transfer_id)
    if states[stream] is not None:
        raise TransferAlreadyExists(f"transfer {transfer_id} already exists")
    return stream


def _require_transfer(states: StreamStates, transfer_id: str, allowed: tuple[TransferStatus, ...]) -> TransferState:
    transfer = states[transfer_stream(transfer_id)]
    if transfer is None:
        raise UnknownTransfer(f"unknown transfer {transfer_id}")
    assert isinstance(transfer, TransferState)
    if transfer.status not in allowed:
        raise InvalidTransferState(
            f"{transfer.direction} transfer {transfer_id} of account {transfer.account_id}"
            f" is {transfer.status}; expected {' or '.join(allowed)}"
        )
    return transfer


def _require_transfer_account(states: StreamStates, transfer: TransferState, account_id: object) -> AccountState:
    account_id = validate_id(account_id, "account_id")
    if account_id != transfer.account_id:
        raise InvalidCommand(
            f"transfer {transfer.transfer_id} belongs to account {transfer.account_id}, not account {account_id}"
        )
    return require_account(states, account_id)


def request_outbound_transfer(command: RequestOutboundTransfer, states: StreamStates, now: datetime) -> Decision:
    transfer_id = validate_id(command.transfer_id, "transfer_id")
    account_id = validate_id(command.account_id, "account_id")
    with errors_about(f"outbound transfer {transfer_id} from account {account_id}"):
        amount = validate_amount(command.amount)
        currency = validate_currency(command.currency)
        creditor_iban = require_text(command.creditor_iban, "creditor IBAN")
        creditor_name = require_text(command.creditor_name, "creditor name")
        reference = optional_text(command.reference, "reference")
        hold_expires_at = require_utc(command.hold_expires_at, "hold expiry")
        if hold_expires_at <= now:
            raise InvalidCommand(f"hold would expire at {hold_expires_at.isoformat()}, not after now")
    stream = _require_new_transfer(states, transfer_id)
    account = require_account(states, account_id)
    require_usable(account, currency)
    # The transfer's hold is identified by the transfer id.
    if account.find_hold(transfer_id) is not None:
        raise DuplicateHold(f"account {account_id} already has a hold {transfer_id}")
    require_funds(account, amount)
    requested = events.OutboundTransferRequested(
        transfer_id, account_id, amount, currency, creditor_iban, creditor_name, reference, hold_expires_at
    )
    hold = events.HoldPlaced(account_id, transfer_id, amount, currency, hold_expires_at, OUTBOUND_TRANSFER_HOLD_REASON)
    return [(stream, requested), (account_stream(account_id), hold)]


def submit_outbound_transfer(command: SubmitOutboundTransfer, states: StreamStates, now: datetime) -> Decision:
    transfer_id = validate_id(command.transfer_id, "transfer_id")
    with errors_about(f"outbound transfer {transfer_id}"):
        submission_reference = require_text(command.submission_reference, "submission reference")
    _require_transfer(states, transfer_id, ("funds_held",))
    return [(transfer_stream(transfer_id), events.OutboundTransferSubmitted(transfer_id, submission_reference))]


def settle_outbound_transfer(command: SettleOutboundTransfer, states: StreamStates, now: datetime) -> Decision:
    transfer_id = validate_id(command.transfer_id, "transfer_id")
    transfer = _require_transfer(states, transfer_id, ("submitted",))
    account = _require_transfer_account(states, transfer, command.account_id)
    hold = require_hold(account, transfer_id)
    # No freeze or overdraft check: the hold already committed these funds.
    return [
        (transfer_stream(transfer_id), events.OutboundTransferSettled(transfer_id)),
        release_hold_entry(account, hold, "settled"),
        debit_entry(account, transfer.amount, transfer_id, "external", transfer.counterparty_iban, transfer.reference),
    ]


def reject_outbound_transfer(command: RejectOutboundTransfer, states: StreamStates, now: datetime) -> Decision:
    transfer_id = validate_id(command.transfer_id, "transfer_id")
    with errors_about(f"outbound transfer {transfer_id}"):
        reason = require_text(command.reason, "reason")
    transfer = _require_transfer(states, transfer_id, ("funds_held", "submitted"))
    account = _require_transfer_account(states, transfer, command.account_id)
    hold = require_hold(account, transfer_id)
    return [
        (transfer_stream(transfer_id), events.OutboundTransferRejected(transfer_id, reason)),
        release_hold_entry(account, hold, "rejected"),
    ]


def expire_outbound_transfer(command: ExpireOutboundTransfer, states: StreamStates, now: datetime) -> Decision:
    transfer_id = validate_id(command.transfer_id, "transfer_id")
    transfer = _require_transfer(states, transfer_id, ("funds_held", "submitted"))
    account = _require_transfer_account(states, transfer, command.account_id)
    assert transfer.hold_expires_at is not None
    if now < transfer.hold_expires_at:
        raise HoldNotExpired(
            f"hold of outbound transfer {transfer_id} on account {account.account_id}"
            f" expires at {transfer.hold_expires_at.isoformat()}"
        )
    hold = require_hold(account, transfer_id)
    return [
        (transfer_stream(transfer_id), events.OutboundTransferExpired(transfer_id)),
        release_hold_entry(account, hold, "expired"),
    ]


def receive_inbound_transfer(command: ReceiveInboundTransfer, states: StreamStates, now: datetime) -> Decision:
    transfer_id = validate_id(command.transfer_id, "transfer_id")
    account_id = validate_id(command.account_id, "account_id")
    with errors_about(f"inbound transfer {transfer_id} to account {account_id}"):
        amount = validate_amount(command.amount)
        currency = validate_currency(command.currency)
        debtor_iban = require_text(command.debtor_iban, "debtor IBAN")
        debtor_name = require_text(command.debtor_name, "debtor name")
        reference = optional_text(command.reference, "reference")
    stream = _require_new_transfer(states, transfer_id)
    received = events.InboundTransferReceived(
        transfer_id, account_id, amount, currency, debtor_iban, debtor_name, reference
    )
    try:
        account = require_account(states, account_id)
        require_usable(account, currency)
    except (UnknownAccount, AccountClosed, AccountFrozen, CurrencyMismatch) as refusal:
        # The money is already here: record it and send it back rather than refuse the command.
        return [(stream, received), (stream, events.InboundTransferReturned(transfer_id, refusal.code))]
    return [
        (stream, received),
        (stream, events.InboundTransferCredited(transfer_id)),
        credit_entry(account, amount, transfer_id, "external", debtor_iban, reference),
    ]
