"""The state of a customer stream."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bank_pipeline.domain.events import (
    CustomerClosed,
    CustomerDetailsUpdated,
    CustomerErased,
    CustomerKycStatusChanged,
    CustomerRegistered,
    DomainEvent,
    KycStatus,
    LegalHoldPlaced,
    LegalHoldReleased,
)
from bank_pipeline.domain.personal_data import is_sealed

CUSTOMER_EVENTS: tuple[type[DomainEvent], ...] = (
    CustomerRegistered,
    CustomerDetailsUpdated,
    CustomerKycStatusChanged,
    CustomerClosed,
    LegalHoldPlaced,
    LegalHoldReleased,
    CustomerErased,
)


@dataclass(frozen=True)
class LegalHold:
    """An active legal hold: on one account of the customer, or (account_id None) on the customer and all of
    their accounts."""

    hold_id: str
    account_id: str | None
    reason: str
    case_reference: str


@dataclass(frozen=True)
class CustomerState:
    customer_id: str
    name: str  # personal fields: sealed ("pii:v1:..."), or plain text in events written before sealing existed
    email: str
    address: str
    kyc_status: KycStatus
    closed: bool
    legal_holds: tuple[LegalHold, ...] = ()  # the active ones, in the order placed
    released_hold_ids: tuple[str, ...] = ()  # a hold id is never reused, even once released
    erased: bool = False
    #: Some event of the stream recorded a personal field in plain text: destroying the key cannot erase it.
    plain_personal_data: bool = False

    def active_hold(self, hold_id: str) -> LegalHold | None:
        return next((hold for hold in self.legal_holds if hold.hold_id == hold_id), None)


def _plain(*values: str | None) -> bool:
    return any(value is not None and not is_sealed(value) for value in values)


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
                plain_personal_data=_plain(event.name, event.email, event.address),
            )
        case CustomerState(), CustomerDetailsUpdated():
            return replace(
                state,
                name=state.name if event.name is None else event.name,
                email=state.email if event.email is None else event.email,
                address=state.address if event.address is None else event.address,
                plain_personal_data=state.plain_personal_data or _plain(event.name, event.email, event.address),
            )
        case CustomerState(), CustomerKycStatusChanged():
            return replace(state, kyc_status=event.status)
        case CustomerState(), CustomerClosed():
            return replace(state, closed=True)
        case CustomerState(), LegalHoldPlaced():
            hold = LegalHold(event.hold_id, event.account_id, event.reason, event.case_reference)
            return replace(state, legal_holds=(*state.legal_holds, hold))
        case CustomerState(), LegalHoldReleased():
            return replace(
                state,
                legal_holds=tuple(hold for hold in state.legal_holds if hold.hold_id != event.hold_id),
                released_hold_ids=(*state.released_hold_ids, event.hold_id),
            )
        case CustomerState(), CustomerErased():
            return replace(state, erased=True)
    raise ValueError(f"cannot apply {event.event_type} to customer state {state!r}")
