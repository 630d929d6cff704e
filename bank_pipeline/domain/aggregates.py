"""Applying events to the state of their stream, whatever the stream."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bank_pipeline.domain.account import ACCOUNT_EVENTS, AccountState, Hold, evolve_account
from bank_pipeline.domain.customer import CUSTOMER_EVENTS, CustomerState, evolve_customer
from bank_pipeline.domain.events import DomainEvent
from bank_pipeline.domain.snapshots import SNAPSHOT_VERSION, state_from_snapshot, state_to_snapshot
from bank_pipeline.domain.states import State
from bank_pipeline.domain.transfer import TRANSFER_EVENTS, TransferState, evolve_transfer

__all__ = [
    "SNAPSHOT_VERSION",
    "AccountState",
    "CustomerState",
    "Hold",
    "State",
    "TransferState",
    "evolve",
    "fold",
    "state_from_snapshot",
    "state_to_snapshot",
]

_EVOLVERS: dict[type[DomainEvent], Callable[[Any, Any], State]] = {
    **dict.fromkeys(CUSTOMER_EVENTS, evolve_customer),
    **dict.fromkeys(ACCOUNT_EVENTS, evolve_account),
    **dict.fromkeys(TRANSFER_EVENTS, evolve_transfer),
}


def evolve(state: State | None, event: DomainEvent) -> State:
    """The state after `event`; raises ValueError if the event cannot follow that state."""
    return _EVOLVERS[type(event)](state, event)


def fold(events: Iterable[DomainEvent]) -> State | None:
    state: State | None = None
    for event in events:
        state = evolve(state, event)
    return state
