"""The read side of personal data: sealed values back to text, wherever personal fields are shown (the API,
statements, the CLI). A value whose customer's key was destroyed reads as ERASED_MARKER. A plain value (an
event written before sealing existed, or by a bench loader that writes payloads directly) passes through
unchanged: no key is looked up for it.

Keys are read from the database on every call, never cached: an erasure takes effect at the next read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from bank_pipeline.domain.personal_data import ERASED_MARKER, PERSONAL_FIELDS, is_sealed
from bank_pipeline.personal_data.keys import read_keys
from bank_pipeline.personal_data.master_key import master_key
from bank_pipeline.personal_data.sealing import open_value

#: The events whose payloads carry sealed personal fields.
SEALED_EVENT_TYPES = frozenset({"CustomerRegistered", "CustomerDetailsUpdated"})


def reveal_values(conn: psycopg.Connection, values: Sequence[tuple[str, str, str | None]]) -> list[str | None]:
    """Each (customer id, field, value) as text: opened when sealed, ERASED_MARKER when the customer's key is
    gone, as it is otherwise. One query for the keys of every sealed value's customer."""
    sealed_customers = {customer_id for customer_id, _, value in values if is_sealed(value)}
    if not sealed_customers:
        return [value for _, _, value in values]
    keys = read_keys(conn, sealed_customers, master_key())
    revealed: list[str | None] = []
    for customer_id, field, value in values:
        if not is_sealed(value):
            revealed.append(value)
            continue
        key = keys.get(customer_id)
        revealed.append(ERASED_MARKER if key is None else open_value(key, customer_id, field, value))
    return revealed


def reveal_value(conn: psycopg.Connection, customer_id: str, field: str, value: str | None) -> str | None:
    return reveal_values(conn, [(customer_id, field, value)])[0]


def reveal_payloads(conn: psycopg.Connection, events: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each (event type, payload) with its personal fields revealed (a copy; other payloads as they are): what
    the audit trail shows instead of ciphertext."""
    wanted = [
        (index, payload["customer_id"], field, payload[field])
        for index, (event_type, payload) in enumerate(events)
        if event_type in SEALED_EVENT_TYPES
        for field in PERSONAL_FIELDS
        if payload.get(field) is not None
    ]
    payloads = [payload for _, payload in events]
    if not wanted:
        return payloads
    revealed = reveal_values(conn, [(customer_id, field, value) for _, customer_id, field, value in wanted])
    payloads = [dict(payload) for payload in payloads]
    for (index, _, field, _), value in zip(wanted, revealed, strict=True):
        payloads[index][field] = value
    return payloads
