"""Why a command was refused, or why stored data cannot be read.

Every error carries a stable snake_case `code` (used by APIs and quarantine rows) and a message
that names the customer, account, transfer or amount involved.
"""


class DomainError(Exception):
    code: str = "domain_error"
    account_id: str | None = None  # the account a refusal is about, when it is about one


class InvalidCommand(DomainError):
    code = "invalid_command"


class UnsupportedCurrency(DomainError):
    code = "unsupported_currency"


class MalformedAmount(DomainError):
    code = "malformed_amount"


class NonPositiveAmount(DomainError):
    code = "non_positive_amount"


class UnknownCustomer(DomainError):
    code = "unknown_customer"


class CustomerAlreadyExists(DomainError):
    code = "customer_already_exists"


class CustomerClosed(DomainError):
    code = "customer_closed"


class CustomerErased(DomainError):
    """The customer's personal data was erased: nothing that records personal data may follow."""

    code = "customer_erased"


class UnknownLegalHold(DomainError):
    code = "unknown_legal_hold"


class LegalHoldAlreadyExists(DomainError):
    code = "legal_hold_already_exists"


class LegalHoldApplies(DomainError):
    """A legal hold forbids what was asked (erasure) while it is active."""

    code = "legal_hold_applies"


class AccountOfAnotherCustomer(DomainError):
    code = "account_of_another_customer"


class PersonalDataNotSealed(DomainError):
    """Some of the customer's personal data was recorded in plain text (before sealing existed, or by a bulk
    loader): destroying the key would not erase it, so erasure is refused rather than silently incomplete."""

    code = "personal_data_not_sealed"


class KycNotVerified(DomainError):
    code = "kyc_not_verified"


class UnknownAccount(DomainError):
    code = "unknown_account"


class AccountAlreadyExists(DomainError):
    code = "account_already_exists"


class AccountFrozen(DomainError):
    code = "account_frozen"


class AccountClosed(DomainError):
    code = "account_closed"


class AccountNotFrozen(DomainError):
    code = "account_not_frozen"


class AccountNotEmpty(DomainError):
    code = "account_not_empty"


class CurrencyMismatch(DomainError):
    code = "currency_mismatch"


class InsufficientFunds(DomainError):
    code = "insufficient_funds"


class SameAccountTransfer(DomainError):
    code = "same_account_transfer"


class UnknownHold(DomainError):
    code = "unknown_hold"


class DuplicateHold(DomainError):
    code = "duplicate_hold"


class UnknownTransfer(DomainError):
    code = "unknown_transfer"


class TransferAlreadyExists(DomainError):
    code = "transfer_already_exists"


class InvalidTransferState(DomainError):
    code = "invalid_transfer_state"


class HoldNotExpired(DomainError):
    code = "hold_not_expired"


class UnknownEventType(DomainError):
    code = "unknown_event_type"


class UnknownSchemaVersion(DomainError):
    code = "unknown_schema_version"


class InvalidStatementPeriod(DomainError):
    code = "invalid_statement_period"


class UnknownStatementFormat(DomainError):
    code = "unknown_statement_format"


class InconsistentStatement(DomainError):
    """The read model handed over lines whose balances do not add up: a projection defect, never user input."""

    code = "inconsistent_statement"
