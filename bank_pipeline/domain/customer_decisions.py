"""Decisions on customer commands."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from bank_pipeline.domain import events
from bank_pipeline.domain.commands import (
    ChangeKycStatus,
    CloseCustomer,
    RegisterCustomer,
    UpdateCustomerDetails,
)
from bank_pipeline.domain.customer import CustomerState
from bank_pipeline.domain.errors import CustomerAlreadyExists, CustomerClosed, InvalidCommand, UnknownCustomer
from bank_pipeline.domain.states import Decision, StreamStates
from bank_pipeline.domain.streams import customer_stream, validate_id
from bank_pipeline.domain.validation import errors_about, require_choice, require_text

KYC_STATUSES: tuple[str, ...] = get_args(events.KycStatus)


def require_customer(states: StreamStates, customer_id: str) -> CustomerState:
    """The customer, who must exist and not be closed."""
    customer = states[customer_stream(customer_id)]
    if customer is None:
        raise UnknownCustomer(f"unknown customer {customer_id}")
    assert isinstance(customer, CustomerState)
    if customer.closed:
        raise CustomerClosed(f"customer {customer_id} is closed")
    return customer


def register_customer(command: RegisterCustomer, states: StreamStates, now: datetime) -> Decision:
    customer_id = validate_id(command.customer_id, "customer_id")
    with errors_about(f"customer {customer_id}"):
        name = require_text(command.name, "name")
        email = require_text(command.email, "email")
        address = require_text(command.address, "address")
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
                require_text(value, what)
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
    require_customer(states, customer_id)
    return [(customer_stream(customer_id), events.CustomerClosed(customer_id, reason))]
