from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bank_pipeline.domain.commands import (
    CloseAccount,
    Command,
    CreditAccount,
    DebitAccount,
    ExpireOutboundTransfer,
    FreezeAccount,
    PlaceHold,
    ReceiveInboundTransfer,
    RejectOutboundTransfer,
    RequestOutboundTransfer,
    SettleOutboundTransfer,
    SubmitOutboundTransfer,
)
from bank_pipeline.domain.errors import (
    AccountClosed,
    AccountFrozen,
    CurrencyMismatch,
    DomainError,
    DuplicateHold,
    HoldNotExpired,
    InsufficientFunds,
    InvalidCommand,
    InvalidTransferState,
    MalformedAmount,
    NonPositiveAmount,
    TransferAlreadyExists,
    UnknownAccount,
    UnknownTransfer,
    UnsupportedCurrency,
)
from bank_pipeline.domain.events import (
    AccountCredited,
    AccountDebited,
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
from bank_pipeline_tests.domain.harness import NOW, Bank, bank_with_accounts

EXPIRY = NOW + timedelta(days=2)
CREDITOR_IBAN = "DE89370400440532013000"
DEBTOR_IBAN = "GB33BUKB20201555555555"
REQUEST = RequestOutboundTransfer("T1", "A1", 400, "EUR", CREDITOR_IBAN, "Bob", "invoice 7", EXPIRY)
RECEIVE = ReceiveInboundTransfer("I1", "A1", 700, "EUR", DEBTOR_IBAN, "Carol", "gift")


def funded(balance: int = 1000) -> Bank:
    """A1 (EUR) holding `balance`, A2 (EUR, empty), A3 (USD, empty)."""
    bank = bank_with_accounts(("A1", "EUR", 0), ("A2", "EUR", 0), ("A3", "USD", 0))
    bank.execute(CreditAccount("A1", balance, "EUR", "D0"))
    return bank


def requested() -> Bank:
    bank = funded()
    bank.execute(REQUEST)
    return bank


def submitted() -> Bank:
    bank = requested()
    bank.execute(SubmitOutboundTransfer("T1", "SUB-1"))
    return bank


# Outbound: request


def test_request_outbound_transfer_holds_the_funds() -> None:
    bank = funded()
    assert REQUEST.stream_ids() == ["transfer-T1", "account-A1"]
    assert bank.execute(REQUEST) == [
        (
            "transfer-T1",
            OutboundTransferRequested("T1", "A1", 400, "EUR", CREDITOR_IBAN, "Bob", "invoice 7", EXPIRY),
        ),
        ("account-A1", HoldPlaced("A1", "T1", 400, "EUR", EXPIRY, "outbound_transfer")),
    ]
    assert bank.transfer("T1").status == "funds_held"
    assert bank.account("A1").available_balance == 600
    assert bank.account("A1").ledger_balance == 1000


def test_a_transfer_id_is_used_once() -> None:
    with pytest.raises(TransferAlreadyExists, match="transfer T1"):
        requested().decide(REQUEST)


def test_the_transfer_hold_must_not_clash_with_an_existing_hold() -> None:
    bank = funded()
    bank.execute(PlaceHold("A1", "T1", 100, "EUR", EXPIRY, "card"))
    with pytest.raises(DuplicateHold, match="account A1 already has a hold T1"):
        bank.decide(REQUEST)


def test_request_needs_available_funds() -> None:
    with pytest.raises(InsufficientFunds, match="account A1"):
        funded(300).decide(REQUEST)


@pytest.mark.parametrize(
    ("account_id", "error"),
    [("A9", UnknownAccount), ("A2", AccountClosed), ("A3", CurrencyMismatch), ("A1", AccountFrozen)],
)
def test_request_needs_a_usable_account(account_id: str, error: type[DomainError]) -> None:
    bank = funded()
    bank.execute(CloseAccount("A2", "closed"))
    bank.execute(FreezeAccount("A1", "fraud check"))
    with pytest.raises(error, match=f"account {account_id}"):
        bank.decide(replace(REQUEST, account_id=account_id))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"amount": 0}, NonPositiveAmount),
        ({"amount": 4.0}, MalformedAmount),
        ({"currency": "XYZ"}, UnsupportedCurrency),
        ({"creditor_iban": ""}, InvalidCommand),
        ({"creditor_name": None}, InvalidCommand),
        ({"reference": 7}, InvalidCommand),
        ({"hold_expires_at": NOW}, InvalidCommand),
        ({"hold_expires_at": datetime(2030, 1, 1)}, InvalidCommand),
    ],
)
def test_request_fields_are_validated_naming_the_account(changes: dict[str, object], error: type[DomainError]) -> None:
    with pytest.raises(error, match="outbound transfer T1 from account A1"):
        funded().decide(replace(REQUEST, **changes))


# Outbound: submit


def test_submit_outbound_transfer() -> None:
    command = SubmitOutboundTransfer("T1", "SUB-1")
    assert command.stream_ids() == ["transfer-T1"]
    assert requested().decide(command) == [("transfer-T1", OutboundTransferSubmitted("T1", "SUB-1"))]


def test_submit_needs_a_submission_reference() -> None:
    with pytest.raises(InvalidCommand, match="outbound transfer T1"):
        requested().decide(SubmitOutboundTransfer("T1", ""))


def test_a_transfer_is_submitted_once() -> None:
    with pytest.raises(InvalidTransferState, match="outbound transfer T1 of account A1 is submitted"):
        submitted().decide(SubmitOutboundTransfer("T1", "SUB-2"))


def test_an_inbound_transfer_cannot_be_submitted() -> None:
    bank = funded()
    bank.execute(RECEIVE)
    with pytest.raises(InvalidTransferState, match="inbound transfer I1 of account A1 is credited"):
        bank.decide(SubmitOutboundTransfer("I1", "SUB-1"))


@pytest.mark.parametrize(
    "command",
    [
        SubmitOutboundTransfer("T9", "SUB-1"),
        SettleOutboundTransfer("T9", "A1"),
        RejectOutboundTransfer("T9", "A1", "bad iban"),
        ExpireOutboundTransfer("T9", "A1"),
    ],
)
def test_unknown_transfers_are_refused(command: Command) -> None:
    with pytest.raises(UnknownTransfer, match="unknown transfer T9"):
        requested().decide(command)


# Outbound: settle, reject, expire


def test_settle_debits_the_held_funds() -> None:
    bank = submitted()
    command = SettleOutboundTransfer("T1", "A1")
    assert command.stream_ids() == ["transfer-T1", "account-A1"]
    assert bank.execute(command) == [
        ("transfer-T1", OutboundTransferSettled("T1")),
        ("account-A1", HoldReleased("A1", "T1", 400, "settled")),
        ("account-A1", AccountDebited("A1", "T1", 400, "EUR", 600, "external", CREDITOR_IBAN, "invoice 7")),
    ]
    account = bank.account("A1")
    assert (account.ledger_balance, account.available_balance, account.holds) == (600, 600, ())
    assert bank.transfer("T1").status == "settled"


def test_settle_goes_ahead_on_a_frozen_account() -> None:
    bank = submitted()
    bank.execute(FreezeAccount("A1", "fraud check"))
    bank.execute(SettleOutboundTransfer("T1", "A1"))
    assert bank.account("A1").ledger_balance == 600


def test_settle_needs_a_submitted_transfer() -> None:
    with pytest.raises(InvalidTransferState, match="transfer T1 of account A1 is funds_held; expected submitted"):
        requested().decide(SettleOutboundTransfer("T1", "A1"))


@pytest.mark.parametrize(
    "command",
    [
        SettleOutboundTransfer("T1", "A2"),
        RejectOutboundTransfer("T1", "A2", "x"),
        ExpireOutboundTransfer("T1", "A2"),
    ],
)
def test_the_account_must_be_the_transfers(command: Command) -> None:
    with pytest.raises(InvalidCommand, match="transfer T1 belongs to account A1, not account A2"):
        submitted().decide(command, now=EXPIRY)


@pytest.mark.parametrize("bank", [requested(), submitted()])
def test_reject_releases_the_hold(bank: Bank) -> None:
    assert bank.execute(RejectOutboundTransfer("T1", "A1", "creditor bank refused")) == [
        ("transfer-T1", OutboundTransferRejected("T1", "creditor bank refused")),
        ("account-A1", HoldReleased("A1", "T1", 400, "rejected")),
    ]
    assert bank.account("A1").available_balance == 1000
    assert bank.transfer("T1").status == "rejected"


def test_reject_needs_a_reason() -> None:
    with pytest.raises(InvalidCommand, match="outbound transfer T1: reason"):
        submitted().decide(RejectOutboundTransfer("T1", "A1", ""))


@pytest.mark.parametrize("bank", [requested(), submitted()])
def test_expire_releases_the_hold_once_it_expires(bank: Bank) -> None:
    with pytest.raises(HoldNotExpired, match="outbound transfer T1 on account A1"):
        bank.decide(ExpireOutboundTransfer("T1", "A1"), now=EXPIRY - timedelta(seconds=1))
    assert bank.execute(ExpireOutboundTransfer("T1", "A1"), now=EXPIRY) == [
        ("transfer-T1", OutboundTransferExpired("T1")),
        ("account-A1", HoldReleased("A1", "T1", 400, "expired")),
    ]
    assert bank.account("A1").available_balance == 1000


@pytest.mark.parametrize(
    "command",
    [
        SubmitOutboundTransfer("T1", "SUB-2"),
        SettleOutboundTransfer("T1", "A1"),
        RejectOutboundTransfer("T1", "A1", "late"),
        ExpireOutboundTransfer("T1", "A1"),
    ],
)
@pytest.mark.parametrize("ending", [SettleOutboundTransfer("T1", "A1"), RejectOutboundTransfer("T1", "A1", "x")])
def test_a_finished_transfer_accepts_no_more_commands(ending: Command, command: Command) -> None:
    bank = submitted()
    bank.execute(ending)
    with pytest.raises(InvalidTransferState, match="transfer T1 of account A1"):
        bank.decide(command, now=EXPIRY)


# Inbound


def test_an_inbound_transfer_is_credited() -> None:
    bank = funded()
    assert RECEIVE.stream_ids() == ["transfer-I1", "account-A1"]
    assert bank.execute(RECEIVE) == [
        ("transfer-I1", InboundTransferReceived("I1", "A1", 700, "EUR", DEBTOR_IBAN, "Carol", "gift")),
        ("transfer-I1", InboundTransferCredited("I1")),
        ("account-A1", AccountCredited("A1", "I1", 700, "EUR", 1700, "external", DEBTOR_IBAN, "gift")),
    ]
    assert bank.transfer("I1").status == "credited"


@pytest.mark.parametrize(
    ("account_id", "reason_code"),
    [
        ("A9", "unknown_account"),
        ("A2", "account_closed"),
        ("A3", "currency_mismatch"),
        ("A4", "account_frozen"),
    ],
)
def test_an_unacceptable_inbound_transfer_is_returned(account_id: str, reason_code: str) -> None:
    bank = bank_with_accounts(("A2", "EUR", 0), ("A3", "USD", 0), ("A4", "EUR", 0))
    bank.execute(CloseAccount("A2", "closed"))
    bank.execute(FreezeAccount("A4", "fraud check"))
    command = replace(RECEIVE, account_id=account_id)
    assert bank.execute(command) == [
        ("transfer-I1", InboundTransferReceived("I1", account_id, 700, "EUR", DEBTOR_IBAN, "Carol", "gift")),
        ("transfer-I1", InboundTransferReturned("I1", reason_code)),
    ]
    assert bank.transfer("I1").status == "returned"


def test_an_inbound_transfer_is_received_once() -> None:
    bank = funded()
    bank.execute(RECEIVE)
    with pytest.raises(TransferAlreadyExists, match="transfer I1"):
        bank.decide(RECEIVE)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"amount": -700}, NonPositiveAmount),
        ({"amount": "7.00"}, MalformedAmount),
        ({"currency": "XYZ"}, UnsupportedCurrency),
        ({"debtor_iban": " "}, InvalidCommand),
        ({"debtor_name": ""}, InvalidCommand),
    ],
)
def test_a_malformed_inbound_transfer_is_refused_naming_the_account(
    changes: dict[str, object], error: type[DomainError]
) -> None:
    with pytest.raises(error, match="inbound transfer I1 to account A1"):
        funded().decide(replace(RECEIVE, **changes))


def test_outbound_settlement_does_not_recheck_the_overdraft() -> None:
    bank = submitted()
    # Everything not held is spent: only the hold's reservation pays for the settlement.
    bank.execute(DebitAccount("A1", 600, "EUR", "P1"))
    bank.execute(SettleOutboundTransfer("T1", "A1"))
    assert bank.account("A1").ledger_balance == 0
