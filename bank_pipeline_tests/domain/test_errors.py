from __future__ import annotations

import pytest

from bank_pipeline.domain import errors

EXPECTED_CODES = {
    "InvalidCommand": "invalid_command",
    "UnsupportedCurrency": "unsupported_currency",
    "MalformedAmount": "malformed_amount",
    "NonPositiveAmount": "non_positive_amount",
    "UnknownCustomer": "unknown_customer",
    "CustomerAlreadyExists": "customer_already_exists",
    "CustomerClosed": "customer_closed",
    "KycNotVerified": "kyc_not_verified",
    "UnknownAccount": "unknown_account",
    "AccountAlreadyExists": "account_already_exists",
    "AccountFrozen": "account_frozen",
    "AccountClosed": "account_closed",
    "AccountNotFrozen": "account_not_frozen",
    "AccountNotEmpty": "account_not_empty",
    "CurrencyMismatch": "currency_mismatch",
    "InsufficientFunds": "insufficient_funds",
    "SameAccountTransfer": "same_account_transfer",
    "UnknownHold": "unknown_hold",
    "DuplicateHold": "duplicate_hold",
    "UnknownTransfer": "unknown_transfer",
    "TransferAlreadyExists": "transfer_already_exists",
    "InvalidTransferState": "invalid_transfer_state",
    "HoldNotExpired": "hold_not_expired",
    "UnknownEventType": "unknown_event_type",
    "UnknownSchemaVersion": "unknown_schema_version",
    "InvalidStatementPeriod": "invalid_statement_period",
    "UnknownStatementFormat": "unknown_statement_format",
    "InconsistentStatement": "inconsistent_statement",
    "CustomerErased": "customer_erased",
    "UnknownLegalHold": "unknown_legal_hold",
    "LegalHoldAlreadyExists": "legal_hold_already_exists",
    "LegalHoldApplies": "legal_hold_applies",
    "AccountOfAnotherCustomer": "account_of_another_customer",
    "PersonalDataNotSealed": "personal_data_not_sealed",
}


@pytest.mark.parametrize(("name", "code"), sorted(EXPECTED_CODES.items()))
def test_each_error_is_a_domain_error_with_its_stable_code(name: str, code: str) -> None:
    error_class = getattr(errors, name)
    assert issubclass(error_class, errors.DomainError)
    assert error_class.code == code


def test_there_are_no_other_errors() -> None:
    defined = {cls.__name__ for cls in errors.DomainError.__subclasses__()}
    assert defined == set(EXPECTED_CODES)


def test_the_message_is_the_string_of_the_error() -> None:
    error = errors.UnknownAccount("unknown account A1")
    assert str(error) == "unknown account A1"
