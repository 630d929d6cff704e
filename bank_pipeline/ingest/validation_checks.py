"""Checks beyond what a regex can say, run outside Great Expectations: IBAN check digits and real calendar times.

Each returns the failing rows' positions with a reason, for values whose shape the GX suite already accepts
(a malformed value has its reason from the suite and is not judged twice).
"""

import re
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache

import polars as pl
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from bank_pipeline.ingest.validation_rules import DATE, ZONED_TIME
from bank_pipeline.ingest.validation_rules import IBAN as IBAN_SHAPE

IBAN_CHECK = "iban_check_digits_are_valid"
TIME_CHECK = "time_is_a_real_calendar_time"
DATE_CHECK = "date_is_a_real_calendar_date"


def invalid_ibans(values: pl.Series) -> dict[int, str]:
    """Positions -> reason, for IBAN-shaped values whose check digits or country format are wrong."""
    return _failing(values, IBAN_SHAPE, _iban_problem)


def unreal_times(values: pl.Series) -> dict[int, str]:
    """Positions -> reason, for ISO 8601-shaped times that name no real moment (2026-02-30T10:00:00Z)."""
    return _failing(values, ZONED_TIME, _time_problem)


def unreal_dates(values: pl.Series) -> dict[int, str]:
    """Positions -> reason, for YYYY-MM-DD-shaped dates that name no real day (2026-02-30)."""
    return _failing(values, DATE, _date_problem)


def _failing(values: pl.Series, shape: str, problem_of: Callable[[str], str | None]) -> dict[int, str]:
    pattern = re.compile(shape)
    problems = {value: problem_of(value) for value in values.unique().drop_nulls().to_list() if pattern.search(value)}
    problems = {value: problem for value, problem in problems.items() if problem}
    if not problems:
        return {}
    failing = values.is_in(list(problems)).arg_true().to_list()
    return {position: problems[values[position]] for position in failing}


@lru_cache(maxsize=65536)  # accounts recur across rows and files
def _iban_problem(value: str) -> str | None:
    try:
        IBAN(value)
    except SchwiftyException as error:
        return f"must be a valid IBAN ({error})"
    return None


def _time_problem(value: str) -> str | None:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return "must be a real calendar date and time"
    return None


def _date_problem(value: str) -> str | None:
    try:
        date.fromisoformat(value)
    except ValueError:
        return "must be a real calendar date"
    return None
