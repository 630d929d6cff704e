"""What a valid record of each landing kind looks like: one suite of rules per kind and schema version.

The rules are plain data; validation_gx.py turns each into a Great Expectations expectation. A value rule
(regex, set) lets a null pass, so a missing value gets exactly one reason: the `required` rule's.
"""

from dataclasses import dataclass

from bank_pipeline.domain.money import CURRENCY_EXPONENTS
from bank_pipeline.domain.personal_data import PERSONAL_FIELDS
from bank_pipeline.ingest.landing import LEGACY_TRANSACTION_TYPES, TRANSACTION_TYPES

# Python `re` (what GX's pandas engine uses): \Z is the true end of text, where $ would allow a final "\n".
ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z"  # bank_pipeline.domain.streams
IBAN = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\Z"
AMOUNT = r"^[1-9][0-9]{0,15}\Z"
NON_NEGATIVE_INTEGER = r"^(?:0|[1-9][0-9]{0,15})\Z"
_DATE = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
DATE = rf"^{_DATE}\Z"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
ZONED_TIME = rf"^{_DATE}T{_TIME}:[0-5][0-9](?:\.[0-9]{{1,9}})?(?:Z|[+-]{_TIME})\Z"
#: what reading makes of a legacy booking_time it could convert; anything else there is as received, so invalid.
LEGACY_CONVERTED_TIME = rf"^{_DATE}T{_TIME}:[0-5][0-9]\+00:00\Z"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z"
NON_BLANK = r"\S"
RETURN_REASON_CODE = r"^[A-Z0-9]{4}\Z"  # ISO 20022 ExternalReturnReason1Code, e.g. AC01, AM04, MS03

CURRENCIES = tuple(sorted(CURRENCY_EXPONENTS))
KYC_STATUSES = ("verified", "pending", "rejected")
PRODUCTS = ("current", "savings")
DIRECTIONS = ("CRDT", "DBIT")
#: camt.054 entry statuses ingestion acts on: booked (settled or received) and rejected.
ENTRY_STATUSES = ("BOOK", "RJCT")
#: what sepaxml writes when the initiating party gave no EndToEndId: it cannot identify a transfer.
END_TO_END_PLACEHOLDERS = ("NOTPROVIDED",)


@dataclass(frozen=True)
class Rule:
    """One expectation on one column. `when` = (column, value) limits it to the rows where column == value."""

    expectation: str  # the Great Expectations expectation type
    column: str
    description: str  # what it checks, in words
    rule: str  # what a failing value breaks, completing "<column>: ..."
    regex: str | None = None
    values: tuple[str, ...] = ()
    when: tuple[str, str] | None = None

    def reason(self, value: str | None) -> str:
        if self.expectation == "expect_column_values_to_not_be_null":
            return f"{self.column}: {self.rule}"
        return failing_value_reason(self.column, self.rule, value)


def failing_value_reason(column: str, rule: str, value: str | None) -> str:
    """ "<column>: <rule>, got '<value>'", a long value shortened so that a reason stays readable. A personal
    field's value (a customer's name, email, address) is never quoted: the reason is stored in the quarantine
    and shown, and an erasure could not reach a copy of it inside a free text."""
    if column in PERSONAL_FIELDS:
        return f"{column}: {rule} (the value is personal data and not repeated here)"
    shown = value if value is None or len(value) <= 80 else value[:77] + "..."
    return f"{column}: {rule}, got {shown!r}"


def required(column: str, *, when: tuple[str, str] | None = None) -> Rule:
    condition = f" when {when[0]} is {when[1]}" if when else ""
    return Rule(
        "expect_column_values_to_not_be_null",
        column,
        f"{column} is present{condition}",
        f"is required{condition} but missing",
        when=when,
    )


def matches(column: str, regex: str, meaning: str, *, when: tuple[str, str] | None = None) -> Rule:
    condition = f" when {when[0]} is {when[1]}" if when else ""
    return Rule(
        "expect_column_values_to_match_regex",
        column,
        f"{column} {meaning}{condition}",
        _must(meaning),
        regex=regex,
        when=when,
    )


def _must(meaning: str) -> str:
    """ "is not blank" -> "must not be blank", "is an IBAN" -> "must be an IBAN"."""
    if meaning.startswith("is not "):
        return "must not be " + meaning.removeprefix("is not ")
    return "must be " + meaning.removeprefix("is ")


def one_of(column: str, values: tuple[str, ...], rule: str | None = None, description: str | None = None) -> Rule:
    listed = ", ".join(values)
    return Rule(
        "expect_column_values_to_be_in_set",
        column,
        description or f"{column} is one of {listed}",
        rule or f"must be one of {listed}",
        values=values,
    )


def none_of(column: str, values: tuple[str, ...], why: str) -> Rule:
    listed = ", ".join(values)
    return Rule(
        "expect_column_values_to_not_be_in_set",
        column,
        f"{column} is not {listed} ({why})",
        f"must not be {listed} ({why})",
        values=values,
    )


def _id(column: str) -> Rule:
    return matches(
        column, ID, "is an id: 1 to 64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
    )


def _iban(column: str) -> Rule:
    return matches(column, IBAN, "is an IBAN: country letters, 2 check digits, 11 to 30 capitals or digits, no spaces")


def _amount(column: str = "amount") -> Rule:
    return matches(column, AMOUNT, "is a positive integer of minor units (at most 16 digits, no sign or decimals)")


def _currency(column: str = "currency") -> Rule:
    return one_of(column, CURRENCIES, f"must be a supported currency ({', '.join(CURRENCIES)})")


def _zoned_time(column: str) -> Rule:
    return matches(column, ZONED_TIME, "is an ISO 8601 date and time with a zone, e.g. 2026-03-01T09:30:00+00:00")


def _non_blank(column: str, *, when: tuple[str, str] | None = None) -> Rule:
    return matches(column, NON_BLANK, "is not blank", when=when)


CUSTOMERS_V1 = (
    *(required(column) for column in ("customer_id", "name", "email", "address", "kyc_status")),
    _id("customer_id"),
    _non_blank("name"),
    matches("email", EMAIL, "is an e-mail address (name@domain.tld)"),
    _non_blank("address"),
    one_of("kyc_status", KYC_STATUSES),
)

ACCOUNTS_V1 = (
    *(required(column) for column in ("account_id", "customer_id", "currency", "product", "overdraft_limit")),
    _iban("account_id"),
    _id("customer_id"),
    _currency(),
    one_of("product", PRODUCTS),
    matches("overdraft_limit", NON_NEGATIVE_INTEGER, "is a non-negative integer of minor units"),
)

_TRANSACTION_REQUIRED = ("record_id", "booked_at", "type", "account_id", "amount", "currency")
P2P = ("type", "p2p_transfer")

TRANSACTIONS_V2 = (
    *(required(column) for column in _TRANSACTION_REQUIRED),
    required("counterparty_account", when=P2P),
    _id("record_id"),
    _zoned_time("booked_at"),
    one_of("type", TRANSACTION_TYPES),
    _iban("account_id"),
    _iban("counterparty_account"),
    _amount(),
    _currency(),
)

# v1 records arrive mapped onto v2's columns; a value the mapping could not convert stays as received, so the
# rules are v2's, worded in the legacy export's terms.
_LEGACY_CODES = ", ".join(LEGACY_TRANSACTION_TYPES)
TRANSACTIONS_V1 = (
    *(required(column) for column in _TRANSACTION_REQUIRED),
    required("counterparty_account", when=P2P),
    _id("record_id"),
    matches("booked_at", LEGACY_CONVERTED_TIME, "is a real time as a legacy booking_time 'YYYY-MM-DD HH:MM:SS' (UTC)"),
    one_of(
        "type",
        TRANSACTION_TYPES,
        f"must be a legacy txn_type code ({_LEGACY_CODES})",
        f"type is one of {', '.join(TRANSACTION_TYPES)}, mapped from the legacy txn_type codes {_LEGACY_CODES}",
    ),
    _iban("account_id"),
    _iban("counterparty_account"),
    matches(
        "amount",
        AMOUNT,
        "is a positive legacy amount in major units with at most the currency's decimals, e.g. 12.50",
    ),
    _currency(),
)

PAIN001_V1 = (
    *(
        required(column)
        for column in (
            "record_id",
            "message_id",
            "account_id",
            "creditor_iban",
            "creditor_name",
            "amount",
            "currency",
            "requested_execution_date",
        )
    ),  # fmt: skip
    _id("record_id"),
    none_of("record_id", END_TO_END_PLACEHOLDERS, "a placeholder cannot identify a transfer"),
    _iban("account_id"),
    _iban("creditor_iban"),
    _non_blank("creditor_name"),
    _amount(),
    _currency(),
    matches("requested_execution_date", DATE, "is a date YYYY-MM-DD"),
)

CREDIT = ("direction", "CRDT")
DEBIT = ("direction", "DBIT")
CAMT054_V1 = (
    *(
        required(column)
        for column in (
            "record_id",
            "message_id",
            "account_id",
            "direction",
            "status",
            "amount",
            "currency",
            "booked_at",
        )
    ),
    required("end_to_end_id", when=DEBIT),
    required("counterparty_iban", when=CREDIT),
    required("counterparty_name", when=CREDIT),
    _id("record_id"),
    _iban("account_id"),
    one_of("direction", DIRECTIONS),
    one_of("status", ENTRY_STATUSES),
    matches(
        "end_to_end_id",
        ID,
        "is an id of one of our transfers: 1 to 64 letters, digits, '_', '.', ':' or '-'",
        when=DEBIT,
    ),
    _amount(),
    _currency(),
    _iban("counterparty_iban"),
    _non_blank("counterparty_name", when=CREDIT),
    matches("return_reason", RETURN_REASON_CODE, "is an ISO 20022 return reason code of 4 capitals or digits"),
    _zoned_time("booked_at"),
)

#: suite name ("<kind>_v<schema version>") -> rules, in the order their reasons are listed.
SUITES: dict[str, tuple[Rule, ...]] = {
    "customers_v1": CUSTOMERS_V1,
    "accounts_v1": ACCOUNTS_V1,
    "transactions_v1": TRANSACTIONS_V1,
    "transactions_v2": TRANSACTIONS_V2,
    "pain001_v1": PAIN001_V1,
    "camt054_v1": CAMT054_V1,
}

#: columns holding IBANs, whose check digits are verified beyond their shape (outside GX, with schwifty).
IBAN_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers_v1": (),
    "accounts_v1": ("account_id",),
    "transactions_v1": ("account_id", "counterparty_account"),
    "transactions_v2": ("account_id", "counterparty_account"),
    "pain001_v1": ("account_id", "creditor_iban"),
    "camt054_v1": ("account_id", "counterparty_iban"),
}
#: columns of ISO 8601 times (dates) whose shape the regex checks but whose calendar (30 February) it cannot.
TIME_COLUMNS: dict[str, tuple[str, ...]] = {"transactions_v1": ("booked_at",), "transactions_v2": ("booked_at",),
                                            "camt054_v1": ("booked_at",)}  # fmt: skip
DATE_COLUMNS: dict[str, tuple[str, ...]] = {"pain001_v1": ("requested_execution_date",)}
