"""The statement's own arithmetic and period rules, without a database: a statement whose lines do not chain
from its opening balance cannot be built, and periods outside the calendar or backwards are typed errors."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bank_pipeline.domain.errors import InconsistentStatement, InvalidStatementPeriod
from bank_pipeline.domain.statements import StatementPeriod, period_notes, statement_number
from bank_pipeline_tests.statements.samples import JANUARY, account, january_statement


def test_an_ordinary_month_adds_up() -> None:
    statement = january_statement()
    assert statement.opening_balance + statement.credits - statement.debits == statement.closing_balance
    assert (statement.credit_count, statement.debit_count, statement.entry_count) == (2, 3, 5)
    assert statement.closing_balance == statement.lines[-1].balance_after


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda lines: (lines[0], replace(lines[1], balance_after=lines[1].balance_after + 1), *lines[2:]),
         "says the balance is"),
        (lambda lines: (lines[0], replace(lines[1], occurred_at=lines[2].occurred_at + timedelta(hours=1)),
                        *lines[2:]), "out of business-time order"),
        (lambda lines: (*lines[:-1], replace(lines[-1], occurred_at=datetime(2026, 2, 1, tzinfo=UTC))),
         "is outside 2026-01"),
        (lambda lines: (replace(lines[0], amount=0), *lines[1:]), "has amount 0"),
    ],
    ids=["balance-does-not-chain", "out-of-order", "outside-the-period", "zero-amount"],
)  # fmt: skip
def test_a_statement_whose_lines_do_not_chain_cannot_be_built(corrupt, message) -> None:
    good = january_statement()
    with pytest.raises(InconsistentStatement, match=message):
        replace(good, lines=corrupt(good.lines))


def test_the_opening_balance_must_lead_to_the_first_line() -> None:
    with pytest.raises(InconsistentStatement, match="says the balance is"):
        replace(january_statement(), opening_balance=january_statement().opening_balance - 1)


@pytest.mark.parametrize(
    "first, last, message",
    [
        ("2026-02-01", "2026-01-31", "starts (2026-02-01) after it ends (2026-01-31)"),
        ("2026-02-30", "2026-03-01", "--from '2026-02-30' is not a date"),
        ("2026-01-01", "next week", "--to 'next week' is not a date"),
        ("0001-01-01", "2026-01-01", "lies between 1900-01-01 and 9998-12-31"),
        ("2026-01-01", "9999-12-31", "lies between 1900-01-01 and 9998-12-31"),
    ],
)
def test_bad_periods_are_typed_errors(first: str, last: str, message: str) -> None:
    with pytest.raises(InvalidStatementPeriod, match=message.replace("(", r"\(").replace(")", r"\)")):
        StatementPeriod.parse(first, last)


def test_periods_name_themselves_and_cover_whole_utc_days() -> None:
    assert JANUARY.label == "2026-01" and JANUARY.days == 31
    assert StatementPeriod.month(2024, 2).last_day == date(2024, 2, 29)
    assert StatementPeriod.month(2026, 12).end == datetime(2027, 1, 1, tzinfo=UTC)
    assert StatementPeriod(date(2026, 1, 5), date(2026, 2, 4)).label == "2026-01-05_2026-02-04"


def test_notes_and_numbers_follow_the_account_s_life() -> None:
    opened_in_it = account(opened_on=date(2026, 1, 10), closed_on=date(2026, 1, 20))
    assert period_notes(opened_in_it, JANUARY) == (
        "The account was opened on 2026-01-10, during this period.",
        "The account was closed on 2026-01-20, during this period.",
    )
    assert period_notes(account(opened_on=date(2025, 6, 3)), JANUARY) == ()
    assert statement_number(account(opened_on=date(2025, 6, 3)), JANUARY) == 8
    assert statement_number(account(opened_on=date(2026, 3, 1)), JANUARY) == 1
