"""Reading landing files into normalised text records: every kind, line numbers, legacy mapping, damaged files."""

import datetime as dt
import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest
import sepaxml

from bank_pipeline.ingest.landing import (
    ACCOUNT_COLUMNS,
    CUSTOMER_COLUMNS,
    LEGACY_TRANSACTION_COLUMNS,
    TRANSACTION_COLUMNS,
)
from bank_pipeline.ingest.reading import RECORD_COLUMNS, read_landing_file
from bank_pipeline.ingest.reading_csv import CUT_OFF
from bank_pipeline_tests.ingest.landing_files import write_csv

ADA = "DE89370400440532013000"
BOB = "DE44500105175407324931"
OUTSIDE = "GB82WEST12345698765432"
FRENCH = "FR1420041010050500013M02606"
CAMT = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"


# -- writing small landing files ------------------------------------------------------------------------------


def transaction(record_id: str, kind: str = "salary", *, account: str = ADA, counterparty: str = "",
                name: str = "ACME Ltd", amount: str = "1250", currency: str = "EUR",
                at: str = "2026-03-01T09:30:00+00:00", reference: str = "") -> tuple:  # fmt: skip
    return (record_id, at, kind, account, counterparty, name, amount, currency, reference or f"ref {record_id}")


def write_transactions(directory: Path, rows: list[tuple]) -> Path:
    return write_csv(directory / "transactions_v2_20260301_0001.csv", TRANSACTION_COLUMNS, rows)


def write_pain001(directory: Path, payments: list[dict], debtor_iban: str = ADA) -> Path:
    """A real pain.001.001.09 written by sepaxml (the upstream system's library)."""
    config = {"name": "Ada Lovelace", "IBAN": debtor_iban, "BIC": "COBADEFFXXX", "batch": True, "currency": "EUR"}
    transfer = sepaxml.SepaTransfer(config, schema="pain.001.001.09")
    for payment in payments:
        transfer.add_payment(dict(payment))
    path = directory / "pain001_v1_20260301_0001.xml"
    path.write_bytes(transfer.export(validate=True, pretty_print=True))
    return path


def payment(end_to_end_id: str, amount: int, *, name: str = "Bob Builder", iban: str = FRENCH,
            description: str = "Invoice 7", day: dt.date = dt.date(2026, 3, 2)) -> dict:  # fmt: skip
    return {"name": name, "IBAN": iban, "amount": amount, "execution_date": day, "description": description,
            "endtoend_id": end_to_end_id}  # fmt: skip


def camt_entry(reference: str, direction: str, amount: str, *, end_to_end_id: str | None = None,
               counterparty_iban: str | None = OUTSIDE, counterparty_name: str | None = "Bob Builder",
               remittance: str | None = "Invoice 7", return_reason: str | None = None, status: str = "BOOK",
               currency: str = "EUR", booked_at: str = "2026-03-01T16:00:00+01:00") -> dict:  # fmt: skip
    return dict(locals())


def write_camt054(directory: Path, notifications: dict[str, list[dict]], message_id: str = "CAMT-MSG-1") -> Path:
    """A camt.054.001.08 notification: one Ntfctn per (our) account IBAN, entries in the given order."""
    ET.register_namespace("", CAMT)

    def add(parent: ET.Element, path: str, text: str | None = None, **attributes: str) -> ET.Element:
        element = parent
        for step in path.split("/"):
            element = ET.SubElement(element, f"{{{CAMT}}}{step}")
        element.text = text
        element.attrib.update(attributes)
        return element

    document = ET.Element(f"{{{CAMT}}}Document")
    message = add(document, "BkToCstmrDbtCdtNtfctn")
    add(message, "GrpHdr/MsgId", message_id)
    for account, entries in notifications.items():
        notification = add(message, "Ntfctn")
        add(notification, "Id", f"N-{account}")
        add(notification, "Acct/Id/IBAN", account)
        for entry in entries:
            ntry = add(notification, "Ntry")
            add(ntry, "Amt", entry["amount"], Ccy=entry["currency"])
            add(ntry, "CdtDbtInd", entry["direction"])
            add(ntry, "Sts/Cd", entry["status"])
            add(ntry, "BookgDt/DtTm", entry["booked_at"])
            add(ntry, "AcctSvcrRef", entry["reference"])
            details = add(ntry, "NtryDtls/TxDtls")
            if entry["end_to_end_id"] is not None:
                add(details, "Refs/EndToEndId", entry["end_to_end_id"])
            party, account_element = ("Dbtr", "DbtrAcct") if entry["direction"] == "CRDT" else ("Cdtr", "CdtrAcct")
            parties = add(details, "RltdPties")
            if entry["counterparty_name"] is not None:
                add(parties, f"{party}/Pty/Nm", entry["counterparty_name"])
            if entry["counterparty_iban"] is not None:
                add(parties, f"{account_element}/Id/IBAN", entry["counterparty_iban"])
            if entry["remittance"] is not None:
                add(details, "RmtInf/Ustrd", entry["remittance"])
            if entry["return_reason"] is not None:
                add(details, "RtrInf/Rsn/Cd", entry["return_reason"])
    path = directory / "camt054_v1_20260301_0001.xml"
    ET.ElementTree(document).write(path, encoding="utf-8", xml_declaration=True)
    return path


def rows(path: Path) -> list[dict]:
    parsed = read_landing_file(path)
    assert parsed.unreadable is None
    return parsed.records.to_dicts()


# -- CSV kinds ---------------------------------------------------------------------------------------------------


def test_customers_parse_to_their_columns_with_line_numbers(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "customers_v1_20260301_0001.csv",
        CUSTOMER_COLUMNS,
        [("ada", "Ada Lovelace", "ada@example.org", "12 St James's Sq, London", "verified"),
         ("bob", "Bob", "bob@example.org", "", "pending")],
    )  # fmt: skip

    parsed = read_landing_file(path)

    assert parsed.records.columns == ["line", *CUSTOMER_COLUMNS]
    assert parsed.records.schema == pl.Schema({"line": pl.Int64, **dict.fromkeys(CUSTOMER_COLUMNS, pl.String)})
    assert parsed.records.to_dicts() == [
        {"line": 2, "customer_id": "ada", "name": "Ada Lovelace", "email": "ada@example.org",
         "address": "12 St James's Sq, London", "kyc_status": "verified"},
        {"line": 3, "customer_id": "bob", "name": "Bob", "email": "bob@example.org", "address": None,
         "kyc_status": "pending"},
    ]  # fmt: skip
    assert parsed.landing.kind == "customers"
    assert parsed.content_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert parsed.row_problems == {}


def test_accounts_keep_every_value_as_received_text(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "accounts_v1_20260301_0001.csv",
        ACCOUNT_COLUMNS,
        [(ADA, "ada", "EUR", "current", "007"), (BOB, "bob", "EUR", "savings", "1e3")],
    )

    assert rows(path) == [
        {"line": 2, "account_id": ADA, "customer_id": "ada", "currency": "EUR", "product": "current",
         "overdraft_limit": "007"},
        {"line": 3, "account_id": BOB, "customer_id": "bob", "currency": "EUR", "product": "savings",
         "overdraft_limit": "1e3"},
    ]  # fmt: skip


def test_header_columns_may_come_in_any_order(tmp_path: Path) -> None:
    columns = tuple(reversed(CUSTOMER_COLUMNS))
    path = write_csv(tmp_path / "customers_v1_20260301_0001.csv", columns, [("verified", "A", "a@x.org", "Ann", "c1")])

    assert rows(path) == [
        {"line": 2, "customer_id": "c1", "name": "Ann", "email": "a@x.org", "address": "A", "kyc_status": "verified"}
    ]


def test_line_numbers_count_physical_lines_across_quoted_line_breaks_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "transactions_v2_20260301_0001.csv"
    path.write_text(
        ",".join(TRANSACTION_COLUMNS) + "\n"
        f'T1,2026-03-01T09:30:00+00:00,salary,{ADA},,"ACME, Inc.",1250,EUR,"two\nlines"\n'
        "\n"
        f"T2,2026-03-01T09:31:00Z,card_payment,{ADA},,Shop,99,EUR,\n"
    )

    records = rows(path)

    assert [(record["line"], record["record_id"]) for record in records] == [(2, "T1"), (5, "T2")]
    assert records[0]["counterparty_name"] == "ACME, Inc."
    assert records[0]["reference"] == "two\nlines"
    assert records[1]["reference"] is None and records[1]["counterparty_account"] is None


def test_malformed_values_survive_untouched_for_validation(tmp_path: Path) -> None:
    path = write_transactions(tmp_path, [transaction("T1", amount="12,3x", at="yesterday", currency="eur")])

    record = rows(path)[0]

    assert (record["amount"], record["booked_at"], record["currency"]) == ("12,3x", "yesterday", "eur")


# -- legacy transactions v1 --------------------------------------------------------------------------------------


def test_legacy_v1_maps_onto_v2_values_exactly(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "transactions_v1_20260301_0001.csv",
        LEGACY_TRANSACTION_COLUMNS,
        [
            ("L1", "2026-03-01 09:30:00", "SALARY", ADA, "", "ACME Ltd", "12.50", "EUR", "March pay"),
            ("L2", "2026-03-01 23:59:59", "P2P", ADA, BOB, "", "0.05", "EUR", ""),
            ("L3", "2026-03-02 00:00:00", "CARD", ADA, "", "Shop", "1234567.8", "EUR", "coffee"),
            ("L4", "2026-03-02 00:00:01", "BILL", ADA, "", "Power Co", "007.00", "EUR", "bill"),
            ("L5", "2026-03-02 00:00:02", "CARD", ADA, "", "Tokyo Shop", "1500", "JPY", "sushi"),
        ],
    )

    parsed = read_landing_file(path)

    assert parsed.records.columns == ["line", *TRANSACTION_COLUMNS]
    assert parsed.records.to_dicts() == [
        {"line": 2, "record_id": "L1", "booked_at": "2026-03-01T09:30:00+00:00", "type": "salary",
         "account_id": ADA, "counterparty_account": None, "counterparty_name": "ACME Ltd", "amount": "1250",
         "currency": "EUR", "reference": "March pay"},
        {"line": 3, "record_id": "L2", "booked_at": "2026-03-01T23:59:59+00:00", "type": "p2p_transfer",
         "account_id": ADA, "counterparty_account": BOB, "counterparty_name": None, "amount": "5",
         "currency": "EUR", "reference": None},
        {"line": 4, "record_id": "L3", "booked_at": "2026-03-02T00:00:00+00:00", "type": "card_payment",
         "account_id": ADA, "counterparty_account": None, "counterparty_name": "Shop", "amount": "123456780",
         "currency": "EUR", "reference": "coffee"},
        {"line": 5, "record_id": "L4", "booked_at": "2026-03-02T00:00:01+00:00", "type": "bill_payment",
         "account_id": ADA, "counterparty_account": None, "counterparty_name": "Power Co", "amount": "700",
         "currency": "EUR", "reference": "bill"},
        {"line": 6, "record_id": "L5", "booked_at": "2026-03-02T00:00:02+00:00", "type": "card_payment",
         "account_id": ADA, "counterparty_account": None, "counterparty_name": "Tokyo Shop", "amount": "1500",
         "currency": "JPY", "reference": "sushi"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("amount", "currency", "time", "txn_type"),
    [
        ("12,50", "EUR", "2026-02-30 10:00:00", "XFER"),  # decimal comma; no 30 February; unknown code
        ("-12.50", "EUR", "2026-03-01T10:00:00", "salary"),  # negative; already ISO; a v2 name is no legacy code
        ("12.505", "EUR", "2026-03-01 24:00:00", "P2P "),  # three decimals; no hour 24; trailing space
        ("0.00", "EUR", "01/03/2026 10:00:00", ""),  # zero; another date format; empty
        ("12.5", "JPY", "2026-03-01 10:00", "Card"),  # yen have no decimals; no seconds; wrong case
        ("12.50", "XYZ", "", "BILL2"),  # unknown currency: no exponent to convert by
        ("1.2.3", "EUR", " 2026-03-01 10:00:00", "SALARY\n"),  # two points; leading space; line break
    ],
)
def test_legacy_values_that_do_not_convert_stay_as_received(
    tmp_path: Path, amount: str, currency: str, time: str, txn_type: str
) -> None:
    path = write_csv(
        tmp_path / "transactions_v1_20260301_0001.csv",
        LEGACY_TRANSACTION_COLUMNS,
        [("L1", time, txn_type, ADA, "", "ACME", amount, currency, "")],
    )

    record = rows(path)[0]

    assert (record["amount"], record["booked_at"], record["type"]) == (amount, time or None, txn_type or None)


# -- truncated and unreadable CSV --------------------------------------------------------------------------------


def test_a_truncated_csv_keeps_its_partial_last_row_with_its_line_number(tmp_path: Path) -> None:
    whole = write_transactions(tmp_path, [transaction("T1"), transaction("T2", amount="123456")]).read_bytes()
    path = tmp_path / "transactions_v2_20260301_0002.csv"
    path.write_bytes(whole[: whole.rindex(b",EUR,")])  # cut right after T2's amount

    parsed = read_landing_file(path)

    assert parsed.unreadable is None
    assert parsed.records.select("line", "record_id", "amount", "currency", "reference").rows() == [
        (2, "T1", "1250", "EUR", "ref T1"),
        (3, "T2", "123456", None, None),
    ]
    assert parsed.row_problems == {
        1: ["row: has 7 of the 9 fields the header names; the missing ones are read as empty", CUT_OFF]
    }
    assert CUT_OFF == (
        "row: the file ends inside this row (no line break after it), so it may be cut off; the file looks truncated"
    )


def test_a_row_cut_inside_its_last_field_is_flagged_although_it_has_every_field(tmp_path: Path) -> None:
    whole = write_transactions(tmp_path, [transaction("T1", reference="Invoice 2026-001")]).read_bytes()
    path = tmp_path / "transactions_v2_20260301_0002.csv"
    path.write_bytes(whole[: whole.index(b"-001")])

    parsed = read_landing_file(path)

    assert parsed.records.select("line", "reference").rows() == [(2, "Invoice 2026")]
    assert list(parsed.row_problems) == [0]
    assert "truncated" in parsed.row_problems[0][0]


def test_a_truncated_csv_cut_inside_a_quoted_value_or_a_character_still_yields_the_row(tmp_path: Path) -> None:
    quoted = tmp_path / "transactions_v2_20260301_0001.csv"
    quoted.write_bytes((",".join(TRANSACTION_COLUMNS) + f'\nT1,2026-03-01T09:30:00Z,salary,{ADA},,"ACME, Inc').encode())
    accented = tmp_path / "customers_v1_20260301_0001.csv"
    accented.write_bytes((",".join(CUSTOMER_COLUMNS) + "\nc1,Zoë").encode()[:-1])  # half of the two-byte ë

    assert read_landing_file(quoted).records.select("line", "counterparty_name", "amount").rows() == [
        (2, "ACME, Inc", None)
    ]
    assert read_landing_file(accented).records.select("line", "name").rows() == [(2, "Zo")]
    assert list(read_landing_file(accented).row_problems) == [0]


def test_a_row_with_more_fields_than_the_header_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "customers_v1_20260301_0001.csv"
    path.write_text(",".join(CUSTOMER_COLUMNS) + "\nc1,Ann,a@x.org,1 Main St, Springfield,verified\n")

    parsed = read_landing_file(path)

    assert parsed.records.select("line", "address", "kyc_status").rows() == [(2, "1 Main St", " Springfield")]
    assert parsed.row_problems == {0: ["row: has 6 fields but the header names 5; a value may hold an unquoted comma"]}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty: not even a header line"),
        (b"record_id,amount\nT1,5\n",
         "the CSV header is 'record_id,amount', expected 'record_id,booked_at,type,account_id,counterparty_account,"
         "counterparty_name,amount,currency,reference' (missing booked_at, type, account_id, counterparty_account, "
         "counterparty_name, currency, reference)"),
        (b"T1,2026-03-01T09:30:00Z,salary,DE89370400440532013000,,ACME,1250,EUR,ref\n",
         "the CSV header is 'T1,2026-03-01T09:30:00Z,salary,DE89370400440532013000,,ACME,1250,EUR,ref', expected "
         "'record_id,booked_at,type,account_id,counterparty_account,counterparty_name,amount,currency,reference' "
         "(missing record_id, booked_at, type, account_id, counterparty_account, counterparty_name, amount, currency, "
         "reference; unknown T1, 2026-03-01T09:30:00Z, salary, DE89370400440532013000, , ACME, 1250, EUR, ref)"),
        (b"\xff\xfeheader\n", "the file is not UTF-8 text: undecodable byte at offset 0"),
    ],
)  # fmt: skip
def test_a_csv_without_the_expected_header_is_unreadable(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "transactions_v2_20260301_0001.csv"
    path.write_bytes(content)

    parsed = read_landing_file(path)

    assert parsed.unreadable == reason
    assert parsed.records.height == 0
    assert parsed.records.columns == ["line", *TRANSACTION_COLUMNS]


def test_a_header_without_rows_is_an_empty_file_not_an_unreadable_one(tmp_path: Path) -> None:
    parsed = read_landing_file(write_transactions(tmp_path, []))

    assert parsed.unreadable is None
    assert parsed.records.height == 0
    assert parsed.records.columns == ["line", *TRANSACTION_COLUMNS]


def test_a_name_that_is_no_landing_file_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_COLUMNS, [])

    with pytest.raises(ValueError, match="not a landing file name"):
        read_landing_file(path)


# -- Parquet -----------------------------------------------------------------------------------------------------


def test_parquet_columns_become_text_in_the_csv_form(tmp_path: Path) -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    frame = pl.DataFrame(
        {
            "record_id": ["P1", "P2", "P3"],
            "booked_at": pl.Series(
                [dt.datetime(2026, 3, 1, 10, 30, tzinfo=berlin),
                 dt.datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=dt.UTC), None],
                dtype=pl.Datetime("us", "Europe/Berlin"),
            ),
            "type": ["salary", "p2p_transfer", "card_payment"],
            "account_id": [ADA, ADA, ADA],
            "counterparty_account": [None, BOB, ""],
            "counterparty_name": ["ACME", None, "Shop"],
            "amount": pl.Series([1250, 5, None], dtype=pl.Int64),
            "currency": ["EUR", "EUR", "EUR"],
            "reference": ["pay", None, "coffee"],
        }
    )  # fmt: skip
    path = tmp_path / "transactions_v2_20260301_0001.parquet"
    frame.write_parquet(path)

    parsed = read_landing_file(path)

    assert parsed.records.schema == pl.Schema({"line": pl.Int64, **dict.fromkeys(TRANSACTION_COLUMNS, pl.String)})
    assert parsed.records.select("line", "booked_at", "counterparty_account", "amount").rows() == [
        (1, "2026-03-01T09:30:00+00:00", None, "1250"),
        (2, "2026-03-01T12:00:00.250+00:00", BOB, "5"),
        (3, None, None, None),
    ]


def test_parquet_times_without_a_zone_stay_without_one_and_floats_stay_floats(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {name: ["x"] for name in TRANSACTION_COLUMNS}
        | {"booked_at": [dt.datetime(2026, 3, 1, 10, 30)], "amount": [12.5]}
    )
    path = tmp_path / "transactions_v2_20260301_0001.parquet"
    frame.write_parquet(path)

    assert read_landing_file(path).records.select("booked_at", "amount").rows() == [("2026-03-01T10:30:00", "12.5")]


def test_a_truncated_parquet_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "transactions_v2_20260301_0001.parquet"
    pl.DataFrame({name: ["x"] * 100 for name in TRANSACTION_COLUMNS}).write_parquet(path)
    path.write_bytes(path.read_bytes()[:-40])

    parsed = read_landing_file(path)

    assert parsed.unreadable.startswith("not a readable Parquet file (truncated or damaged?): ")
    assert parsed.records.height == 0


def test_a_parquet_file_with_other_columns_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "transactions_v2_20260301_0001.parquet"
    pl.DataFrame({name: ["x"] for name in TRANSACTION_COLUMNS if name != "reference"} | {"memo": ["y"]}).write_parquet(
        path
    )

    assert read_landing_file(path).unreadable == (
        "the Parquet columns are 'record_id,booked_at,type,account_id,counterparty_account,counterparty_name,amount,"
        "currency,memo', expected 'record_id,booked_at,type,account_id,counterparty_account,counterparty_name,"
        "amount,currency,reference' (missing reference; unknown memo)"
    )


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (
            pl.Series([[1, 2]]),
            "the Parquet column amount holds List(Int64) values, not single values that read as text",
        ),
        (pl.Series([b"\x00"]), "the Parquet column amount holds Binary values, not single values that read as text"),
    ],
)
def test_a_parquet_column_of_values_that_are_not_text_makes_the_file_unreadable(
    tmp_path: Path, values: pl.Series, reason: str
) -> None:
    path = tmp_path / "transactions_v2_20260301_0001.parquet"
    pl.DataFrame({name: ["x"] for name in TRANSACTION_COLUMNS}).with_columns(amount=values).write_parquet(path)

    assert read_landing_file(path).unreadable == reason


# -- pain.001 ----------------------------------------------------------------------------------------------------


def test_a_pain001_written_by_sepaxml_parses_to_minor_units_and_ids(tmp_path: Path) -> None:
    path = write_pain001(
        tmp_path,
        [
            payment("PAY-1", 1250),
            payment("PAY-2", 5, name="Zoë Café", iban=OUTSIDE, description="Tip", day=dt.date(2026, 3, 3)),
            payment("PAY-3", 123456789, description="Car"),
        ],
    )
    message_id = ET.parse(path).getroot().findtext("{*}CstmrCdtTrfInitn/{*}GrpHdr/{*}MsgId")

    parsed = read_landing_file(path)

    assert parsed.records.columns == ["line", *RECORD_COLUMNS["pain001"]]
    # sepaxml groups a batch by execution date, so the file order is 2 March (PAY-1, PAY-3) then 3 March.
    assert parsed.records.to_dicts() == [
        {"line": 1, "record_id": "PAY-1", "message_id": message_id, "account_id": ADA, "creditor_iban": FRENCH,
         "creditor_name": "Bob Builder", "amount": "1250", "currency": "EUR", "reference": "Invoice 7",
         "requested_execution_date": "2026-03-02"},
        {"line": 2, "record_id": "PAY-3", "message_id": message_id, "account_id": ADA, "creditor_iban": FRENCH,
         "creditor_name": "Bob Builder", "amount": "123456789", "currency": "EUR", "reference": "Car",
         "requested_execution_date": "2026-03-02"},
        {"line": 3, "record_id": "PAY-2", "message_id": message_id, "account_id": ADA, "creditor_iban": OUTSIDE,
         "creditor_name": "Zoe Cafe", "amount": "5", "currency": "EUR", "reference": "Tip",
         "requested_execution_date": "2026-03-03"},
    ]  # fmt: skip
    assert message_id


def test_a_malformed_pain001_amount_stays_as_received(tmp_path: Path) -> None:
    path = write_pain001(tmp_path, [payment("PAY-1", 1250)])
    path.write_bytes(path.read_bytes().replace(b">12.50<", b">12.505<"))

    assert rows(path)[0]["amount"] == "12.505"


def test_a_pain001_without_namespace_is_read_too(tmp_path: Path) -> None:
    path = write_pain001(tmp_path, [payment("PAY-1", 1250)])
    path.write_bytes(path.read_bytes().replace(b' xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"', b""))

    assert [(row["record_id"], row["amount"]) for row in rows(path)] == [("PAY-1", "1250")]


# -- camt.054 ----------------------------------------------------------------------------------------------------


def test_camt054_credit_and_debit_entries_with_and_without_a_return_reason(tmp_path: Path) -> None:
    path = write_camt054(
        tmp_path,
        {
            ADA: [
                camt_entry("C-1", "CRDT", "25.00", end_to_end_id="THEIR-E2E"),
                camt_entry("C-2", "DBIT", "12.50", end_to_end_id="PAY-1", counterparty_iban=FRENCH,
                           counterparty_name="Bob Builder", remittance=None),
            ],
            BOB: [
                camt_entry("C-3", "DBIT", "0.05", end_to_end_id="PAY-2", return_reason="AC04", status="BOOK",
                           booked_at="2026-03-01T17:00:00Z"),
            ],
        },
    )  # fmt: skip

    parsed = read_landing_file(path)

    assert parsed.records.columns == ["line", *RECORD_COLUMNS["camt054"]]
    assert parsed.records.to_dicts() == [
        {"line": 1, "record_id": "C-1", "message_id": "CAMT-MSG-1", "account_id": ADA, "direction": "CRDT",
         "status": "BOOK", "end_to_end_id": "THEIR-E2E", "amount": "2500", "currency": "EUR",
         "counterparty_iban": OUTSIDE, "counterparty_name": "Bob Builder", "reference": "Invoice 7",
         "return_reason": None, "booked_at": "2026-03-01T16:00:00+01:00"},
        {"line": 2, "record_id": "C-2", "message_id": "CAMT-MSG-1", "account_id": ADA, "direction": "DBIT",
         "status": "BOOK", "end_to_end_id": "PAY-1", "amount": "1250", "currency": "EUR",
         "counterparty_iban": FRENCH, "counterparty_name": "Bob Builder", "reference": None,
         "return_reason": None, "booked_at": "2026-03-01T16:00:00+01:00"},
        {"line": 3, "record_id": "C-3", "message_id": "CAMT-MSG-1", "account_id": BOB, "direction": "DBIT",
         "status": "BOOK", "end_to_end_id": "PAY-2", "amount": "5", "currency": "EUR",
         "counterparty_iban": OUTSIDE, "counterparty_name": "Bob Builder", "reference": "Invoice 7",
         "return_reason": "AC04", "booked_at": "2026-03-01T17:00:00Z"},
    ]  # fmt: skip
    assert parsed.row_problems == {}


def test_a_camt054_entry_with_several_transactions_is_flagged(tmp_path: Path) -> None:
    path = write_camt054(tmp_path, {ADA: [camt_entry("C-1", "CRDT", "25.00"), camt_entry("C-2", "CRDT", "1.00")]})
    text = path.read_text()
    second_entry = text.index("<Ntry>", text.index("<Ntry>") + 1)
    details_end = text.index("</TxDtls>", second_entry) + len("</TxDtls>")
    details = text[text.index("<TxDtls>", second_entry) : details_end]
    path.write_text(text[:details_end] + details + text[details_end:])

    assert read_landing_file(path).row_problems == {
        1: ["entry: holds 2 transactions (TxDtls); only single-transaction entries are read"]
    }


# -- unreadable XML ----------------------------------------------------------------------------------------------


def test_xml_that_is_not_well_formed_is_unreadable(tmp_path: Path) -> None:
    path = write_camt054(tmp_path, {ADA: [camt_entry("C-1", "CRDT", "25.00")]})
    path.write_bytes(path.read_bytes()[:-30])

    parsed = read_landing_file(path)

    assert parsed.unreadable.startswith("not well-formed XML (truncated or damaged?): ")
    assert "line" in parsed.unreadable
    assert parsed.records.columns == ["line", *RECORD_COLUMNS["camt054"]] and parsed.records.height == 0


def test_a_message_of_another_type_is_unreadable(tmp_path: Path) -> None:
    camt = write_camt054(tmp_path, {ADA: [camt_entry("C-1", "CRDT", "25.00")]})
    path = tmp_path / "pain001_v1_20260301_0001.xml"
    path.write_bytes(camt.read_bytes())

    assert read_landing_file(path).unreadable == (
        "not a pain.001 customer credit transfer initiation: expected Document/CstmrCdtTrfInitn, "
        "found Document holding BkToCstmrDbtCdtNtfctn"
    )


def test_xml_with_a_document_type_declaration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "camt054_v1_20260301_0001.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>'
    )

    assert read_landing_file(path).unreadable == (
        "the XML declares a document type (DOCTYPE), which ISO 20022 messages never do; refused"
    )
