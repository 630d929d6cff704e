"""Cached aggregate states as JSON-ready dicts. A cache only: the events stay the truth."""

from __future__ import annotations

from typing import Any

from bank_pipeline.domain.account import AccountState
from bank_pipeline.domain.customer import CustomerState
from bank_pipeline.domain.serialization import from_json_fields, to_json_fields
from bank_pipeline.domain.states import State
from bank_pipeline.domain.transfer import TransferState

# Bump whenever a state's shape changes; the store then ignores older snapshots and refolds.
SNAPSHOT_VERSION = 2  # 2: customers gained legal holds, erasure and plain_personal_data

_STATE_KINDS: dict[str, type[State]] = {
    "customer": CustomerState,
    "account": AccountState,
    "transfer": TransferState,
}
_KIND_OF_STATE = {cls: kind for kind, cls in _STATE_KINDS.items()}


def state_to_snapshot(state: State) -> dict[str, Any]:
    return {"kind": _KIND_OF_STATE[type(state)], **to_json_fields(state)}


def state_from_snapshot(data: dict[str, Any]) -> State:
    cls = _STATE_KINDS.get(data.get("kind"))
    if cls is None:
        raise ValueError(f"unknown snapshot kind {data.get('kind')!r}")
    return from_json_fields(cls, data)
