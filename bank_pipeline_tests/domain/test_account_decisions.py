from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bank_pipeline.domain.commands import (
    CloseAccount,
    Command,
    CreditAccount,
    DebitAccount,
    FreezeAccount,
    PlaceHold,
    ReleaseHold,
    RequestOutboundTransfer,
    TransferInternal,
    UnfreezeAccount,
)
from bank_pipeline.domain.decide import decide
from bank_pipeline.domain.errors import (
    AccountClosed,
    AccountFrozen,
    AccountNotEmpty,
    AccountNotFrozen,
    CurrencyMismatch,
    DomainError,
    DuplicateHold,
    InsufficientFunds,
    InvalidCommand,
    MalformedAmount,
    NonPositiveAmount,
    SameAccountTransfer,
    UnknownAccount,
    UnknownHold,
    UnsupportedCurrency,
)
from bank_pipeline.domain.events import (
    AccountClosed as AccountClosedEvent,
)
from bank_pipeline.domain.events import (
    AccountCredited,
    AccountDebited,
    AccountUnfrozen,
    HoldPlaced,
    HoldReleased,
)
from bank_pipeline.domain.events import (
    AccountFrozen as AccountFrozenEvent,
)
from bank_pipeline_tests.domain.harness import NOW, Bank, bank_with_accounts

TOMORROW = NOW + timedelta(days=1)


def funded(balance: int = 1000, overdraft_limit: int = 0) -> Bank:
    """A1 (EUR) holding `balance`, A2 (EUR, empty), A3 (USD, empty)."""
    bank = bank_with_accounts(("A1", "EUR", overdraft_limit), ("A2", "EUR", 0), ("A3", "USD", 0))
    if balance:
        bank.execute(CreditAccount("A1", balance, "EUR", "D0"))
    return bank


def frozen(bank: Bank, account_id: str = "A1") -> Bank:
    bank.execute(FreezeAccount(account_id, "fraud check"))
    return bank


def closed_a2(bank: Bank) -> Bank:
    bank.execute(CloseAccount("A2", "customer request"))
    return bank


# Commands that move money on A1 and so need A1 to exist, be open, not frozen, and hold EUR.
MONEY_MOVING = [
    CreditAccount("A1", 100, "EUR", "D1"),
    DebitAccount("A1", 100, "EUR", "P1"),
    PlaceHold("A1", "H1", 100, "EUR", TOMORROW, "card"),
    TransferInternal("X1", "A1", "A2", 100, "EUR"),
]


def with_account(command: Command, account_id: str, **changes: object) -> Command:
    """The command acting on `account_id` (as the source of an internal transfer)."""
    if isinstance(command, TransferInternal):
        target = "A1" if account_id == "A2" else "A2"
        return replace(command, from_account_id=account_id, to_account_id=target, **changes)
    return replace(command, account_id=account_id, **changes)


# Credits and debits


def test_credit_adds_to_the_ledger() -> None:
    command = CreditAccount("A1", 250, "EUR", "D1", counterparty="cash desk", reference="deposit")
    assert funded(1000).decide(command) == [
        ("account-A1", AccountCredited("A1", "D1", 250, "EUR", 1250, "external", "cash desk", "deposit"))
    ]


def test_debit_takes_from_the_ledger() -> None:
    command = DebitAccount("A1", 250, "EUR", "P1", counterparty="Coffee Shop")
    assert funded(1000).decide(command) == [
        ("account-A1", AccountDebited("A1", "P1", 250, "EUR", 750, "external", "Coffee Shop", None))
    ]


def test_a_debit_may_use_the_whole_available_balance() -> None:
    bank = funded(1000)
    bank.execute(DebitAccount("A1", 1000, "EUR", "P1"))
    assert bank.account("A1").ledger_balance == 0


def test_a_debit_beyond_the_available_balance_is_refused() -> None:
    with pytest.raises(InsufficientFunds) as refusal:
        funded(1000).decide(DebitAccount("A1", 2500, "EUR", "P1"))
    assert str(refusal.value) == (
        "insufficient funds on account A1: available 10.00 EUR + overdraft 0.00 EUR, requested 25.00 EUR"
    )


def test_the_overdraft_limit_extends_what_can_be_debited() -> None:
    bank = funded(1000, overdraft_limit=500)
    bank.execute(DebitAccount("A1", 1500, "EUR", "P1"))
    assert bank.account("A1").ledger_balance == -500
    with pytest.raises(InsufficientFunds, match="account A1: available -5.00 EUR \\+ overdraft 5.00 EUR"):
        bank.decide(DebitAccount("A1", 1, "EUR", "P2"))


def test_holds_reduce_what_can_be_debited() -> None:
    bank = funded(1000)
    bank.execute(PlaceHold("A1", "H1", 600, "EUR", TOMORROW, "card"))
    with pytest.raises(InsufficientFunds, match="available 4.00 EUR"):
        bank.decide(DebitAccount("A1", 401, "EUR", "P1"))


@pytest.mark.parametrize("command", MONEY_MOVING)
def test_money_cannot_move_on_an_unknown_account(command: Command) -> None:
    with pytest.raises(UnknownAccount, match="A9"):
        funded().decide(with_account(command, "A9"))


@pytest.mark.parametrize("command", MONEY_MOVING)
def test_money_cannot_move_on_a_closed_account(command: Command) -> None:
    with pytest.raises(AccountClosed, match="A2"):
        closed_a2(funded()).decide(with_account(command, "A2"))


@pytest.mark.parametrize("command", MONEY_MOVING)
def test_money_cannot_move_on_a_frozen_account(command: Command) -> None:
    with pytest.raises(AccountFrozen, match="A1"):
        frozen(funded()).decide(command)


@pytest.mark.parametrize("command", MONEY_MOVING)
def test_money_moves_only_in_the_account_currency(command: Command) -> None:
    with pytest.raises(CurrencyMismatch, match="account A1 holds EUR, not USD"):
        funded().decide(with_account(command, "A1", currency="USD"))


@pytest.mark.parametrize("command", MONEY_MOVING)
@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"amount": 0}, NonPositiveAmount),
        ({"amount": -100}, NonPositiveAmount),
        ({"amount": 1.5}, MalformedAmount),
        ({"amount": True}, MalformedAmount),
        ({"amount": "100"}, MalformedAmount),
        ({"currency": "XYZ"}, UnsupportedCurrency),
        ({"currency": "eur"}, UnsupportedCurrency),
    ],
)
def test_amounts_and_currencies_are_validated_naming_the_account(
    command: Command, changes: dict[str, object], error: type[DomainError]
) -> None:
    with pytest.raises(error, match="account A1"):
        funded().decide(with_account(command, "A1", **changes))


@pytest.mark.parametrize(
    "command",
    [
        CreditAccount("A1", 100, "EUR", "bad id"),
        DebitAccount("A1", 100, "EUR", "P1", counterparty=5),  # type: ignore[arg-type]
        DebitAccount("A1", 100, "EUR", "P1", reference=b"x"),  # type: ignore[arg-type]
        CreditAccount("A 1", 100, "EUR", "D1"),
    ],
)
def test_entry_fields_are_validated(command: Command) -> None:
    with pytest.raises(InvalidCommand):
        decide(command, {"account-A1": None, "account-A 1": None}, NOW)


# Holds


def test_place_hold() -> None:
    command = PlaceHold("A1", "H1", 300, "EUR", TOMORROW, "card authorisation")
    assert funded().decide(command) == [
        ("account-A1", HoldPlaced("A1", "H1", 300, "EUR", TOMORROW, "card authorisation"))
    ]


def test_hold_expiry_is_stored_in_utc() -> None:
    expires_at = TOMORROW.astimezone(timezone(timedelta(hours=2)))
    [(_, event)] = funded().decide(PlaceHold("A1", "H1", 300, "EUR", expires_at, "card"))
    assert event.expires_at == TOMORROW
    assert event.expires_at.tzinfo == UTC


def test_hold_ids_are_unique_per_account() -> None:
    bank = funded()
    bank.execute(PlaceHold("A1", "H1", 300, "EUR", TOMORROW, "card"))
    with pytest.raises(DuplicateHold, match="account A1 already has a hold H1"):
        bank.decide(PlaceHold("A1", "H1", 100, "EUR", TOMORROW, "card"))


def test_a_hold_beyond_the_available_balance_is_refused() -> None:
    with pytest.raises(InsufficientFunds, match="account A1"):
        funded(1000).decide(PlaceHold("A1", "H1", 1001, "EUR", TOMORROW, "card"))


@pytest.mark.parametrize(
    ("expires_at", "reason"),
    [
        (datetime(2024, 5, 2), "card"),  # naive
        (NOW, "card"),  # not in the future
        (TOMORROW, ""),
        (TOMORROW, "outbound_transfer"),  # reserved for outbound transfers
    ],
)
def test_hold_fields_are_validated(expires_at: datetime, reason: str) -> None:
    with pytest.raises(InvalidCommand, match="account A1"):
        funded().decide(PlaceHold("A1", "H1", 100, "EUR", expires_at, reason))


def test_release_hold_frees_the_funds() -> None:
    bank = funded()
    bank.execute(PlaceHold("A1", "H1", 300, "EUR", TOMORROW, "card"))
    assert bank.execute(ReleaseHold("A1", "H1")) == [("account-A1", HoldReleased("A1", "H1", 300, "released"))]
    assert bank.account("A1").available_balance == 1000


def test_release_hold_is_allowed_on_a_frozen_account() -> None:
    bank = funded()
    bank.execute(PlaceHold("A1", "H1", 300, "EUR", TOMORROW, "card"))
    frozen(bank).execute(ReleaseHold("A1", "H1"))
    assert bank.account("A1").holds == ()


def test_release_hold_is_refused_on_a_closed_account() -> None:
    with pytest.raises(AccountClosed, match="A2"):
        closed_a2(funded()).decide(ReleaseHold("A2", "H1"))


def test_release_of_an_unknown_hold_is_refused() -> None:
    with pytest.raises(UnknownHold, match="account A1 has no hold H1"):
        funded().decide(ReleaseHold("A1", "H1"))


def test_release_of_an_unknown_account_is_refused() -> None:
    with pytest.raises(UnknownAccount, match="A9"):
        funded().decide(ReleaseHold("A9", "H1"))


def test_the_hold_of_an_outbound_transfer_is_not_released_by_hand() -> None:
    bank = funded()
    bank.execute(RequestOutboundTransfer("T1", "A1", 300, "EUR", "DE89370400440532013000", "Bob", None, TOMORROW))
    with pytest.raises(InvalidCommand, match="hold T1 on account A1 reserves outbound transfer T1"):
        bank.decide(ReleaseHold("A1", "T1"))


# Freezing and closing


def test_freeze_and_unfreeze() -> None:
    bank = funded()
    assert bank.execute(FreezeAccount("A1", "fraud check")) == [("account-A1", AccountFrozenEvent("A1", "fraud check"))]
    assert bank.execute(UnfreezeAccount("A1", "cleared")) == [("account-A1", AccountUnfrozen("A1", "cleared"))]
    assert bank.account("A1").status == "open"


def test_a_frozen_account_cannot_be_frozen_again() -> None:
    with pytest.raises(AccountFrozen, match="account A1 is already frozen"):
        frozen(funded()).decide(FreezeAccount("A1", "again"))


def test_only_a_frozen_account_can_be_unfrozen() -> None:
    with pytest.raises(AccountNotFrozen, match="account A1 is not frozen"):
        funded().decide(UnfreezeAccount("A1", "cleared"))


@pytest.mark.parametrize("command", [FreezeAccount("A2", "x"), UnfreezeAccount("A2", "x"), CloseAccount("A2", "again")])
def test_a_closed_account_stays_closed(command: Command) -> None:
    with pytest.raises(AccountClosed, match="account A2 is closed"):
        closed_a2(funded()).decide(command)


@pytest.mark.parametrize("command", [FreezeAccount("A9", "x"), UnfreezeAccount("A9", "x"), CloseAccount("A9", "x")])
def test_unknown_accounts_cannot_change_status(command: Command) -> None:
    with pytest.raises(UnknownAccount, match="A9"):
        funded().decide(command)


@pytest.mark.parametrize(
    "command",
    [FreezeAccount("A1", ""), UnfreezeAccount("A1", " "), CloseAccount("A1", None)],  # type: ignore[arg-type]
)
def test_status_changes_need_a_reason(command: Command) -> None:
    with pytest.raises(InvalidCommand, match="account A1: reason"):
        funded().decide(command)


def test_close_an_empty_account() -> None:
    assert funded().decide(CloseAccount("A2", "customer request")) == [
        ("account-A2", AccountClosedEvent("A2", "customer request"))
    ]


def test_a_frozen_account_can_be_closed() -> None:
    bank = frozen(funded(), "A2")
    bank.execute(CloseAccount("A2", "customer request"))
    assert bank.account("A2").status == "closed"


def test_an_account_with_money_cannot_be_closed() -> None:
    with pytest.raises(AccountNotEmpty, match="account A1 cannot be closed: ledger balance 10.00 EUR"):
        funded(1000).decide(CloseAccount("A1", "customer request"))


def test_an_overdrawn_account_cannot_be_closed() -> None:
    bank = funded(0, overdraft_limit=500)
    bank.execute(DebitAccount("A1", 100, "EUR", "P1"))
    with pytest.raises(AccountNotEmpty, match="account A1"):
        bank.decide(CloseAccount("A1", "customer request"))


def test_an_account_with_holds_cannot_be_closed() -> None:
    bank = funded(1000, overdraft_limit=1000)
    bank.execute(PlaceHold("A1", "H1", 1000, "EUR", TOMORROW, "card"))
    bank.execute(DebitAccount("A1", 1000, "EUR", "P1"))
    with pytest.raises(AccountNotEmpty, match="account A1 cannot be closed: ledger balance 0.00 EUR, 1 active hold"):
        bank.decide(CloseAccount("A1", "customer request"))


# Internal transfers


def test_internal_transfer_moves_money_between_accounts() -> None:
    command = TransferInternal("X1", "A1", "A2", 400, "EUR", reference="rent")
    assert command.stream_ids() == ["account-A1", "account-A2"]
    assert funded(1000).decide(command) == [
        ("account-A1", AccountDebited("A1", "X1", 400, "EUR", 600, "internal", "A2", "rent")),
        ("account-A2", AccountCredited("A2", "X1", 400, "EUR", 400, "internal", "A1", "rent")),
    ]


def test_a_transfer_to_the_same_account_is_refused_before_reading_it() -> None:
    command = TransferInternal("X1", "A1", "A1", 400, "EUR")
    assert command.stream_ids() == ["account-A1"]
    with pytest.raises(SameAccountTransfer, match="account A1"):
        decide(command, {}, NOW)


def test_internal_transfer_needs_funds_on_the_source() -> None:
    with pytest.raises(InsufficientFunds, match="account A1"):
        funded(300).decide(TransferInternal("X1", "A1", "A2", 400, "EUR"))


@pytest.mark.parametrize(
    ("bank", "to_account_id", "error"),
    [
        (funded(), "A9", UnknownAccount),
        (closed_a2(funded()), "A2", AccountClosed),
        (frozen(funded(), "A2"), "A2", AccountFrozen),
        (funded(), "A3", CurrencyMismatch),
    ],
)
def test_internal_transfer_needs_a_usable_target(bank: Bank, to_account_id: str, error: type[DomainError]) -> None:
    with pytest.raises(error, match=f"account {to_account_id}"):
        bank.decide(TransferInternal("X1", "A1", to_account_id, 400, "EUR"))
