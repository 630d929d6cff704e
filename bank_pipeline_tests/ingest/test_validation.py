"""Validating parsed landing files: exact failing rows and reasons per rule family, nothing failing on clean data.

Each rule family is checked with one file holding a clean row per case with one value changed, so a test asserts
the exact row and reason of every case (and that no rule fires on another row) in a single validation run.
"""

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from bank_pipeline.ingest.landing import (
    ACCOUNT_COLUMNS,
    CUSTOMER_COLUMNS,
    LEGACY_TRANSACTION_COLUMNS,
    TRANSACTION_COLUMNS,
)
from bank_pipeline.ingest.reading import read_landing_file
from bank_pipeline.ingest.reading_csv import CUT_OFF
from bank_pipeline.ingest.validation import Validation, validate
from bank_pipeline_tests.ingest.test_reading import (
    ADA,
    BOB,
    FRENCH,
    OUTSIDE,
    camt_entry,
    payment,
    transaction,
    write_camt054,
    write_csv,
    write_pain001,
    write_transactions,
)

NULL = "expect_column_values_to_not_be_null"
REGEX = "expect_column_values_to_match_regex"
IN_SET = "expect_column_values_to_be_in_set"
NOT_IN_SET = "expect_column_values_to_not_be_in_set"
IBAN_CHECK = "iban_check_digits_are_valid"
TIME_CHECK = "time_is_a_real_calendar_time"

ID_RULE = "must be an id: 1 to 64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
IBAN_RULE = "must be an IBAN: country letters, 2 check digits, 11 to 30 capitals or digits, no spaces"
AMOUNT_RULE = "must be a positive integer of minor units (at most 16 digits, no sign or decimals)"
CURRENCY_RULE = "must be a supported currency (CHF, CZK, DKK, EUR, GBP, JPY, NOK, PLN, SEK, USD)"
TIME_RULE = "must be an ISO 8601 date and time with a zone, e.g. 2026-03-01T09:30:00+00:00"
BAD_CHECK_DIGITS = "DE89370400440532013001"
CHECK_DIGITS_REASON = "must be a valid IBAN (Invalid checksum digits)"

Case = tuple[str, str, str, str]  # column, bad value, the reason expected, the expectation expected to fail


def validated(path: Path) -> Validation:
    return validate(read_landing_file(path))


def failing_expectations(validation: Validation) -> Counter:
    return Counter({(e.expectation, e.column): e.unexpected_count for e in validation.expectations if not e.success})


def one_bad_value_per_row(base: list[str], columns: tuple[str, ...], cases: list[Case]) -> list[list[str]]:
    rows = []
    for column, value, _, _ in cases:
        row = list(base)
        row[columns.index(column)] = value
        rows.append(row)
    return rows


def assert_each_case_fails_alone(validation: Validation, cases: list[Case], clean_rows: int) -> None:
    assert validation.failures == {row: [reason] for row, (_, _, reason, _) in enumerate(cases)}
    assert validation.passed_rows == clean_rows
    assert failing_expectations(validation) == Counter((expectation, column) for column, _, _, expectation in cases)


# -- clean files of every kind -----------------------------------------------------------------------------------

CUSTOMERS = [
    ["ada", "Ada Lovelace", "ada@example.org", "12 St James's Sq", "verified"],
    ["bob", "Bob Builder", "bob@example.co.uk", "1 High St", "pending"],
    ["cy", "Cy", "cy@example.org", "2 Low St", "rejected"],
]
ACCOUNTS = [
    [ADA, "ada", "EUR", "current", "5000"],
    [BOB, "bob", "GBP", "savings", "0"],
    [OUTSIDE, "cy", "JPY", "current", "0"],
]
TRANSACTIONS = [
    list(transaction("T1", "salary", name="ACME Ltd")),
    list(transaction("T2", "p2p_transfer", counterparty=BOB, name="", amount="5")),
    list(transaction("T3", "card_payment", name="Shop", amount="123456", at="2026-03-01T23:59:59.123Z")),
    list(transaction("T4", "bill_payment", name="", amount="1", currency="JPY", at="2026-03-01T10:00:00-05:30")),
]
LEGACY_TRANSACTIONS = [
    ["L1", "2026-03-01 09:30:00", "SALARY", ADA, "", "ACME Ltd", "12.50", "EUR", "pay"],
    ["L2", "2026-03-01 09:31:00", "P2P", ADA, BOB, "", "0.05", "EUR", ""],
    ["L3", "2026-03-01 09:32:00", "CARD", ADA, "", "Shop", "7", "EUR", ""],
    ["L4", "2026-03-01 09:33:00", "BILL", ADA, "", "Power Co", "1500", "JPY", ""],
]


def customers(directory: Path, rows: list[list[str]] = CUSTOMERS) -> Path:
    return write_csv(directory / "customers_v1_20260301_0001.csv", CUSTOMER_COLUMNS, rows)


def accounts(directory: Path, rows: list[list[str]] = ACCOUNTS) -> Path:
    return write_csv(directory / "accounts_v1_20260301_0001.csv", ACCOUNT_COLUMNS, rows)


def transactions(directory: Path, rows: list[list[str]] = TRANSACTIONS) -> Path:
    return write_transactions(directory, rows)


def legacy_transactions(directory: Path, rows: list[list[str]] = LEGACY_TRANSACTIONS) -> Path:
    return write_csv(directory / "transactions_v1_20260301_0001.csv", LEGACY_TRANSACTION_COLUMNS, rows)


def pain001(directory: Path) -> Path:
    return write_pain001(directory, [payment("PAY-1", 1250), payment("PAY-2", 5, iban=OUTSIDE)])


def camt054(directory: Path) -> Path:
    return write_camt054(
        directory,
        {
            ADA: [camt_entry("C-1", "CRDT", "25.00", end_to_end_id=None),
                  camt_entry("C-2", "DBIT", "12.50", end_to_end_id="PAY-1", counterparty_iban=FRENCH)],
            BOB: [camt_entry("C-3", "DBIT", "0.05", end_to_end_id="PAY-2", return_reason="AC04", status="RJCT"),
                  camt_entry("C-4", "DBIT", "1.00", end_to_end_id="PAY-3", counterparty_iban=None,
                             counterparty_name=None)],
        },
    )  # fmt: skip


@pytest.mark.parametrize(
    ("write", "suite", "rows"),
    [
        (customers, "customers_v1", 3),
        (accounts, "accounts_v1", 3),
        (transactions, "transactions_v2", 4),
        (legacy_transactions, "transactions_v1", 4),
        (pain001, "pain001_v1", 2),
        (camt054, "camt054_v1", 4),
    ],
)
def test_clean_files_of_every_kind_fail_nothing(tmp_path: Path, write, suite: str, rows: int) -> None:
    validation = validated(write(tmp_path))

    assert (validation.suite, validation.rows, validation.passed_rows) == (suite, rows, rows)
    assert validation.failures == {}
    assert failing_expectations(validation) == Counter()
    assert validation.expectations and all(result.description for result in validation.expectations)


def test_the_report_names_each_expectation_with_its_column_and_what_it_checks(tmp_path: Path) -> None:
    validation = validated(transactions(tmp_path))

    by_rule = {(result.expectation, result.column): result.description for result in validation.expectations}
    assert by_rule[("row_is_complete", None)] == (
        "every record was read whole: all its fields present, not cut off by the end of the file"
    )
    assert by_rule[(NULL, "counterparty_account")] == "counterparty_account is present when type is p2p_transfer"
    assert by_rule[(REGEX, "amount")] == (
        "amount is a positive integer of minor units (at most 16 digits, no sign or decimals)"
    )
    assert by_rule[(IN_SET, "type")] == "type is one of salary, card_payment, bill_payment, p2p_transfer"
    assert by_rule[(IBAN_CHECK, "counterparty_account")] == (
        "counterparty_account has valid IBAN check digits and national format (checked outside GX)"
    )
    assert by_rule[(TIME_CHECK, "booked_at")] == "booked_at is a real calendar date and time (checked outside GX)"
    assert not any(expectation == "expect_column_values_to_be_unique" for expectation, _ in by_rule)


# -- transactions v2 ---------------------------------------------------------------------------------------------

TRANSACTION_CASES: list[Case] = [
    ("record_id", "", "record_id: is required but missing", NULL),
    ("record_id", "bad id!", f"record_id: {ID_RULE}, got 'bad id!'", REGEX),
    ("record_id", "-T2", f"record_id: {ID_RULE}, got '-T2'", REGEX),
    ("booked_at", "", "booked_at: is required but missing", NULL),
    ("booked_at", "2026-03-01T09:30:00", f"booked_at: {TIME_RULE}, got '2026-03-01T09:30:00'", REGEX),
    ("booked_at", "2026-03-01 09:30:00+00:00", f"booked_at: {TIME_RULE}, got '2026-03-01 09:30:00+00:00'", REGEX),
    ("booked_at", "2026-03-01T25:61:00+01:00", f"booked_at: {TIME_RULE}, got '2026-03-01T25:61:00+01:00'", REGEX),
    ("booked_at", "01.03.2026 08:15", f"booked_at: {TIME_RULE}, got '01.03.2026 08:15'", REGEX),
    ("booked_at", "yesterday", f"booked_at: {TIME_RULE}, got 'yesterday'", REGEX),
    ("booked_at", "2026-02-30T09:30:00Z",
     "booked_at: must be a real calendar date and time, got '2026-02-30T09:30:00Z'", TIME_CHECK),
    ("type", "", "type: is required but missing", NULL),
    ("type", "refund", "type: must be one of salary, card_payment, bill_payment, p2p_transfer, got 'refund'", IN_SET),
    ("account_id", "", "account_id: is required but missing", NULL),
    ("account_id", "DE89 3704 0044 0532 0130 00", f"account_id: {IBAN_RULE}, got 'DE89 3704 0044 0532 0130 00'",
     REGEX),
    ("account_id", BAD_CHECK_DIGITS, f"account_id: {CHECK_DIGITS_REASON}, got '{BAD_CHECK_DIGITS}'", IBAN_CHECK),
    ("counterparty_account", "", "counterparty_account: is required when type is p2p_transfer but missing", NULL),
    ("counterparty_account", "bob", f"counterparty_account: {IBAN_RULE}, got 'bob'", REGEX),
    ("amount", "", "amount: is required but missing", NULL),
    ("amount", "12,3x", f"amount: {AMOUNT_RULE}, got '12,3x'", REGEX),
    ("amount", "0", f"amount: {AMOUNT_RULE}, got '0'", REGEX),
    ("amount", "-5", f"amount: {AMOUNT_RULE}, got '-5'", REGEX),
    ("amount", "12.50", f"amount: {AMOUNT_RULE}, got '12.50'", REGEX),
    ("amount", "EUR 10", f"amount: {AMOUNT_RULE}, got 'EUR 10'", REGEX),
    ("amount", "1e3", f"amount: {AMOUNT_RULE}, got '1e3'", REGEX),
    ("amount", "05", f"amount: {AMOUNT_RULE}, got '05'", REGEX),
    ("amount", "5\n", f"amount: {AMOUNT_RULE}, got '5\\n'", REGEX),
    ("amount", "12345678901234567", f"amount: {AMOUNT_RULE}, got '12345678901234567'", REGEX),
    ("amount", "9" * 200, f"amount: {AMOUNT_RULE}, got '{'9' * 77}...'", REGEX),  # long values are shortened
    ("currency", "", "currency: is required but missing", NULL),
    ("currency", "eur", f"currency: {CURRENCY_RULE}, got 'eur'", IN_SET),
    ("currency", "XAU", f"currency: {CURRENCY_RULE}, got 'XAU'", IN_SET),
]  # fmt: skip


def test_each_bad_transaction_value_fails_its_row_with_a_reason_naming_column_and_rule(tmp_path: Path) -> None:
    p2p = TRANSACTIONS[1]
    rows = one_bad_value_per_row(p2p, TRANSACTION_COLUMNS, TRANSACTION_CASES) + TRANSACTIONS

    validation = validated(transactions(tmp_path, rows))

    assert validation.suite == "transactions_v2"
    assert_each_case_fails_alone(validation, TRANSACTION_CASES, clean_rows=len(TRANSACTIONS))


def test_only_a_p2p_transfer_needs_a_counterparty_account(tmp_path: Path) -> None:
    rows = [list(transaction(f"T{kind}", kind)) for kind in ("salary", "card_payment", "bill_payment", "p2p_transfer")]

    validation = validated(transactions(tmp_path, rows))

    assert validation.failures == {3: ["counterparty_account: is required when type is p2p_transfer but missing"]}


def test_a_row_with_several_bad_values_gets_all_its_reasons_in_suite_order(tmp_path: Path) -> None:
    rows = [list(transaction("T1", amount="x", name="")), list(transaction("", "gift", currency="eur", amount="7"))]

    validation = validated(transactions(tmp_path, rows))

    assert validation.failures == {
        0: [f"amount: {AMOUNT_RULE}, got 'x'"],
        1: ["record_id: is required but missing",
            "type: must be one of salary, card_payment, bill_payment, p2p_transfer, got 'gift'",
            f"currency: {CURRENCY_RULE}, got 'eur'"],
    }  # fmt: skip
    assert (validation.rows, validation.passed_rows) == (2, 0)


def test_a_record_id_repeated_within_the_file_is_no_failure(tmp_path: Path) -> None:
    path = write_transactions(tmp_path, [transaction("T1"), transaction("T1"), transaction("T2")])

    assert validated(path).failures == {}


def test_failing_rows_are_found_by_position_in_a_large_file(tmp_path: Path) -> None:
    rows = [transaction(f"T{number}", amount=str(number + 1)) for number in range(20_000)]
    for bad in (0, 12_345, 19_999):
        rows[bad] = transaction(f"T{bad}", amount="0")

    validation = validated(write_transactions(tmp_path, rows))

    assert validation.failures == {bad: [f"amount: {AMOUNT_RULE}, got '0'"] for bad in (0, 12_345, 19_999)}
    assert validation.passed_rows == 19_997


# -- truncated and unreadable files ------------------------------------------------------------------------------


def test_the_cut_off_last_row_of_a_truncated_csv_fails_with_its_line(tmp_path: Path) -> None:
    whole = transactions(tmp_path).read_bytes()
    path = tmp_path / "transactions_v2_20260301_0002.csv"
    path.write_bytes(whole[: whole.rindex(b",JPY,")])
    parsed = read_landing_file(path)

    validation = validate(parsed)

    assert parsed.records["line"][3] == 5
    assert validation.failures == {
        3: ["row: has 7 of the 9 fields the header names; the missing ones are read as empty", CUT_OFF,
            "currency: is required but missing"]
    }  # fmt: skip
    assert failing_expectations(validation) == Counter({("row_is_complete", None): 1, (NULL, "currency"): 1})


def test_a_cut_off_row_whose_values_all_look_valid_still_fails(tmp_path: Path) -> None:
    whole = transactions(tmp_path).read_bytes()
    path = tmp_path / "transactions_v2_20260301_0002.csv"
    path.write_bytes(whole[: whole.rindex(b"T4") + 1])  # the reference "ref T4" cut to "ref T"

    assert validated(path).failures == {3: [CUT_OFF]}


def test_a_file_with_a_header_only_passes_with_no_rows(tmp_path: Path) -> None:
    validation = validated(transactions(tmp_path, []))

    assert (validation.rows, validation.passed_rows, validation.failures) == (0, 0, {})
    assert failing_expectations(validation) == Counter()


def test_an_unreadable_file_has_no_rows_to_judge(tmp_path: Path) -> None:
    path = tmp_path / "camt054_v1_20260301_0001.xml"
    path.write_text("<Document><BkToCstmrDbtCdtNtfctn>")

    validation = validated(path)

    assert (validation.suite, validation.rows, validation.failures, validation.expectations) == (
        "camt054_v1", 0, {}, ()
    )  # fmt: skip


# -- customers and accounts --------------------------------------------------------------------------------------

NOT_REPEATED = " (the value is personal data and not repeated here)"  # a personal value is never quoted in a reason
CUSTOMER_CASES: list[Case] = [
    ("customer_id", "", "customer_id: is required but missing", NULL),
    ("customer_id", "bob smith", f"customer_id: {ID_RULE}, got 'bob smith'", REGEX),
    ("name", "", "name: is required but missing", NULL),
    ("name", "   ", f"name: must not be blank{NOT_REPEATED}", REGEX),
    ("email", "", "email: is required but missing", NULL),
    ("email", "bob.example.org", f"email: must be an e-mail address (name@domain.tld){NOT_REPEATED}", REGEX),
    ("email", "bob@localhost", f"email: must be an e-mail address (name@domain.tld){NOT_REPEATED}", REGEX),
    ("address", "", "address: is required but missing", NULL),
    ("kyc_status", "", "kyc_status: is required but missing", NULL),
    ("kyc_status", "VERIFIED", "kyc_status: must be one of verified, pending, rejected, got 'VERIFIED'", IN_SET),
]


def test_each_bad_customer_value_fails_its_row(tmp_path: Path) -> None:
    rows = one_bad_value_per_row(CUSTOMERS[0], CUSTOMER_COLUMNS, CUSTOMER_CASES) + CUSTOMERS

    assert_each_case_fails_alone(validated(customers(tmp_path, rows)), CUSTOMER_CASES, clean_rows=len(CUSTOMERS))


ACCOUNT_CASES: list[Case] = [
    ("account_id", "", "account_id: is required but missing", NULL),
    ("account_id", "acc-1", f"account_id: {IBAN_RULE}, got 'acc-1'", REGEX),
    ("account_id", BAD_CHECK_DIGITS, f"account_id: {CHECK_DIGITS_REASON}, got '{BAD_CHECK_DIGITS}'", IBAN_CHECK),
    ("customer_id", "", "customer_id: is required but missing", NULL),
    ("customer_id", "ada lovelace", f"customer_id: {ID_RULE}, got 'ada lovelace'", REGEX),
    ("currency", "", "currency: is required but missing", NULL),
    ("currency", "BTC", f"currency: {CURRENCY_RULE}, got 'BTC'", IN_SET),
    ("product", "", "product: is required but missing", NULL),
    ("product", "loan", "product: must be one of current, savings, got 'loan'", IN_SET),
    ("overdraft_limit", "", "overdraft_limit: is required but missing", NULL),
    ("overdraft_limit", "-100", "overdraft_limit: must be a non-negative integer of minor units, got '-100'", REGEX),
    ("overdraft_limit", "50.00", "overdraft_limit: must be a non-negative integer of minor units, got '50.00'", REGEX),
]


def test_each_bad_account_value_fails_its_row(tmp_path: Path) -> None:
    rows = one_bad_value_per_row(ACCOUNTS[0], ACCOUNT_COLUMNS, ACCOUNT_CASES) + ACCOUNTS

    assert_each_case_fails_alone(validated(accounts(tmp_path, rows)), ACCOUNT_CASES, clean_rows=len(ACCOUNTS))


# -- legacy transactions v1 --------------------------------------------------------------------------------------

LEGACY_AMOUNT_RULE = "must be a positive legacy amount in major units with at most the currency's decimals, e.g. 12.50"
LEGACY_TIME_RULE = "must be a real time as a legacy booking_time 'YYYY-MM-DD HH:MM:SS' (UTC)"
LEGACY_CASES: list[Case] = [
    ("amount", "12,50", f"amount: {LEGACY_AMOUNT_RULE}, got '12,50'", REGEX),
    ("amount", "0.001", f"amount: {LEGACY_AMOUNT_RULE}, got '0.001'", REGEX),
    ("amount", "0.00", f"amount: {LEGACY_AMOUNT_RULE}, got '0.00'", REGEX),
    ("amount", "-12.50", f"amount: {LEGACY_AMOUNT_RULE}, got '-12.50'", REGEX),
    ("amount", "1.234,56", f"amount: {LEGACY_AMOUNT_RULE}, got '1.234,56'", REGEX),
    ("amount", "1e3", f"amount: {LEGACY_AMOUNT_RULE}, got '1e3'", REGEX),
    ("booking_time", "2026-02-30 10:00:00", f"booked_at: {LEGACY_TIME_RULE}, got '2026-02-30 10:00:00'", REGEX),
    ("booking_time", "2026-03-01T10:00:00", f"booked_at: {LEGACY_TIME_RULE}, got '2026-03-01T10:00:00'", REGEX),
    # an ISO time, even with its zone, is not what the legacy export writes
    (
        "booking_time",
        "2026-03-01T08:15:00+01:00",
        f"booked_at: {LEGACY_TIME_RULE}, got '2026-03-01T08:15:00+01:00'",
        REGEX,
    ),
    ("booking_time", "2026-03-01 25:61:00", f"booked_at: {LEGACY_TIME_RULE}, got '2026-03-01 25:61:00'", REGEX),
    ("booking_time", "2026/03/01 08:15", f"booked_at: {LEGACY_TIME_RULE}, got '2026/03/01 08:15'", REGEX),
    ("txn_type", "XFER", "type: must be a legacy txn_type code (SALARY, CARD, BILL, P2P), got 'XFER'", IN_SET),
    ("counter_iban", "", "counterparty_account: is required when type is p2p_transfer but missing", NULL),
]


def test_each_bad_legacy_value_fails_in_the_legacy_export_terms(tmp_path: Path) -> None:
    p2p = LEGACY_TRANSACTIONS[1]
    rows = one_bad_value_per_row(p2p, LEGACY_TRANSACTION_COLUMNS, LEGACY_CASES) + LEGACY_TRANSACTIONS
    # the cases name the legacy columns; the failures name the normalised ones
    cases = [(_normalised(column), value, reason, rule) for column, value, reason, rule in LEGACY_CASES]

    validation = validated(legacy_transactions(tmp_path, rows))

    assert validation.suite == "transactions_v1"
    assert_each_case_fails_alone(validation, cases, clean_rows=len(LEGACY_TRANSACTIONS))


def _normalised(legacy_column: str) -> str:
    return TRANSACTION_COLUMNS[LEGACY_TRANSACTION_COLUMNS.index(legacy_column)]


# -- pain.001 ----------------------------------------------------------------------------------------------------


def test_pain001_rules(tmp_path: Path) -> None:
    path = write_pain001(
        tmp_path,
        [
            payment("PAY-1", 1250),
            payment("NOTPROVIDED", 5),
            payment("PAY 3", 6),
            payment("PAY-4", 7, iban=BAD_CHECK_DIGITS),
            payment("PAY-5", 9, name="   "),
            payment("PAY-6", 11, day=dt.date(2026, 3, 9)),
            payment("PAY-7", 12, day=dt.date(2026, 3, 10)),
        ],
    )
    xml = path.read_bytes().replace(b"<Dt>2026-03-09</Dt>", b"<Dt>9 March 2026</Dt>")
    path.write_bytes(xml.replace(b'<InstdAmt Ccy="EUR">0.12</InstdAmt>', b'<InstdAmt Ccy="EUR">0,12</InstdAmt>'))

    validation = validated(path)

    # sepaxml groups the batch by execution date: 2 March (PAY-1 ... PAY-5), 9 March, 10 March.
    assert validation.failures == {
        1: ["record_id: must not be NOTPROVIDED (a placeholder cannot identify a transfer), got 'NOTPROVIDED'"],
        2: [f"record_id: {ID_RULE}, got 'PAY 3'"],
        3: [f"creditor_iban: {CHECK_DIGITS_REASON}, got '{BAD_CHECK_DIGITS}'"],
        4: ["creditor_name: is required but missing"],  # sepaxml writes "   " as an element holding blanks
        5: ["requested_execution_date: must be a date YYYY-MM-DD, got '9 March 2026'"],
        6: [f"amount: {AMOUNT_RULE}, got '0,12'"],
    }
    assert failing_expectations(validation)[(NOT_IN_SET, "record_id")] == 1


# -- camt.054 ----------------------------------------------------------------------------------------------------

CAMT_CASES: list[tuple[dict, list[str]]] = [
    ({"end_to_end_id": None}, ["end_to_end_id: is required when direction is DBIT but missing"]),
    ({"end_to_end_id": "PAY 2"}, ["end_to_end_id: must be an id of one of our transfers: 1 to 64 letters, digits, "
                                  "'_', '.', ':' or '-', got 'PAY 2'"]),
    ({"direction": "CRDT", "counterparty_iban": None, "counterparty_name": None},
     ["counterparty_iban: is required when direction is CRDT but missing",
      "counterparty_name: is required when direction is CRDT but missing"]),
    ({"direction": "XFER"}, ["direction: must be one of CRDT, DBIT, got 'XFER'"]),
    ({"status": "PDNG"}, ["status: must be one of BOOK, RJCT, got 'PDNG'"]),
    ({"amount": "0.00"}, [f"amount: {AMOUNT_RULE}, got '0.00'"]),
    ({"amount": "1.234"}, [f"amount: {AMOUNT_RULE}, got '1.234'"]),
    # without a known currency the amount cannot be converted to minor units either
    ({"currency": "XXX"}, [f"amount: {AMOUNT_RULE}, got '0.05'", f"currency: {CURRENCY_RULE}, got 'XXX'"]),
    ({"return_reason": "because"},
     ["return_reason: must be an ISO 20022 return reason code of 4 capitals or digits, got 'because'"]),
    ({"booked_at": "2026-03-01"}, [f"booked_at: {TIME_RULE}, got '2026-03-01'"]),
    ({"reference": "C 3"}, [f"record_id: {ID_RULE}, got 'C 3'"]),
    ({"counterparty_iban": "NL91ABNA0417164301"},
     [f"counterparty_iban: {CHECK_DIGITS_REASON}, got 'NL91ABNA0417164301'"]),
]  # fmt: skip


def test_camt054_rules(tmp_path: Path) -> None:
    clean_debit = camt_entry("C-0", "DBIT", "0.05", end_to_end_id="PAY-2", return_reason="AC04")
    entries = [clean_debit | changes for changes, _ in CAMT_CASES] + [clean_debit]

    validation = validated(write_camt054(tmp_path, {ADA: entries[:5], BOB: entries[5:]}))

    assert validation.failures == {row: reasons for row, (_, reasons) in enumerate(CAMT_CASES)}
    assert validation.passed_rows == 1
