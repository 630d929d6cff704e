from __future__ import annotations

import json
import types
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bank_pipeline.domain.errors import UnknownEventType, UnknownSchemaVersion
from bank_pipeline.domain.events import (
    EVENT_TYPES,
    AccountOpened,
    DomainEvent,
    HoldPlaced,
    event_from_stored,
    upcast,
)
from bank_pipeline_tests.domain.harness import FAST

OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]


def _values_for(hint: Any) -> st.SearchStrategy[Any]:
    if get_origin(hint) in (Union, types.UnionType):
        return st.one_of(*(_values_for(arg) for arg in get_args(hint)))
    if get_origin(hint) is Literal:
        return st.sampled_from(get_args(hint))
    if hint is type(None):
        return st.none()
    if hint is datetime:
        return st.datetimes(
            min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.sampled_from(OFFSETS)
        )
    if hint is int:
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    if hint is str:
        return st.text(max_size=20)
    raise AssertionError(f"no strategy for {hint!r}")


def _events_of(cls: type[DomainEvent]) -> st.SearchStrategy[DomainEvent]:
    hints = get_type_hints(cls)
    return st.builds(cls, **{field.name: _values_for(hints[field.name]) for field in fields(cls)})


def test_the_registry_holds_every_event_under_its_type_name() -> None:
    assert set(EVENT_TYPES.values()) == set(DomainEvent.__subclasses__())
    assert all(cls.event_type == cls.__name__ for cls in EVENT_TYPES.values())


def test_account_opened_is_at_schema_version_2_and_everything_else_at_1() -> None:
    versions = {name: cls.schema_version for name, cls in EVENT_TYPES.items()}
    assert versions.pop("AccountOpened") == 2
    assert set(versions.values()) == {1}


@pytest.mark.parametrize("event_class", EVENT_TYPES.values(), ids=EVENT_TYPES.keys())
@settings(FAST, max_examples=30)
@given(data=st.data())
def test_payload_round_trip_for_every_event_type(event_class: type[DomainEvent], data: st.DataObject) -> None:
    event = data.draw(_events_of(event_class))
    payload = event.to_payload()
    stored = json.loads(json.dumps(payload))
    assert stored == payload
    assert type(event).from_payload(stored) == event
    assert event_from_stored(event.event_type, event.schema_version, stored) == event


@FAST
@given(event=_events_of(HoldPlaced))
def test_datetimes_are_stored_as_utc_iso_text(event: HoldPlaced) -> None:
    stored = event.to_payload()["expires_at"]
    assert stored.endswith("+00:00")
    assert datetime.fromisoformat(stored) == event.expires_at


def test_payload_fields_are_the_event_fields() -> None:
    event = AccountOpened("A1", "C1", "EUR", "savings", 500)
    assert event.to_payload() == {
        "account_id": "A1",
        "customer_id": "C1",
        "currency": "EUR",
        "product": "savings",
        "overdraft_limit": 500,
    }


def test_a_naive_datetime_cannot_be_stored() -> None:
    event = HoldPlaced("A1", "H1", 100, "EUR", datetime(2024, 1, 1), "card")
    with pytest.raises(ValueError, match="naive"):
        event.to_payload()


V1_ACCOUNT_OPENED = {"account_id": "A1", "customer_id": "C1", "currency": "EUR", "overdraft_limit": 0}


def test_a_stored_v1_account_opened_upcasts_to_a_current_account() -> None:
    assert upcast("AccountOpened", 1, V1_ACCOUNT_OPENED) == {**V1_ACCOUNT_OPENED, "product": "current"}
    assert event_from_stored("AccountOpened", 1, V1_ACCOUNT_OPENED) == AccountOpened("A1", "C1", "EUR", "current", 0)


def test_upcasting_leaves_the_stored_payload_untouched() -> None:
    stored = dict(V1_ACCOUNT_OPENED)
    upcast("AccountOpened", 1, stored)
    assert stored == V1_ACCOUNT_OPENED


def test_a_current_payload_passes_through() -> None:
    payload = {**V1_ACCOUNT_OPENED, "product": "savings"}
    assert upcast("AccountOpened", 2, payload) == payload


@pytest.mark.parametrize("version", [0, 3, -1, "1", True, None])
def test_unknown_schema_versions_are_refused(version: Any) -> None:
    with pytest.raises(UnknownSchemaVersion, match="AccountOpened"):
        upcast("AccountOpened", version, V1_ACCOUNT_OPENED)


def test_a_version_newer_than_current_is_refused_for_any_event() -> None:
    with pytest.raises(UnknownSchemaVersion):
        event_from_stored("AccountFrozen", 2, {"account_id": "A1", "reason": "fraud"})


def test_unknown_event_types_are_refused() -> None:
    with pytest.raises(UnknownEventType, match="AccountExploded"):
        event_from_stored("AccountExploded", 1, {})
