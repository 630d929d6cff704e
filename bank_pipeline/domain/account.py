"""The state of an account stream: its ledger balance and the holds reserving part of it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from bank_pipeline.domain.events import (
    AccountClosed,
    AccountCredited,
    AccountDebited,
    AccountFrozen,
    AccountOpened,
    AccountUnfrozen,
    DomainEvent,
    HoldPlaced,
    HoldReleased,
)

AccountStatus = Literal["open", "frozen", "closed"]

# The reason of the hold an outbound transfer places; only that transfer may release it.
OUTBOUND_TRANSFER_HOLD_REASON = "outbound_transfer"

ACCOUNT_EVENTS: tuple[type[DomainEvent], ...] = (
    AccountOpened,
    AccountCredited,
    AccountDebited,
    HoldPlaced,
    HoldReleased,
    AccountFrozen,
    AccountUnfrozen,
    AccountClosed,
)


@dataclass(frozen=True)
class Hold:
    hold_id: str
    amount: int
    expires_at: datetime
    reason: str


@dataclass(frozen=True)
class AccountState:
    account_id: str
    customer_id: str
    currency: str
    product: str
    overdraft_limit: int
    status: AccountStatus
    ledger_balance: int
    holds: tuple[Hold, ...]

    @property
    def held_amount(self) -> int:
        return sum(hold.amount for hold in self.holds)

    @property
    def available_balance(self) -> int:
        return self.ledger_balance - self.held_amount

    def find_hold(self, hold_id: str) -> Hold | None:
        return next((hold for hold in self.holds if hold.hold_id == hold_id), None)


def evolve_account(state: AccountState | None, event: DomainEvent) -> AccountState:
    match state, event:
        case None, AccountOpened():
            return AccountState(
                account_id=event.account_id,
                customer_id=event.customer_id,
                currency=event.currency,
                product=event.product,
                overdraft_limit=event.overdraft_limit,
                status="open",
                ledger_balance=0,
                holds=(),
            )
        case AccountState(), AccountCredited():
            return replace(state, ledger_balance=state.ledger_balance + event.amount)
        case AccountState(), AccountDebited():
            return replace(state, ledger_balance=state.ledger_balance - event.amount)
        case AccountState(), HoldPlaced():
            hold = Hold(event.hold_id, event.amount, event.expires_at, event.reason)
            return replace(state, holds=(*state.holds, hold))
        case AccountState(), HoldReleased() if state.find_hold(event.hold_id) is not None:
            return replace(state, holds=tuple(h for h in state.holds if h.hold_id != event.hold_id))
        case AccountState(), AccountFrozen():
            return replace(state, status="frozen")
        case AccountState(), AccountUnfrozen():
            return replace(state, status="open")
        case AccountState(), AccountClosed():
            return replace(state, status="closed")
    raise ValueError(f"cannot apply {event.event_type} to account state {state!r}")
