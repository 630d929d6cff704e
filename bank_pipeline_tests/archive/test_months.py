from datetime import UTC, date, datetime

import pytest

from bank_pipeline.archive.months import add_months, due_months, is_due, month_of, month_of_partition, partition_name

NOW = datetime(2026, 5, 17, 12, 0, tzinfo=UTC)


def test_with_thirteen_hot_months_march_of_last_year_is_the_newest_due_month():
    assert is_due(date(2025, 3, 1), NOW, 13)
    assert is_due(date(2025, 3, 31), NOW, 13)
    assert not is_due(date(2025, 4, 1), NOW, 13)
    assert due_months([date(2025, 4, 1), date(2025, 3, 1), date(2024, 12, 1)], NOW, 13) == [
        date(2024, 12, 1),
        date(2025, 3, 1),
    ]


def test_the_boundary_moves_with_the_start_of_the_month_not_the_day():
    first_instant = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    last_instant = datetime(2026, 4, 30, 23, 59, 59, 999999, tzinfo=UTC)
    assert is_due(date(2025, 3, 1), first_instant, 13)
    assert not is_due(date(2025, 3, 1), last_instant, 13)


def test_the_current_month_is_never_due_and_zero_hot_months_makes_last_month_due():
    assert not is_due(date(2026, 5, 1), NOW, 0)
    assert is_due(date(2026, 4, 1), NOW, 0)
    with pytest.raises(ValueError):
        is_due(date(2026, 4, 1), NOW, -1)


def test_months_are_utc_and_naive_instants_are_refused():
    assert month_of(datetime(2026, 5, 31, 23, 30, tzinfo=UTC)) == date(2026, 5, 1)
    with pytest.raises(ValueError):
        month_of(datetime(2026, 5, 1))
    assert add_months(date(2025, 12, 1), 1) == date(2026, 1, 1)
    assert add_months(date(2025, 1, 1), -13) == date(2023, 12, 1)


def test_partition_names_round_trip():
    assert partition_name(date(2025, 3, 1)) == "events_2025_03"
    assert month_of_partition("events_2025_03") == date(2025, 3, 1)
    assert month_of_partition("events_default") is None
