from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bank_pipeline.domain.aggregates import (
    AccountState,
    CustomerState,
    Hold,
    TransferState,
    evolve,
    fold,
    state_from_snapshot,
    state_to_snapshot,
)
from bank_pipeline.domain.events import (
    AccountClosed,
    AccountCredited,
    AccountDebited,
    AccountFrozen,
    AccountOpened,
    AccountUnfrozen,
    CustomerClosed,
    CustomerDetailsUpdated,
    CustomerKycStatusChanged,
    CustomerRegistered,
    HoldPlaced,
    HoldReleased,
    InboundTransferCredited,
    InboundTransferReceived,
    InboundTransferReturned,
    OutboundTransferExpired,
    OutboundTransferRejected,
    OutboundTransferRequested,
    OutboundTransferSettled,
    OutboundTransferSubmitted,
)
from bank_pipeline_tests.domain.harness import NOW

LATER = NOW + timedelta(days=1)


def test_no_events_no_state() -> None:
    assert fold([]) is None


def test_customer_history() -> None:
    state = fold(
        [
            CustomerRegistered("C1", "Ada", "ada@example.com", "1 Main St"),
            CustomerDetailsUpdated("C1", name=None, email="ada@new.example", address=None),
            CustomerKycStatusChanged("C1", "verified"),
        ]
    )
    # Plain names (the domain never seals): the customer could not be erased by destroying a key.
    assert state == CustomerState(
        "C1", "Ada", "ada@new.example", "1 Main St", "verified", closed=False, plain_personal_data=True
    )
    assert evolve(state, CustomerClosed("C1", "moved away")).closed is True


def test_account_balances_and_holds() -> None:
    state = fold(
        [
            AccountOpened("A1", "C1", "EUR", "current", 500),
            AccountCredited("A1", "D1", 1000, "EUR", 1000, "external", None, None),
            AccountDebited("A1", "T1", 300, "EUR", 700, "internal", "A2", None),
            HoldPlaced("A1", "H1", 200, "EUR", LATER, "card"),
            HoldPlaced("A1", "H2", 50, "EUR", LATER, "card"),
            HoldReleased("A1", "H1", 200, "released"),
        ]
    )
    assert isinstance(state, AccountState)
    assert state.ledger_balance == 700
    assert state.holds == (Hold("H2", 50, LATER, "card"),)
    assert state.held_amount == 50
    assert state.available_balance == 650
    assert state.status == "open"


def test_account_status_follows_freeze_unfreeze_close() -> None:
    opened = fold([AccountOpened("A1", "C1", "EUR", "current", 0)])
    frozen = evolve(opened, AccountFrozen("A1", "fraud check"))
    assert frozen.status == "frozen"
    unfrozen = evolve(frozen, AccountUnfrozen("A1", "cleared"))
    assert unfrozen.status == "open"
    assert evolve(unfrozen, AccountClosed("A1", "customer request")).status == "closed"


def test_outbound_transfer_lifecycle() -> None:
    requested = OutboundTransferRequested("T1", "A1", 500, "EUR", "DE89370400440532013000", "Bob", "rent", LATER)
    state = fold([requested])
    assert state == TransferState(
        "T1", "outbound", "A1", 500, "EUR", "funds_held", LATER, counterparty_iban="DE89370400440532013000",
        reference="rent",
    )  # fmt: skip
    submitted = evolve(state, OutboundTransferSubmitted("T1", "SUB-1"))
    assert submitted.status == "submitted"
    assert evolve(submitted, OutboundTransferSettled("T1")).status == "settled"
    assert evolve(submitted, OutboundTransferRejected("T1", "bad iban")).status == "rejected"
    assert evolve(state, OutboundTransferExpired("T1")).status == "expired"


def test_inbound_transfer_lifecycle() -> None:
    state = fold([InboundTransferReceived("I1", "A1", 700, "EUR", "GB33BUKB20201555555555", "Carol", None)])
    assert isinstance(state, TransferState)
    assert (state.direction, state.status, state.hold_expires_at) == ("inbound", "received", None)
    assert evolve(state, InboundTransferCredited("I1")).status == "credited"
    assert evolve(state, InboundTransferReturned("I1", "unknown_account")).status == "returned"


@pytest.mark.parametrize(
    "history",
    [
        [AccountCredited("A1", "D1", 1, "EUR", 1, "external", None, None)],
        [AccountOpened("A1", "C1", "EUR", "current", 0), AccountOpened("A1", "C1", "EUR", "current", 0)],
        [AccountOpened("A1", "C1", "EUR", "current", 0), HoldReleased("A1", "H1", 1, "released")],
        [CustomerRegistered("C1", "Ada", "a@b.c", "x"), AccountFrozen("A1", "mixed streams")],
        [OutboundTransferSubmitted("T1", "SUB-1")],
    ],
)
def test_an_invalid_history_is_refused(history: list) -> None:
    with pytest.raises(ValueError, match="cannot apply"):
        fold(history)


STATES = [
    CustomerState("C1", "Ada", "ada@example.com", "1 Main St", "verified", closed=False),
    AccountState("A1", "C1", "EUR", "current", 500, "frozen", -120, (Hold("H1", 20, LATER, "card"),)),
    AccountState("A2", "C1", "JPY", "savings", 0, "open", 0, ()),
    TransferState("T1", "outbound", "A1", 500, "EUR", "submitted", LATER, "DE89370400440532013000", None),
    TransferState("I1", "inbound", "A1", 500, "EUR", "credited", None, "GB33BUKB20201555555555", "gift"),
]


@pytest.mark.parametrize("state", STATES)
def test_snapshot_round_trip_is_exact(state: CustomerState | AccountState | TransferState) -> None:
    snapshot = state_to_snapshot(state)
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert state_from_snapshot(json.loads(json.dumps(snapshot))) == state


def test_snapshots_say_what_kind_of_state_they_hold() -> None:
    assert [state_to_snapshot(state)["kind"] for state in STATES] == [
        "customer", "account", "account", "transfer", "transfer",
    ]  # fmt: skip


def test_a_snapshot_of_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="loan"):
        state_from_snapshot({"kind": "loan"})
