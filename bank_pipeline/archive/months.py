"""Which months are due for archiving (pure).

The hot window is the current month plus the `hot_months` whole months before it. A month is due once at least
`hot_months` whole months lie between its end and the start of now's month: with hot_months=13 and now in May
2026, April 2025..April 2026 stay hot and March 2025 (ending 2025-04-01) is due.
"""

from datetime import UTC, date, datetime

DEFAULT_HOT_MONTHS = 13


def month_of(moment: datetime | date) -> date:
    """The first day of the UTC month `moment` falls in."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError(f"{moment!r} must carry a time zone")
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    """As sql/003's ensure_partitions and sql/015's month_partition name them."""
    return f"events_{month:%Y_%m}"


def month_of_partition(name: str) -> date | None:
    """The month of an events_YYYY_MM partition name; None for any other name."""
    prefix, _, rest = name.partition("_")
    year, _, month = rest.partition("_")
    if prefix != "events" or not (year.isdigit() and month.isdigit() and len(year) == 4 and len(month) == 2):
        return None
    return date(int(year), int(month), 1)


def oldest_hot_month(now: datetime, hot_months: int = DEFAULT_HOT_MONTHS) -> date:
    if hot_months < 0:
        raise ValueError(f"hot_months must be at least 0, not {hot_months}")
    return add_months(month_of(now), -hot_months)


def is_due(month: date, now: datetime, hot_months: int = DEFAULT_HOT_MONTHS) -> bool:
    """True when `month` (any day of it) ends at least `hot_months` whole months before now's month starts."""
    return add_months(month_of(month), 1) <= oldest_hot_month(now, hot_months)


def due_months(months: list[date], now: datetime, hot_months: int = DEFAULT_HOT_MONTHS) -> list[date]:
    """The due ones among `months`, oldest first."""
    return sorted(m for m in set(map(month_of, months)) if is_due(m, now, hot_months))
