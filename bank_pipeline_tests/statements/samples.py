"""Statements built in memory, for the format tests: no database needed to check how a statement renders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from bank_pipeline.domain.statements import (
    PendingHold,
    Statement,
    StatementAccount,
    StatementLine,
    StatementPeriod,
)

JANUARY = StatementPeriod.month(2026, 1)


def account(
    account_id: str = "DE89370400440532013000",
    currency: str = "EUR",
    opened_on: date = date(2025, 6, 3),
    closed_on: date | None = None,
    customer_name: str = "Erika Mustermann",
) -> StatementAccount:
    return StatementAccount(
        account_id=account_id,
        customer_id="cust-000001",
        customer_name=customer_name,
        currency=currency,
        product="current",
        opened_on=opened_on,
        closed_on=closed_on,
    )


def line(
    when: datetime,
    direction: str,
    amount: int,
    balance_after: int,
    version: int,
    *,
    counterparty: str | None = "DE02100100100006820101",
    reference: str | None = "Invoice 4711",
    flow: str = "external",
) -> StatementLine:
    return StatementLine(
        booking_date=when.date(),
        value_date=when.date(),
        direction=direction,  # type: ignore[arg-type]
        amount=amount,
        balance_after=balance_after,
        transfer_id=f"tr-{version:06d}",
        flow=flow,
        counterparty=counterparty,
        reference=reference,
        stream_version=version,
        global_position=1_000 + version,
        occurred_at=when,
        recorded_at=when + timedelta(seconds=2),
    )


def january_statement(**account_changes) -> Statement:
    """An ordinary month: salary in, rent and card payments out, one hold pending at the end."""
    day = lambda d, h=9: datetime(2026, 1, d, h, 0, tzinfo=UTC)  # noqa: E731
    lines = (
        line(day(2), "credit", 250_000, 370_050, 12, counterparty="DE44500105175407324931", reference="Salary January"),
        line(day(3), "debit", 95_000, 275_050, 13, counterparty="DE02100100100006820101", reference="Rent January"),
        line(day(3, 14), "debit", 4_599, 270_451, 14, counterparty=None, reference=None, flow="internal"),
        line(day(17), "debit", 12_345, 258_106, 15, reference='Strom & Gas <Abschlag> "Q1"'),
        line(day(31, 23), "credit", 1, 258_107, 16, reference="Zinsen"),
    )
    hold = PendingHold(
        hold_id="hold-77", amount=3_000, reason="card authorisation", placed_on=date(2026, 1, 30),
        expires_at=datetime(2026, 2, 6, tzinfo=UTC),
    )  # fmt: skip
    return Statement(
        account=account(**account_changes),
        period=JANUARY,
        opening_balance=120_050,
        lines=lines,
        pending_holds=(hold,),
        generated_at=datetime(2026, 2, 1, 0, 0, 5, tzinfo=UTC),
    )


def empty_statement(**account_changes) -> Statement:
    """No entries in the period (an account opened later, or a quiet month)."""
    return Statement(
        account=account(**account_changes),
        period=JANUARY,
        opening_balance=0,
        lines=(),
        pending_holds=(),
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=60)


@st.composite
def statements(draw, currencies=("EUR", "USD", "JPY", "CHF")) -> Statement:
    """Random statements: any currency, 0–60 lines, negative balances, awkward counterparty and reference text."""
    currency = draw(st.sampled_from(currencies))
    period = draw(st.sampled_from((JANUARY, StatementPeriod(date(2026, 2, 3), date(2026, 2, 3)),
                                   StatementPeriod(date(2025, 12, 15), date(2026, 3, 14)))))  # fmt: skip
    opening = draw(st.integers(-5_000_000, 50_000_000))
    count = draw(st.integers(0, 60))
    offsets = sorted(draw(st.lists(st.integers(0, period.days * 86_400 - 1), min_size=count, max_size=count)))
    balance, lines = opening, []
    for version, offset in enumerate(offsets, start=1):
        direction = draw(st.sampled_from(("credit", "debit")))
        amount = draw(st.integers(1, 10_000_000))
        balance += amount if direction == "credit" else -amount
        lines.append(
            line(
                period.start + timedelta(seconds=offset), direction, amount, balance, version,
                counterparty=draw(st.none() | _TEXT), reference=draw(st.none() | _TEXT),
                flow=draw(st.sampled_from(("internal", "external"))),
            )
        )  # fmt: skip
    holds = tuple(
        PendingHold(f"hold-{n}", draw(st.integers(1, 1_000_000)), draw(_TEXT), period.first_day,
                    period.end + timedelta(days=7))
        for n in range(draw(st.integers(0, 3)))
    )  # fmt: skip
    return Statement(
        account=account(currency=currency, customer_name=draw(_TEXT.filter(str.strip)) or "X"),
        period=period,
        opening_balance=opening,
        lines=tuple(lines),
        pending_holds=holds,
        generated_at=period.end + timedelta(hours=1),
    )
