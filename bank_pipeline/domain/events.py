"""The facts the bank records, how they are stored as JSON payloads, and how old payloads are read.

Amounts are integer minor units of `currency`; times are timezone-aware and stored as UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, Self

from bank_pipeline.domain.errors import UnknownEventType, UnknownSchemaVersion
from bank_pipeline.domain.serialization import from_json_fields, to_json_fields

KycStatus = Literal["pending", "verified", "rejected"]
# "internal": a leg of a transfer between two accounts of this bank;
# "external": money entering or leaving the bank.
EntryFlow = Literal["internal", "external"]
HoldReleaseReason = Literal["released", "settled", "rejected", "expired"]


@dataclass(frozen=True)
class DomainEvent:
    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    def to_payload(self) -> dict[str, Any]:
        return to_json_fields(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Self:
        return from_json_fields(cls, payload)


# Customer stream


@dataclass(frozen=True)
class CustomerRegistered(DomainEvent):
    event_type: ClassVar[str] = "CustomerRegistered"
    customer_id: str
    name: str
    email: str
    address: str


@dataclass(frozen=True)
class CustomerDetailsUpdated(DomainEvent):
    """None leaves a detail unchanged."""

    event_type: ClassVar[str] = "CustomerDetailsUpdated"
    customer_id: str
    name: str | None
    email: str | None
    address: str | None


@dataclass(frozen=True)
class CustomerKycStatusChanged(DomainEvent):
    event_type: ClassVar[str] = "CustomerKycStatusChanged"
    customer_id: str
    status: KycStatus


@dataclass(frozen=True)
class CustomerClosed(DomainEvent):
    event_type: ClassVar[str] = "CustomerClosed"
    customer_id: str
    reason: str


@dataclass(frozen=True)
class LegalHoldPlaced(DomainEvent):
    """Keep the customer's events (and those of `account_id`, or of all their accounts when None) past the
    retention period, and refuse the customer's erasure, until the hold is released."""

    event_type: ClassVar[str] = "LegalHoldPlaced"
    customer_id: str
    hold_id: str
    account_id: str | None
    reason: str
    case_reference: str


@dataclass(frozen=True)
class LegalHoldReleased(DomainEvent):
    event_type: ClassVar[str] = "LegalHoldReleased"
    customer_id: str
    hold_id: str
    reason: str


@dataclass(frozen=True)
class CustomerErased(DomainEvent):
    """The customer's personal data was erased (GDPR): their data key is destroyed, so the sealed personal
    fields of their events can no longer be read. The events themselves stay, and stay verifiable."""

    event_type: ClassVar[str] = "CustomerErased"
    customer_id: str
    reason: str


# Account stream


@dataclass(frozen=True)
class AccountOpened(DomainEvent):
    event_type: ClassVar[str] = "AccountOpened"
    schema_version: ClassVar[int] = 2
    account_id: str
    customer_id: str
    currency: str
    product: str
    overdraft_limit: int


@dataclass(frozen=True)
class AccountCredited(DomainEvent):
    event_type: ClassVar[str] = "AccountCredited"
    account_id: str
    transfer_id: str
    amount: int
    currency: str
    balance_after: int
    flow: EntryFlow
    counterparty: str | None
    reference: str | None


@dataclass(frozen=True)
class AccountDebited(DomainEvent):
    event_type: ClassVar[str] = "AccountDebited"
    account_id: str
    transfer_id: str
    amount: int
    currency: str
    balance_after: int
    flow: EntryFlow
    counterparty: str | None
    reference: str | None


@dataclass(frozen=True)
class HoldPlaced(DomainEvent):
    event_type: ClassVar[str] = "HoldPlaced"
    account_id: str
    hold_id: str
    amount: int
    currency: str
    expires_at: datetime
    reason: str


@dataclass(frozen=True)
class HoldReleased(DomainEvent):
    event_type: ClassVar[str] = "HoldReleased"
    account_id: str
    hold_id: str
    amount: int
    reason: HoldReleaseReason


@dataclass(frozen=True)
class AccountFrozen(DomainEvent):
    event_type: ClassVar[str] = "AccountFrozen"
    account_id: str
    reason: str


@dataclass(frozen=True)
class AccountUnfrozen(DomainEvent):
    event_type: ClassVar[str] = "AccountUnfrozen"
    account_id: str
    reason: str


@dataclass(frozen=True)
class AccountClosed(DomainEvent):
    event_type: ClassVar[str] = "AccountClosed"
    account_id: str
    reason: str


# Transfer stream: transfers to and from other banks


@dataclass(frozen=True)
class OutboundTransferRequested(DomainEvent):
    event_type: ClassVar[str] = "OutboundTransferRequested"
    transfer_id: str
    account_id: str
    amount: int
    currency: str
    creditor_iban: str
    creditor_name: str
    reference: str | None
    hold_expires_at: datetime


@dataclass(frozen=True)
class OutboundTransferSubmitted(DomainEvent):
    event_type: ClassVar[str] = "OutboundTransferSubmitted"
    transfer_id: str
    submission_reference: str


@dataclass(frozen=True)
class OutboundTransferSettled(DomainEvent):
    event_type: ClassVar[str] = "OutboundTransferSettled"
    transfer_id: str


@dataclass(frozen=True)
class OutboundTransferRejected(DomainEvent):
    event_type: ClassVar[str] = "OutboundTransferRejected"
    transfer_id: str
    reason: str


@dataclass(frozen=True)
class OutboundTransferExpired(DomainEvent):
    event_type: ClassVar[str] = "OutboundTransferExpired"
    transfer_id: str


@dataclass(frozen=True)
class InboundTransferReceived(DomainEvent):
    event_type: ClassVar[str] = "InboundTransferReceived"
    transfer_id: str
    account_id: str
    amount: int
    currency: str
    debtor_iban: str
    debtor_name: str
    reference: str | None


@dataclass(frozen=True)
class InboundTransferCredited(DomainEvent):
    event_type: ClassVar[str] = "InboundTransferCredited"
    transfer_id: str


@dataclass(frozen=True)
class InboundTransferReturned(DomainEvent):
    """The money goes back to the sender; `reason_code` is the DomainError code that refused it."""

    event_type: ClassVar[str] = "InboundTransferReturned"
    transfer_id: str
    reason_code: str


# Retention stream: what the archive's purge removed (bank_pipeline/archive/purge.py)


@dataclass(frozen=True)
class RetentionPurged(DomainEvent):
    """Streams past the retention period are being purged: their archived events become tombstones (position,
    transaction, hash). Each month rewritten names this event (event_store.month_purges.event_position). The
    stream ids are personal data: only their count and the sha256 of their sorted, newline-joined ids are kept."""

    event_type: ClassVar[str] = "RetentionPurged"
    cutoff: datetime
    streams_purged: int
    streams_held: int
    streams_sha256: str


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.event_type: cls
    for cls in (
        CustomerRegistered,
        CustomerDetailsUpdated,
        CustomerKycStatusChanged,
        CustomerClosed,
        LegalHoldPlaced,
        LegalHoldReleased,
        CustomerErased,
        AccountOpened,
        AccountCredited,
        AccountDebited,
        HoldPlaced,
        HoldReleased,
        AccountFrozen,
        AccountUnfrozen,
        AccountClosed,
        OutboundTransferRequested,
        OutboundTransferSubmitted,
        OutboundTransferSettled,
        OutboundTransferRejected,
        OutboundTransferExpired,
        InboundTransferReceived,
        InboundTransferCredited,
        InboundTransferReturned,
        RetentionPurged,
    )
}


# Schema evolution: each upcaster lifts a payload from (event_type, version) to version + 1.


def _account_opened_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    # Before products existed every account was a current account.
    return {**payload, "product": "current"}


UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("AccountOpened", 1): _account_opened_v1_to_v2,
}


def upcast(event_type: str, schema_version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload lifted to the current schema version of `event_type`."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    if isinstance(schema_version, bool) or not isinstance(schema_version, int):
        raise UnknownSchemaVersion(f"{event_type} schema version must be an integer, got {schema_version!r}")
    if not 1 <= schema_version <= cls.schema_version:
        raise UnknownSchemaVersion(
            f"unknown schema version {schema_version} of {event_type}; current is {cls.schema_version}"
        )
    version = schema_version
    while version < cls.schema_version:
        upcaster = UPCASTERS.get((event_type, version))
        if upcaster is None:
            raise UnknownSchemaVersion(f"no upcaster from schema version {version} of {event_type}")
        payload = upcaster(payload)
        version += 1
    return payload


def event_from_stored(event_type: str, schema_version: int, payload: dict[str, Any]) -> DomainEvent:
    current_payload = upcast(event_type, schema_version, payload)
    return EVENT_TYPES[event_type].from_payload(current_payload)
