"""Statements read from the projections equal what the events say, for any account and any date range:
the opening balance is the sum of the entries before the range, the lines are the entries inside it, the
closing balance of one range is the opening of the next, and pending holds are those open at its end."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from bank_pipeline.domain.statements import InvalidStatementPeriod, StatementPeriod
from bank_pipeline.statements.reading import (
    StatementAccountNotFound,
    read_statements,
    statement_for_account,
    statements_for_period,
)
from bank_pipeline.store import RecordedEvent
from bank_pipeline_tests.projections.random_bank import AWKWARD, CLOSED
from bank_pipeline_tests.statements.statement_bank import Bank

ENTRY_TYPES = ("AccountCredited", "AccountDebited")
# The random banks' business times fall between these days (back-dated entries included).
FIRST_DAY, LAST_DAY = date(2026, 10, 29), date(2026, 11, 9)


# -- what the events say --------------------------------------------------------------------------------


def balance_before(events: list[RecordedEvent], instant: datetime) -> int:
    """The ledger balance by business time: every entry whose business time is before `instant`."""
    return sum(signed(e) for e in events if e.event_type in ENTRY_TYPES and e.occurred_at < instant)


def signed(event: RecordedEvent) -> int:
    return event.payload["amount"] if event.event_type == "AccountCredited" else -event.payload["amount"]


def entries_in(events: list[RecordedEvent], period: StatementPeriod) -> list[tuple[int, int]]:
    inside = [e for e in events if e.event_type in ENTRY_TYPES and period.start <= e.occurred_at < period.end]
    inside.sort(key=lambda e: (e.occurred_at, e.stream_version))
    return [(e.stream_version, signed(e)) for e in inside]


def holds_pending_at(events: list[RecordedEvent], instant: datetime) -> set[str]:
    placed = {e.payload["hold_id"] for e in events if e.event_type == "HoldPlaced" and e.occurred_at < instant}
    released = {e.payload["hold_id"] for e in events if e.event_type == "HoldReleased" and e.occurred_at < instant}
    return placed - released


days = st.integers(0, (LAST_DAY - FIRST_DAY).days).map(lambda n: FIRST_DAY + timedelta(days=n))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_two_adjacent_ranges_chain_and_equal_the_events(bank: Bank, conn, data) -> None:
    account = data.draw(st.sampled_from(sorted(bank.streams)), label="account")
    first, middle, last = sorted(data.draw(st.lists(days, min_size=3, max_size=3), label="days"))
    if middle == last:
        last += timedelta(days=1)
    earlier = StatementPeriod(first, middle)
    later = StatementPeriod(middle + timedelta(days=1), last)
    events = bank.streams[account]
    a = statement_for_account(conn, account, earlier)
    b = statement_for_account(conn, account, later)
    note(f"{account} {earlier} {later}")

    assert a.closing_balance == b.opening_balance
    for statement in (a, b):
        period = statement.period
        assert statement.opening_balance + statement.credits - statement.debits == statement.closing_balance
        assert statement.opening_balance == balance_before(events, period.start)
        assert statement.closing_balance == balance_before(events, period.end)
        assert [(line.stream_version, line.signed_amount) for line in statement.lines] == entries_in(events, period)
        assert {hold.hold_id for hold in statement.pending_holds} == holds_pending_at(events, period.end)
        assert all(line.booking_date == line.value_date == line.occurred_at.date() for line in statement.lines)
        assert statement.generated_at <= max(e.recorded_at for e in events)


def test_a_range_before_the_account_opened_is_an_empty_statement_that_says_so(bank: Bank, conn) -> None:
    statement = statement_for_account(conn, AWKWARD, StatementPeriod(date(2026, 1, 1), date(2026, 1, 31)))
    assert (statement.opening_balance, statement.lines, statement.closing_balance) == (0, (), 0)
    assert statement.notes() == ("The account was opened on 2026-11-01, after this period.",)


def test_a_range_starting_before_the_opening_holds_everything_from_the_first_entry(bank: Bank, conn) -> None:
    statement = statement_for_account(conn, AWKWARD, StatementPeriod(date(2026, 10, 1), date(2026, 11, 30)))
    events = bank.streams[AWKWARD]
    assert statement.opening_balance == 0
    assert len(statement.lines) == sum(1 for e in events if e.event_type in ENTRY_TYPES)
    assert statement.closing_balance == balance_before(events, datetime(2027, 1, 1, tzinfo=UTC))
    assert "opened on 2026-11-01" in statement.notes()[0]


def test_ranges_after_an_account_closed_say_it_was_closed(bank: Bank, conn) -> None:
    closing_month = statement_for_account(conn, CLOSED, StatementPeriod.month(2026, 11))
    assert closing_month.account.closed_on == date(2026, 11, 1)
    assert "The account was closed on 2026-11-01, during this period." in closing_month.notes()
    after = statement_for_account(conn, CLOSED, StatementPeriod.month(2027, 3))
    assert (after.opening_balance, after.lines, after.closing_balance) == (0, (), 0)
    assert after.notes() == ("The account was closed on 2026-11-01, before this period.",)


def test_an_unknown_account_is_a_typed_error(conn) -> None:
    with pytest.raises(StatementAccountNotFound, match="no-such-account"):
        statement_for_account(conn, "no-such-account", StatementPeriod.month(2026, 11))


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidStatementPeriod, match="after it ends"):
        StatementPeriod(date(2026, 2, 1), date(2026, 1, 31))
    with pytest.raises(InvalidStatementPeriod, match="--to '2026-02-30'"):
        StatementPeriod.parse("2026-02-01", "2026-02-30")


def test_a_period_s_statements_are_the_accounts_open_in_it_in_batches_of_any_size(bank: Bank, conn) -> None:
    november = StatementPeriod.month(2026, 11)
    whole = [s for batch in statements_for_period(conn, november, batch_size=10_000) for s in batch]
    small = [s for batch in statements_for_period(conn, november, batch_size=4) for s in batch]
    assert whole == small
    assert [s.account.account_id for s in whole] == sorted(bank.streams)
    # December: the account closed in November has no statement; every other one does.
    december = [s for batch in statements_for_period(conn, StatementPeriod.month(2026, 12)) for s in batch]
    assert [s.account.account_id for s in december] == sorted(set(bank.streams) - {CLOSED})
    october = [s.account.account_id for batch in statements_for_period(conn, StatementPeriod.month(2026, 10))
               for s in batch]  # fmt: skip
    # October: the accounts opened before November, or with an entry back-dated before November.
    november_first = datetime(2026, 11, 1, tzinfo=UTC)
    active = {a for a, events in bank.streams.items() if min(e.occurred_at for e in events) < november_first}
    assert set(october) == active


def test_reading_many_accounts_at_once_equals_reading_each(bank: Bank, conn) -> None:
    period = StatementPeriod(date(2026, 11, 2), date(2026, 11, 4))
    accounts = sorted(bank.streams)
    together = read_statements(conn, accounts + ["no-such-account"], period)
    assert together == [statement_for_account(conn, account, period) for account in accounts]
