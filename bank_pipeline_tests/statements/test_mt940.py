"""MT940: two independent parsers, `mt-940` and `bankstatementparser`, read back every balance and entry, and the
text keeps to SWIFT's rules."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import mt940
import pytest
from bankstatementparser.parsers.mt940 import Mt940Parser
from hypothesis import HealthCheck, assume, given, settings

from bank_pipeline.domain.money import format_amount
from bank_pipeline.domain.statements import Statement
from bank_pipeline.statements.formats.mt940 import render_mt940, swift_text
from bank_pipeline_tests.statements.samples import (
    JANUARY,
    account,
    empty_statement,
    january_statement,
    line,
    statements,
)

FEW = settings(max_examples=40, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
X_LINE = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]*")
FIELD_START = re.compile(r":(20|25|28C|60F|61|86|62F|64):")
STATEMENT_LINE = re.compile(
    r"(?P<value>\d{6})(?P<entry>\d{4})(?P<mark>[CD])(?P<amount>\d+,\d*)NTRF(?P<customer>.*)//(?P<bank>.*)"
)


def awkward_statement() -> Statement:
    """Overdrawn JPY account; texts that need transliterating, cutting, and protecting from looking like tags."""
    day = lambda d: datetime(2026, 1, d, 10, tzinfo=UTC)  # noqa: E731
    reference = "Müller & Söhne – Straße " + "a" * 29 + " :20:FAKE " + "b" * 53 + " -5 EUR //x// " + "€" * 80 + " end"
    return Statement(
        account=account(account_id="Konto Nr. 4711 / Zürich ÆØ", currency="JPY"),
        period=JANUARY,
        opening_balance=-5_000,
        lines=(
            line(day(5), "debit", 1_200, -6_200, 1, counterparty="Ærø Fiskehandel A/S", reference=reference),
            line(day(6), "credit", 700, -5_500, 2, counterparty=None, reference="//:-"),
        ),
        pending_holds=(),
        generated_at=datetime(2026, 2, 1, 3, tzinfo=UTC),
    )


SAMPLES = {
    "january": january_statement(),
    "january-jpy": january_statement(currency="JPY"),
    "empty": empty_statement(),
    "opened-later": empty_statement(opened_on=date(2026, 3, 1)),
    "awkward": awkward_statement(),
}


def fields(text: str) -> list[tuple[str, list[str]]]:
    """(tag, content lines) in order; the first line's content excludes the tag."""
    result: list[tuple[str, list[str]]] = []
    for text_line in text.split("\r\n"):
        if match := FIELD_START.match(text_line):
            result.append((match.group(1), [text_line[match.end() :]]))
        else:
            result[-1][1].append(text_line)
    return result


def major_units(minor_units: int, currency: str) -> Decimal:
    return Decimal(format_amount(minor_units, currency))


def parse(document: bytes) -> mt940.models.Transactions:
    transactions = mt940.models.Transactions()
    transactions.parse(document.decode("ascii"))
    return transactions


def assert_parser_reads(document: bytes, statement: Statement) -> None:
    read = parse(document)
    currency, period = statement.account.currency, statement.period
    balances = {
        name: (read.data[name].amount.amount, read.data[name].amount.currency, read.data[name].date)
        for name in ("final_opening_balance", "final_closing_balance", "available_balance")
    }
    closing_available = statement.closing_balance - statement.pending_hold_total
    assert balances == {
        "final_opening_balance": (major_units(statement.opening_balance, currency), currency, period.first_day),
        "final_closing_balance": (major_units(statement.closing_balance, currency), currency, period.last_day),
        "available_balance": (major_units(closing_available, currency), currency, period.last_day),
    }
    assert read.data["statement_number"] == str(statement.sequence_number)
    assert len(read) == len(statement.lines)
    for transaction, line_ in zip(read, statement.lines, strict=True):
        assert transaction.data["amount"].amount == major_units(line_.signed_amount, currency)
        assert transaction.data["status"] == ("C" if line_.direction == "credit" else "D")
        assert transaction.data["date"] == line_.value_date
        assert transaction.data["entry_date"] == line_.booking_date
        assert transaction.data["id"] == "NTRF"
        assert transaction.data["bank_reference"] == f"POS-{line_.global_position}"


def assert_swift_rules_hold(document: bytes) -> None:
    text = document.decode("ascii")
    assert text.endswith("\r\n-\r\n")
    assert "\n" not in text.replace("\r\n", "") and "\r" not in text.replace("\r\n", "")
    lines = text.split("\r\n")[:-2]
    assert all(X_LINE.fullmatch(text_line) for text_line in lines)
    for text_line in lines:
        # Only a field tag may start a line with ':'; '-' alone ends the message.
        assert not text_line.startswith("-")
        assert not text_line.startswith(":") or FIELD_START.match(text_line)
    parsed = fields("\r\n".join(lines))
    assert [tag for tag, _ in parsed[:4]] == ["20", "25", "28C", "60F"]
    for tag, content in parsed:
        if tag == "86":
            assert 1 <= len(content) <= 6 and all(len(text_line) <= 65 for text_line in content)
        else:
            assert len(content) == 1
        if tag == "20":
            assert 1 <= len(content[0]) <= 16
            assert not content[0].startswith("/") and not content[0].endswith("/") and "//" not in content[0]
        if tag == "25":
            assert 1 <= len(content[0]) <= 35
        if tag == "28C":
            assert re.fullmatch(r"\d{1,5}", content[0])
        if tag == "61":
            match = STATEMENT_LINE.fullmatch(content[0])
            assert match and len(match["amount"]) <= 15
            customer = match["customer"]
            assert 1 <= len(customer) <= 16 and "//" not in customer
            assert not customer.startswith("/") and not customer.endswith("/")
            assert 1 <= len(match["bank"]) <= 16
        if tag in ("60F", "62F", "64"):
            assert re.fullmatch(r"[CD]\d{6}[A-Z]{3}\d{1,14},\d*", content[0])


def assert_renders_faithfully(statement: Statement) -> None:
    document = render_mt940(statement)
    assert render_mt940(statement) == document
    assert_swift_rules_hold(document)
    assert_parser_reads(document, statement)


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_parse_back_and_keep_the_rules(name: str) -> None:
    assert_renders_faithfully(SAMPLES[name])


@FEW
@given(statements())
def test_any_statement_parses_back_and_keeps_the_rules(statement: Statement) -> None:
    assert_renders_faithfully(statement)


# bankstatementparser strips every line before reading it, so a :86: continuation that we shift right by a space to
# keep it from looking like a tag (" :20:FAKE", see awkward_statement) reads to it as that tag: a new statement.
SHIFTED_TAG = re.compile(rb"\r\n :(20|25|28C|60[FM]|61|62[FM]):")


def read_with_bankstatementparser(document: bytes) -> tuple[list[dict], list[dict]]:
    """Its statement summaries and entries (it reads only from a file, and only with an extension it knows)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "statement.sta"
        path.write_bytes(document)
        parser = Mt940Parser(path)
        return parser.get_summaries(), parser.parse().to_dict("records")


def assert_bankstatementparser_reads(statement: Statement) -> None:
    [summary], entries = read_with_bankstatementparser(render_mt940(statement))
    currency, lines = statement.account.currency, statement.lines
    assert (summary["opening_balance"], summary["closing_balance"]) == (
        major_units(statement.opening_balance, currency),
        major_units(statement.closing_balance, currency),
    )
    assert summary["currency"] == currency
    assert summary["statement_date"] == statement.period.last_day.isoformat()  # the last balance's date: :62F:
    assert summary["statement_id"] == str(statement.sequence_number)
    assert summary["transaction_count"] == len(entries) == len(lines)
    read = [(entry["amount"], entry["date"]) for entry in entries]
    assert read == [(major_units(line_.signed_amount, currency), line_.value_date.isoformat()) for line_ in lines]


@pytest.mark.parametrize("name", ["january", "january-jpy", "empty", "opened-later"])
def test_bankstatementparser_reads_the_samples(name: str) -> None:
    assert_bankstatementparser_reads(SAMPLES[name])


@settings(max_examples=30, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_bankstatementparser_reads_any_statement(statement: Statement) -> None:
    assume(not SHIFTED_TAG.search(render_mt940(statement)))
    assert_bankstatementparser_reads(statement)


def test_bankstatementparser_takes_a_shifted_tag_for_a_real_one() -> None:
    """The parser's quirk, pinned down: if this starts failing, drop SHIFTED_TAG and add "awkward" to the samples."""
    document = render_mt940(awkward_statement())
    assert SHIFTED_TAG.search(document)
    summaries, _ = read_with_bankstatementparser(document)
    assert [summary.get("message_id") for summary in summaries] == ["S260101-17A85AAF", "FAKE " + "b" * 53]


def test_the_january_statement() -> None:
    document = render_mt940(january_statement())
    assert document == render_mt940(january_statement())
    parsed = dict(fields(document.decode("ascii").removesuffix("\r\n-\r\n")))  # the last :86: wins: the notes
    assert parsed["25"] == ["DE89370400440532013000"]
    assert parsed["28C"] == ["8"]
    assert parsed["60F"] == ["C260101EUR1200,50"]
    assert parsed["62F"] == ["C260131EUR2581,07"]
    assert parsed["64"] == ["C260131EUR2551,07"]
    assert parsed["86"][-1] == "hold-77 30.00 card authorisation"
    assert b":61:2601170117D123,45NTRFStrom + Gas (Abs//POS-1015\r\n" in document
    assert b":86:External transfer tr-000015\r\nCounterparty DE02100100100006820101\r\n" in document

    read = parse(document)
    assert read[0].data["customer_reference"] == "Salary January"
    assert read[0].data["transaction_details"].splitlines() == [
        "External transfer tr-000012", "Counterparty DE44500105175407324931", "Reference Salary January",
    ]  # fmt: skip
    # The parser files the statement-level :86: (pending holds) under the last entry; the file has it after :64:.
    assert read[-1].data["transaction_details"].splitlines()[-1] == "hold-77 30.00 card authorisation"


def test_jpy_amounts_carry_a_bare_decimal_comma() -> None:
    document = render_mt940(january_statement(currency="JPY"))
    assert b":60F:C260101JPY120050,\r\n" in document
    assert b"C1,NTRFZinsen//POS-1016" in document


def test_texts_are_transliterated_cut_and_kept_from_looking_like_tags() -> None:
    document = render_mt940(awkward_statement())
    parsed = fields(document.decode("ascii").removesuffix("\r\n-\r\n"))
    assert parsed[1] == ("25", ["Konto Nr. 4711 / Zurich AEO"])
    debit_line, debit_details = parsed[4][1][0], parsed[5][1]
    assert debit_line.endswith("NTRFMuller + Sohne -//POS-1001")
    assert debit_details == [
        "External transfer tr-000001",
        "Counterparty AEro Fiskehandel A/S",
        "Reference Muller + Sohne - Strasse " + "a" * 29,
        " :20:FAKE " + "b" * 53,  # shifted: a line starting with ':' would read as a field tag
        " -5 EUR //x// end",
    ]
    assert parsed[6][1][0].endswith("C700,NTRF:-//POS-1002")


def test_swift_text_keeps_only_the_x_character_set() -> None:
    assert swift_text('Straße 5, Büro #3 <Süd> "A&B"\t\n€ ½') == "Strasse 5, Buro 3 (Sud) 'A+B' 12"
    assert swift_text(None) == ""


def test_details_stop_at_six_lines() -> None:
    day = datetime(2026, 1, 5, tzinfo=UTC)
    statement = Statement(
        account=account(), period=JANUARY, opening_balance=0,
        lines=(line(day, "credit", 1, 1, 1, reference="word " * 200),), pending_holds=(), generated_at=day,
    )  # fmt: skip
    [(tag, details)] = [field for field in fields(render_mt940(statement).decode("ascii")) if field[0] == "86"]
    assert len(details) == 6 and details[-1].startswith("word")
