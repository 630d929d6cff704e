"""The PDF statement: what a reader finds in it, how it paginates, and that its bytes depend on the statement only."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from pypdf import PdfReader

from bank_pipeline.domain.money import format_amount
from bank_pipeline.domain.statements import PendingHold, Statement
from bank_pipeline.statements.formats.pdf import fit, render_pdf
from bank_pipeline.statements.issuer import BANK
from bank_pipeline_tests.statements.samples import (
    JANUARY,
    account,
    empty_statement,
    january_statement,
    line,
    statements,
)


def pdf_text(document: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)


def statement_with_lines(count: int, opening: int = 50_000, **account_changes) -> Statement:
    """`count` entries spread over January, alternating a credit and a larger debit: a long one ends overdrawn."""
    lines, balance = [], opening
    for number in range(1, count + 1):
        direction, amount = ("credit", 1_000 + number) if number % 2 else ("debit", 2_500 + 7 * number)
        balance += amount if direction == "credit" else -amount
        when = JANUARY.start + timedelta(minutes=number * 360 - 1)
        lines.append(line(when, direction, amount, balance, number, reference=f"Payment {number}"))
    return Statement(
        account=account(**account_changes),
        period=JANUARY,
        opening_balance=opening,
        lines=tuple(lines),
        pending_holds=(),
        generated_at=datetime(2026, 2, 1, 3, 4, 5, tzinfo=UTC),
    )


def test_the_statement_shows_the_account_the_period_the_balances_and_every_amount():
    statement = january_statement()
    text = pdf_text(render_pdf(statement))

    for expected in (
        BANK.name, "Erika Mustermann", "DE89370400440532013000", "EUR", "current", "2026-01-01", "2026-01-31",
        "No. 8", "2026-02-01 00:00:05 UTC",
        "Opening balance on 2025-12-31", "1200.50", "Closing balance on 2026-01-31", "2581.07 EUR",
        "Totals: 3 debits, 2 credits", "2500.01", "1119.44", "Page 1 of 1",
    ):  # fmt: skip
        assert expected in text, expected
    for statement_line in statement.lines:
        assert format_amount(statement_line.amount, "EUR") in text
        assert format_amount(statement_line.balance_after, "EUR") in text
    assert "Salary January" in text and "Internal transfer" in text


def test_pending_holds_and_their_total_appear():
    text = pdf_text(render_pdf(january_statement()))

    assert "Pending holds at the end of the period" in text
    assert "hold-77" in text and "card authorisation" in text and "2026-02-06 00:00" in text
    assert "Total of 1 pending hold" in text and "30.00" in text


def test_notes_appear_and_an_empty_period_says_so():
    statement = empty_statement(opened_on=datetime(2026, 3, 1).date())
    text = pdf_text(render_pdf(statement))

    assert "Notes" in text and statement.notes()[0][:40] in text
    assert "No entries in this period." in text
    assert "Pending holds" not in text


def test_a_long_statement_runs_over_pages_with_the_column_header_on_each():
    statement = statement_with_lines(120)
    reader = PdfReader(io.BytesIO(render_pdf(statement)))
    pages = [page.extract_text() for page in reader.pages]
    text = "\n".join(pages)

    assert len(pages) > 1
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert "Booking date" in page and "Balance (EUR)" in page
    for statement_line in statement.lines:
        assert f"Payment {statement_line.stream_version}" in text
        assert format_amount(statement_line.amount, "EUR") in text
        assert format_amount(statement_line.balance_after, "EUR") in text
    assert statement.closing_balance < 0 and format_amount(statement.closing_balance, "EUR") + " EUR" in pages[0]


def test_a_typical_month_fits_on_one_page():
    statement = replace(statement_with_lines(30), pending_holds=january_statement().pending_holds)

    assert len(PdfReader(io.BytesIO(render_pdf(statement))).pages) == 1


def test_the_metadata_names_the_statement_and_dates_it_by_the_statement_not_the_clock():
    statement = january_statement()
    metadata = PdfReader(io.BytesIO(render_pdf(statement))).metadata

    assert metadata.title == "DE89370400440532013000-2026-01"
    assert metadata.author == BANK.name
    assert "2026-01-01" in metadata.subject and "DE89370400440532013000" in metadata.subject
    assert metadata.creator == "bank_pipeline statements"
    assert metadata.creation_date == statement.generated_at


def test_the_same_statement_renders_the_same_bytes():
    first = render_pdf(january_statement())

    assert render_pdf(january_statement()) == first
    assert render_pdf(january_statement(customer_name="Max Mustermann")) != first


def test_a_fresh_process_renders_the_same_bytes():
    code = (
        "import sys; from bank_pipeline.statements.formats.pdf import render_pdf; "
        "from bank_pipeline_tests.statements.samples import january_statement; "
        "sys.stdout.buffer.write(render_pdf(january_statement()))"
    )
    repository = Path(__file__).resolve().parents[2]
    fresh = subprocess.run(
        [sys.executable, "-c", code], cwd=repository, capture_output=True, check=True, timeout=60
    ).stdout

    assert fresh == render_pdf(january_statement())


def test_text_the_font_cannot_draw_is_replaced_not_fatal():
    hold = PendingHold("hold-☃", 500, "Kartenzahlung 北京\u200b", JANUARY.first_day, JANUARY.end)
    statement = replace(
        statement_with_lines(3, customer_name="Łukasz Dvořák 🏦\nZürich"),
        pending_holds=(hold,),
    )
    text = pdf_text(render_pdf(statement))

    assert "?ukasz Dvorák ? Zürich" in text
    assert "Kartenzahlung ??" in text


@pytest.mark.parametrize("currency", ["JPY", "CHF"])
def test_the_currency_names_the_money_columns(currency):
    statement = january_statement(currency=currency)
    text = pdf_text(render_pdf(statement))

    assert f"Debit ({currency})" in text and f"Balance ({currency})" in text
    assert f"{format_amount(statement.closing_balance, currency)} {currency}" in text


def test_long_text_is_cut_to_its_column_with_an_ellipsis():
    reference = "Monthly instalment for the kitchen renovation, contract 2025/0042-A, second of twelve"
    statement = replace(
        statement_with_lines(1), lines=(replace(statement_with_lines(1).lines[0], reference=reference),)
    )
    text = pdf_text(render_pdf(statement))

    assert "Monthly instalment for the" in text and reference not in text and "…" in text
    assert fit(reference, "Helvetica", 8, 100).endswith("…")
    assert fit("Rent", "Helvetica", 8, 100) == "Rent"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_any_statement_renders(statement):
    document = render_pdf(statement)

    assert document.startswith(b"%PDF")
    assert len(PdfReader(io.BytesIO(document)).pages) >= 1
