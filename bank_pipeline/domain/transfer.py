"""The state of a transfer stream: a transfer to or from another bank."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from bank_pipeline.domain.events import (
    DomainEvent,
    InboundTransferCredited,
    InboundTransferReceived,
    InboundTransferReturned,
    OutboundTransferExpired,
    OutboundTransferRejected,
    OutboundTransferRequested,
    OutboundTransferSettled,
    OutboundTransferSubmitted,
)

TransferDirection = Literal["outbound", "inbound"]
# Outbound: funds_held -> submitted -> settled | rejected | expired (rejected/expired also from funds_held).
# Inbound: received -> credited | returned.
TransferStatus = Literal[
    "funds_held", "submitted", "settled", "rejected", "expired", "received", "credited", "returned"
]

TRANSFER_EVENTS: tuple[type[DomainEvent], ...] = (
    OutboundTransferRequested,
    OutboundTransferSubmitted,
    OutboundTransferSettled,
    OutboundTransferRejected,
    OutboundTransferExpired,
    InboundTransferReceived,
    InboundTransferCredited,
    InboundTransferReturned,
)


@dataclass(frozen=True)
class TransferState:
    transfer_id: str
    direction: TransferDirection
    account_id: str
    amount: int
    currency: str
    status: TransferStatus
    hold_expires_at: datetime | None
    # The other bank's side: the creditor's IBAN when outbound, the debtor's when inbound.
    counterparty_iban: str
    reference: str | None


def evolve_transfer(state: TransferState | None, event: DomainEvent) -> TransferState:
    match state, event:
        case None, OutboundTransferRequested():
            return TransferState(
                transfer_id=event.transfer_id,
                direction="outbound",
                account_id=event.account_id,
                amount=event.amount,
                currency=event.currency,
                status="funds_held",
                hold_expires_at=event.hold_expires_at,
                counterparty_iban=event.creditor_iban,
                reference=event.reference,
            )
        case None, InboundTransferReceived():
            return TransferState(
                transfer_id=event.transfer_id,
                direction="inbound",
                account_id=event.account_id,
                amount=event.amount,
                currency=event.currency,
                status="received",
                hold_expires_at=None,
                counterparty_iban=event.debtor_iban,
                reference=event.reference,
            )
        case TransferState(), OutboundTransferSubmitted():
            return replace(state, status="submitted")
        case TransferState(), OutboundTransferSettled():
            return replace(state, status="settled")
        case TransferState(), OutboundTransferRejected():
            return replace(state, status="rejected")
        case TransferState(), OutboundTransferExpired():
            return replace(state, status="expired")
        case TransferState(), InboundTransferCredited():
            return replace(state, status="credited")
        case TransferState(), InboundTransferReturned():
            return replace(state, status="returned")
    raise ValueError(f"cannot apply {event.event_type} to transfer state {state!r}")
