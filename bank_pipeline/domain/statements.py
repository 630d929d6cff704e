"""Account statements: the period, the lines, and the arithmetic every statement must satisfy.

Pure: the read side fills a `Statement` and the formats (PDF, CSV, camt.053, MT940) render it; nothing here does
I/O. A statement covers whole UTC business days, first to last inclusive, by business time (an entry's
`occurred_at`): the same days the read model's daily balances use. The domain has one business time per entry, so
an entry's booking date and value date are both its business day; a back-dated entry changes the statement of the
month it belongs to, and regenerating that month shows the change.

Invariants (checked by `Statement.__post_init__`, so a statement that breaks them cannot be rendered):
  opening + credits − debits = closing;
  each line's balance_after = the previous balance ± its amount, starting from the opening balance;
  lines are in (occurred_at, stream_version) order, all inside the period.
The opening balance of a period is the closing balance of the period that ends the day before, because both
are the running business-time balance of the last entry before the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from bank_pipeline.domain.errors import InconsistentStatement, InvalidStatementPeriod

__all__ = ["InconsistentStatement", "InvalidStatementPeriod"]  # raised here, defined with the other domain errors

Direction = Literal["credit", "debit"]
#: The days a statement may cover: wide enough for any account, narrow enough that every instant computed from a
#: period (the day before, the day after) is a valid date.
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9998, 12, 31)


@dataclass(frozen=True, order=True)
class StatementPeriod:
    """Whole UTC days, `first_day` to `last_day` inclusive."""

    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if not isinstance(self.first_day, date) or not isinstance(self.last_day, date):
            raise InvalidStatementPeriod("a statement period is two dates")
        if self.first_day < EARLIEST_DAY or self.last_day > LATEST_DAY:
            raise InvalidStatementPeriod(
                f"a statement period lies between {EARLIEST_DAY} and {LATEST_DAY}, "
                f"not {self.first_day}..{self.last_day}"
            )
        if self.first_day > self.last_day:
            raise InvalidStatementPeriod(
                f"the period starts ({self.first_day}) after it ends ({self.last_day}): give --from on or before --to"
            )

    @classmethod
    def month(cls, year: int, month: int) -> StatementPeriod:
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(first, following - timedelta(days=1))

    @classmethod
    def parse(cls, first_day: str, last_day: str) -> StatementPeriod:
        """From ISO dates (2026-01-01); a typed error names the bad one."""
        return cls(_parse_day(first_day, "from"), _parse_day(last_day, "to"))

    @property
    def start(self) -> datetime:
        """The first instant inside the period."""
        return datetime.combine(self.first_day, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period (exclusive)."""
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def previous_day(self) -> date:
        return self.first_day - timedelta(days=1)

    @property
    def label(self) -> str:
        """`2026-01` for a calendar month, `2026-01-05_2026-02-04` otherwise: names files and folders."""
        if self == StatementPeriod.month(self.first_day.year, self.first_day.month):
            return f"{self.first_day:%Y-%m}"
        return f"{self.first_day.isoformat()}_{self.last_day.isoformat()}"


def _parse_day(text: str, which: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except (AttributeError, ValueError):
        raise InvalidStatementPeriod(f"--{which} {text!r} is not a date: use YYYY-MM-DD") from None


@dataclass(frozen=True)
class StatementLine:
    """One booked entry. `balance_after` is the running balance by business time, right after this entry."""

    booking_date: date
    value_date: date
    direction: Direction
    amount: int  # minor units, positive
    balance_after: int
    transfer_id: str
    flow: str  # "internal" (between two accounts of this bank) or "external"
    counterparty: str | None
    reference: str | None
    stream_version: int
    global_position: int
    occurred_at: datetime
    recorded_at: datetime

    @property
    def signed_amount(self) -> int:
        return self.amount if self.direction == "credit" else -self.amount


@dataclass(frozen=True)
class PendingHold:
    """A hold placed before the period ended and not released by then: money reserved but not yet booked."""

    hold_id: str
    amount: int
    reason: str
    placed_on: date
    expires_at: datetime


@dataclass(frozen=True)
class StatementAccount:
    account_id: str
    customer_id: str
    customer_name: str
    currency: str
    product: str
    opened_on: date
    closed_on: date | None  # business day of the AccountClosed event, if any


@dataclass(frozen=True)
class Statement:
    account: StatementAccount
    period: StatementPeriod
    opening_balance: int
    lines: tuple[StatementLine, ...]
    pending_holds: tuple[PendingHold, ...]
    #: When the newest event this statement reflects was recorded: a function of the events, not of the moment
    #: of rendering, so the same events always render the same bytes.
    generated_at: datetime
    credits: int = field(init=False)
    debits: int = field(init=False)

    def __post_init__(self) -> None:
        credits = debits = 0
        balance = self.opening_balance
        previous: tuple[datetime, int] | None = None
        account_id = self.account.account_id
        period_start, period_end = self.period.start, self.period.end
        for line in self.lines:
            if line.amount <= 0:
                raise InconsistentStatement(f"{account_id}: entry {line.stream_version} has amount {line.amount}")
            if not (period_start <= line.occurred_at < period_end):
                raise InconsistentStatement(
                    f"{account_id}: entry {line.stream_version} at {line.occurred_at} is outside {self.period.label}"
                )
            order_key = (line.occurred_at, line.stream_version)
            if previous is not None and order_key <= previous:
                raise InconsistentStatement(f"{account_id}: entries out of business-time order")
            previous = order_key
            if line.direction == "credit":
                credits += line.amount
            else:
                debits += line.amount
            balance += line.signed_amount
            if balance != line.balance_after:
                raise InconsistentStatement(
                    f"{account_id}: entry {line.stream_version} says the balance is {line.balance_after}, "
                    f"the opening balance and the entries before it give {balance}"
                )
        object.__setattr__(self, "credits", credits)
        object.__setattr__(self, "debits", debits)

    @property
    def closing_balance(self) -> int:
        return self.opening_balance + self.credits - self.debits

    @property
    def entry_count(self) -> int:
        return len(self.lines)

    @property
    def credit_count(self) -> int:
        return sum(1 for line in self.lines if line.direction == "credit")

    @property
    def debit_count(self) -> int:
        return len(self.lines) - self.credit_count

    @property
    def pending_hold_total(self) -> int:
        return sum(hold.amount for hold in self.pending_holds)

    @property
    def sequence_number(self) -> int:
        return statement_number(self.account, self.period)

    @property
    def statement_id(self) -> str:
        return f"{self.account.account_id}-{self.period.label}"

    def notes(self) -> tuple[str, ...]:
        return period_notes(self.account, self.period)


def statement_number(account: StatementAccount, period: StatementPeriod) -> int:
    """The statement's number for the account: 1 for the month the account opened, +1 per month since
    (MT940 :28C:, camt.053 electronic sequence). A period starting before the opening month is number 1."""
    opened = account.opened_on
    months = (period.first_day.year - opened.year) * 12 + period.first_day.month - opened.month
    return max(months, 0) + 1


def period_notes(account: StatementAccount, period: StatementPeriod) -> tuple[str, ...]:
    """What a reader needs to know about the period and the account's life; empty for an ordinary month."""
    notes: list[str] = []
    if account.opened_on > period.last_day:
        notes.append(f"The account was opened on {account.opened_on}, after this period.")
    elif account.opened_on > period.first_day:
        notes.append(f"The account was opened on {account.opened_on}, during this period.")
    if account.closed_on is not None:
        if account.closed_on < period.first_day:
            notes.append(f"The account was closed on {account.closed_on}, before this period.")
        elif account.closed_on <= period.last_day:
            notes.append(f"The account was closed on {account.closed_on}, during this period.")
    return tuple(notes)
