"""Decisions on customer commands."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from bank_pipeline.domain import events
from bank_pipeline.domain.account import AccountState
from bank_pipeline.domain.commands import (
    ChangeKycStatus,
    CloseCustomer,
    EraseCustomer,
    PlaceLegalHold,
    RegisterCustomer,
    ReleaseLegalHold,
    UpdateCustomerDetails,
)
from bank_pipeline.domain.customer import CustomerState
from bank_pipeline.domain.errors import (
    AccountOfAnotherCustomer,
    CustomerAlreadyExists,
    CustomerClosed,
    CustomerErased,
    InvalidCommand,
    LegalHoldAlreadyExists,
    LegalHoldApplies,
    PersonalDataNotSealed,
    UnknownAccount,
    UnknownCustomer,
    UnknownLegalHold,
)
from bank_pipeline.domain.personal_data import SEALED_PREFIX
from bank_pipeline.domain.states import Decision, StreamStates
from bank_pipeline.domain.streams import account_stream, customer_stream, validate_id
from bank_pipeline.domain.validation import errors_about, require_choice, require_text

KYC_STATUSES: tuple[str, ...] = get_args(events.KycStatus)


def existing_customer(states: StreamStates, customer_id: str) -> CustomerState:
    """The customer, who must exist (closed or erased, too)."""
    customer = states[customer_stream(customer_id)]
    if customer is None:
        raise UnknownCustomer(f"unknown customer {customer_id}")
    assert isinstance(customer, CustomerState)
    return customer


def require_customer(states: StreamStates, customer_id: str) -> CustomerState:
    """The customer, who must exist, not be closed and not be erased."""
    customer = existing_customer(states, customer_id)
    if customer.closed:
        raise CustomerClosed(f"customer {customer_id} is closed")
    if customer.erased:
        raise CustomerErased(f"customer {customer_id} is erased")
    return customer


def require_personal_text(value: object, what: str) -> str:
    """Non-empty text that cannot pass for a sealed value (which starts with SEALED_PREFIX). The refusal never
    quotes the value: refusals are shown, logged and stored (e.g. as a quarantined row's reason), and personal
    data must only ever be stored sealed."""
    if not (isinstance(value, str) and value.strip()):
        raise InvalidCommand(f"{what} must be non-empty text")
    if value.startswith(SEALED_PREFIX):
        raise InvalidCommand(f"{what} must not start with {SEALED_PREFIX!r}")
    return value


def register_customer(command: RegisterCustomer, states: StreamStates, now: datetime) -> Decision:
    customer_id = validate_id(command.customer_id, "customer_id")
    with errors_about(f"customer {customer_id}"):
        name = require_personal_text(command.name, "name")
        email = require_personal_text(command.email, "email")
        address = require_personal_text(command.address, "address")
    stream = customer_stream(customer_id)
    if states[stream] is not None:
        raise CustomerAlreadyExists(f"customer {customer_id} already exists")
    return [(stream, events.CustomerRegistered(customer_id, name, email, address))]


def update_customer_details(command: UpdateCustomerDetails, states: StreamStates, now: datetime) -> Decision:
    customer_id = validate_id(command.customer_id, "customer_id")
    details = {"name": command.name, "email": command.email, "address": command.address}
    with errors_about(f"customer {customer_id}"):
        if all(value is None for value in details.values()):
            raise InvalidCommand("no details to update")
        for what, value in details.items():
            if value is not None:
                require_personal_text(value, what)
    require_customer(states, customer_id)
    return [(customer_stream(customer_id), events.CustomerDetailsUpdated(customer_id, **details))]


def change_kyc_status(command: ChangeKycStatus, states: StreamStates, now: datetime) -> Decision:
    customer_id = validate_id(command.customer_id, "customer_id")
    with errors_about(f"customer {customer_id}"):
        status = require_choice(command.status, KYC_STATUSES, "KYC status")
    require_customer(states, customer_id)
    return [(customer_stream(customer_id), events.CustomerKycStatusChanged(customer_id, status))]


def close_customer(command: CloseCustomer, states: StreamStates, now: datetime) -> Decision:
    customer_id = validate_id(command.customer_id, "customer_id")
    with errors_about(f"customer {customer_id}"):
        reason = require_text(command.reason, "reason")
    customer = existing_customer(states, customer_id)  # an erased customer may still be closed
    if customer.closed:
        raise CustomerClosed(f"customer {customer_id} is closed")
    return [(customer_stream(customer_id), events.CustomerClosed(customer_id, reason))]


def place_legal_hold(command: PlaceLegalHold, states: StreamStates, now: datetime) -> Decision:
    """Allowed on closed and erased customers too: a hold keeps events, it needs no personal data."""
    customer_id = validate_id(command.customer_id, "customer_id")
    with errors_about(f"customer {customer_id}"):
        hold_id = validate_id(command.hold_id, "hold_id")
        reason = require_text(command.reason, "reason")
        case_reference = require_text(command.case_reference, "case_reference")
        account_id = None if command.account_id is None else validate_id(command.account_id, "account_id")
    customer = existing_customer(states, customer_id)
    if customer.active_hold(hold_id) is not None or hold_id in customer.released_hold_ids:
        raise LegalHoldAlreadyExists(f"customer {customer_id} already has (or had) legal hold {hold_id}")
    if account_id is not None:
        account = states[account_stream(account_id)]
        if account is None:
            raise UnknownAccount(f"unknown account {account_id}")
        assert isinstance(account, AccountState)
        if account.customer_id != customer_id:
            raise AccountOfAnotherCustomer(f"account {account_id} is not customer {customer_id}'s")
    placed = events.LegalHoldPlaced(customer_id, hold_id, account_id, reason, case_reference)
    return [(customer_stream(customer_id), placed)]


def release_legal_hold(command: ReleaseLegalHold, states: StreamStates, now: datetime) -> Decision:
    customer_id = validate_id(command.customer_id, "customer_id")
    with errors_about(f"customer {customer_id}"):
        hold_id = validate_id(command.hold_id, "hold_id")
        reason = require_text(command.reason, "reason")
    customer = existing_customer(states, customer_id)
    if customer.active_hold(hold_id) is None:
        state = "was released already" if hold_id in customer.released_hold_ids else "does not exist"
        raise UnknownLegalHold(f"legal hold {hold_id} of customer {customer_id} {state}")
    return [(customer_stream(customer_id), events.LegalHoldReleased(customer_id, hold_id, reason))]


def erase_customer(command: EraseCustomer, states: StreamStates, now: datetime) -> Decision:
    """Refused while a legal hold is active, and for a customer whose history holds plain personal data."""
    customer_id = validate_id(command.customer_id, "customer_id")
    with errors_about(f"customer {customer_id}"):
        reason = require_text(command.reason, "reason")
    customer = existing_customer(states, customer_id)
    if customer.erased:
        raise CustomerErased(f"customer {customer_id} is erased already")
    if customer.legal_holds:
        holds = ", ".join(f"{hold.hold_id} (case {hold.case_reference})" for hold in customer.legal_holds)
        raise LegalHoldApplies(f"customer {customer_id} cannot be erased while under legal hold: {holds}")
    if customer.plain_personal_data:
        raise PersonalDataNotSealed(
            f"customer {customer_id} has personal data recorded in plain text (before sealing existed, or by a "
            "bulk loader): destroying their key would not erase it; erase it by other means"
        )
    return [(customer_stream(customer_id), events.CustomerErased(customer_id, reason))]
