"""The state of any stream; what a decision reads (states by stream id) and returns (events by stream id)."""

from __future__ import annotations

from collections.abc import Mapping

from bank_pipeline.domain.account import AccountState
from bank_pipeline.domain.customer import CustomerState
from bank_pipeline.domain.events import DomainEvent
from bank_pipeline.domain.transfer import TransferState

State = CustomerState | AccountState | TransferState

# None for a stream that has no events yet.
StreamStates = Mapping[str, State | None]

# The events to append, each with the id of its stream, in order.
Decision = list[tuple[str, DomainEvent]]
