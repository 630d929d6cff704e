"""The state of a customer stream."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bank_pipeline.domain.events import (
    CustomerClosed,
    CustomerDetailsUpdated,
    CustomerKycStatusChanged,
    CustomerRegistered,
    DomainEvent,
    KycStatus,
)

CUSTOMER_EVENTS: tuple[type[DomainEvent], ...] = (
    CustomerRegistered,
    CustomerDetailsUpdated,
    CustomerKycStatusChanged,
    CustomerClosed,
)


@dataclass(frozen=True)
class CustomerState:
    customer_id: str
    name: str
    email: str
    address: str
    kyc_status: KycStatus
    closed: bool


def evolve_customer(state: CustomerState | None, event: DomainEvent) -> CustomerState:
    match state, event:
        case None, CustomerRegistered():
            return CustomerState(
                customer_id=event.customer_id,
                name=event.name,
                email=event.email,
                address=event.address,
                kyc_status="pending",
                closed=False,
            )
        case CustomerState(), CustomerDetailsUpdated():
            return replace(
                state,
                name=state.name if event.name is None else event.name,
                email=state.email if event.email is None else event.email,
                address=state.address if event.address is None else event.address,
            )
        case CustomerState(), CustomerKycStatusChanged():
            return replace(state, kyc_status=event.status)
        case CustomerState(), CustomerClosed():
            return replace(state, closed=True)
    raise ValueError(f"cannot apply {event.event_type} to customer state {state!r}")
