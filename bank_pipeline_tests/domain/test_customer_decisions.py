from __future__ import annotations

from datetime import datetime

import pytest

from bank_pipeline.domain.commands import (
    ChangeKycStatus,
    CloseCustomer,
    OpenAccount,
    RegisterCustomer,
    UpdateCustomerDetails,
)
from bank_pipeline.domain.decide import decide
from bank_pipeline.domain.errors import (
    AccountAlreadyExists,
    CustomerAlreadyExists,
    CustomerClosed,
    InvalidCommand,
    KycNotVerified,
    MalformedAmount,
    UnknownCustomer,
    UnsupportedCurrency,
)
from bank_pipeline.domain.events import (
    AccountOpened,
    CustomerDetailsUpdated,
    CustomerKycStatusChanged,
    CustomerRegistered,
)
from bank_pipeline.domain.events import CustomerClosed as CustomerClosedEvent
from bank_pipeline_tests.domain.harness import NOW, Bank, bank_with_accounts

REGISTER = RegisterCustomer("C1", "Ada Lovelace", "ada@example.com", "1 Analytical St")


def registered(kyc_status: str | None = None) -> Bank:
    bank = Bank()
    bank.execute(REGISTER)
    if kyc_status:
        bank.execute(ChangeKycStatus("C1", kyc_status))
    return bank


def test_register_customer() -> None:
    assert Bank().decide(REGISTER) == [
        ("customer-C1", CustomerRegistered("C1", "Ada Lovelace", "ada@example.com", "1 Analytical St"))
    ]


def test_a_customer_registers_once() -> None:
    with pytest.raises(CustomerAlreadyExists, match="C1"):
        registered().decide(REGISTER)


@pytest.mark.parametrize(
    "command",
    [
        RegisterCustomer("", "Ada", "ada@example.com", "x"),
        RegisterCustomer("C 1", "Ada", "ada@example.com", "x"),
        RegisterCustomer("C1", "  ", "ada@example.com", "x"),
        RegisterCustomer("C1", "Ada", "", "x"),
        RegisterCustomer("C1", "Ada", "ada@example.com", None),  # type: ignore[arg-type]
    ],
)
def test_register_customer_validates_fields(command: RegisterCustomer) -> None:
    with pytest.raises(InvalidCommand):
        Bank().decide(command)


def test_update_details_records_only_what_changes() -> None:
    assert registered().decide(UpdateCustomerDetails("C1", email="ada@new.example")) == [
        ("customer-C1", CustomerDetailsUpdated("C1", None, "ada@new.example", None))
    ]


def test_an_update_must_change_something() -> None:
    with pytest.raises(InvalidCommand, match="customer C1: no details"):
        registered().decide(UpdateCustomerDetails("C1"))


def test_updated_details_must_not_be_blank() -> None:
    with pytest.raises(InvalidCommand, match="customer C1: name"):
        registered().decide(UpdateCustomerDetails("C1", name=""))


def test_change_kyc_status() -> None:
    assert registered().decide(ChangeKycStatus("C1", "verified")) == [
        ("customer-C1", CustomerKycStatusChanged("C1", "verified"))
    ]


def test_kyc_status_must_be_known() -> None:
    with pytest.raises(InvalidCommand, match="customer C1: KYC status"):
        registered().decide(ChangeKycStatus("C1", "approved"))


def test_close_customer() -> None:
    assert registered().decide(CloseCustomer("C1", "moved away")) == [
        ("customer-C1", CustomerClosedEvent("C1", "moved away"))
    ]


@pytest.mark.parametrize(
    "command",
    [
        UpdateCustomerDetails("C1", name="Ada"),
        ChangeKycStatus("C1", "verified"),
        CloseCustomer("C1", "again"),
        OpenAccount("A1", "C1", "EUR"),
    ],
)
def test_unknown_customers_are_refused(command: object) -> None:
    with pytest.raises(UnknownCustomer, match="C1"):
        Bank().decide(command)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "command",
    [
        UpdateCustomerDetails("C1", name="Ada"),
        ChangeKycStatus("C1", "verified"),
        CloseCustomer("C1", "again"),
        OpenAccount("A1", "C1", "EUR"),
    ],
)
def test_closed_customers_are_refused(command: object) -> None:
    bank = registered("verified")
    bank.execute(CloseCustomer("C1", "moved away"))
    with pytest.raises(CustomerClosed, match="C1"):
        bank.decide(command)  # type: ignore[arg-type]


def test_open_account_for_a_verified_customer() -> None:
    command = OpenAccount("A1", "C1", "EUR", product="savings", overdraft_limit=500)
    assert command.stream_ids() == ["customer-C1", "account-A1"]
    assert registered("verified").decide(command) == [("account-A1", AccountOpened("A1", "C1", "EUR", "savings", 500))]


def test_accounts_are_current_accounts_without_overdraft_by_default() -> None:
    assert registered("verified").decide(OpenAccount("A1", "C1", "EUR")) == [
        ("account-A1", AccountOpened("A1", "C1", "EUR", "current", 0))
    ]


@pytest.mark.parametrize("kyc_status", [None, "rejected"])
def test_open_account_needs_verified_kyc(kyc_status: str | None) -> None:
    with pytest.raises(KycNotVerified, match="customer C1 cannot open account A1"):
        registered(kyc_status).decide(OpenAccount("A1", "C1", "EUR"))


def test_an_account_opens_once() -> None:
    with pytest.raises(AccountAlreadyExists, match="A1"):
        bank_with_accounts(("A1", "EUR", 0)).decide(OpenAccount("A1", "C1", "EUR"))


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (OpenAccount("A1", "C1", "XYZ"), UnsupportedCurrency),
        (OpenAccount("A1", "C1", "EUR", product=""), InvalidCommand),
        (OpenAccount("A1", "C1", "EUR", overdraft_limit=-1), InvalidCommand),
        (OpenAccount("A1", "C1", "EUR", overdraft_limit=1.5), MalformedAmount),  # type: ignore[arg-type]
        (OpenAccount("A1", "C1", "EUR", overdraft_limit=True), MalformedAmount),
        (OpenAccount("A1", "C 1", "EUR"), InvalidCommand),
    ],
)
def test_open_account_validates_fields_naming_the_account(command: OpenAccount, error: type[Exception]) -> None:
    with pytest.raises(error, match="account A1"):
        decide(command, {"customer-C1": None, "customer-C 1": None, "account-A1": None}, NOW)


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(InvalidCommand, match="now"):
        Bank().decide(REGISTER, now=datetime(2024, 5, 1, 12))
