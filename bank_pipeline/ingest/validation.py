"""Validating parsed landing records with a Great Expectations suite per kind and schema version.

Every failing row gets reasons naming the column and the rule; rows are judged one by one, and a record id
repeated within a file is not a failure (idempotency downstream makes the repeat a no-op).
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from bank_pipeline.ingest.reading import ParsedFile
from bank_pipeline.ingest.validation_checks import (
    DATE_CHECK,
    IBAN_CHECK,
    TIME_CHECK,
    invalid_ibans,
    unreal_dates,
    unreal_times,
)
from bank_pipeline.ingest.validation_gx import unexpected_rows
from bank_pipeline.ingest.validation_rules import DATE_COLUMNS, IBAN_COLUMNS, TIME_COLUMNS, Rule, failing_value_reason

ROW_CHECK = "row_is_complete"
ROW_CHECK_DESCRIPTION = "every record was read whole: all its fields present, not cut off by the end of the file"

#: checks made outside GX: name, its columns per suite, the check (failing positions -> problem), what it verifies.
_EXTRA_CHECKS: tuple[tuple[str, dict[str, tuple[str, ...]], Callable[[pl.Series], dict[int, str]], str], ...] = (
    (IBAN_CHECK, IBAN_COLUMNS, invalid_ibans, "has valid IBAN check digits and national format"),
    (TIME_CHECK, TIME_COLUMNS, unreal_times, "is a real calendar date and time"),
    (DATE_CHECK, DATE_COLUMNS, unreal_dates, "is a real calendar date"),
)


@dataclass(frozen=True)
class ExpectationResult:
    expectation: str  # a GX expectation type, or the name of a check made outside GX (IBAN check digits ...)
    column: str | None
    success: bool
    unexpected_count: int
    description: str  # what it checks, in words


@dataclass(frozen=True)
class Validation:
    suite: str  # "<kind>_v<schema version>"
    rows: int
    failures: dict[int, list[str]]  # 0-based row of ParsedFile.records -> reasons ("<column>: <rule>, got '<value>'")
    expectations: tuple[ExpectationResult, ...]

    @property
    def passed_rows(self) -> int:
        return self.rows - len(self.failures)


def prepare() -> None:
    """Import Great Expectations and build every suite now (seconds, once per process) instead of on the first
    file: long-running ingestion and the benchmark call it up front."""
    from bank_pipeline.ingest.validation_gx import _gx

    _gx()


def suite_name(parsed: ParsedFile) -> str:
    return f"{parsed.landing.kind}_v{parsed.landing.schema_version}"


def validate(parsed: ParsedFile) -> Validation:
    """Judge every record of `parsed`. An unreadable file has no records, hence no failures and no results.

    A row's reasons come in a fixed order: problems found while reading it, the suite's rules in order, then
    the checks made outside GX."""
    suite = suite_name(parsed)
    if parsed.unreadable is not None:
        return Validation(suite, 0, {}, ())
    records = parsed.records
    failures = _Failures(records)
    failures.add_reading_problems(parsed.row_problems)
    problems = len(parsed.row_problems)
    results = [ExpectationResult(ROW_CHECK, None, not problems, problems, ROW_CHECK_DESCRIPTION)]
    for rule, positions in unexpected_rows(suite, records.drop("line").to_pandas()):
        failures.add_rule(rule, positions)
        results.append(
            ExpectationResult(rule.expectation, rule.column, not positions, len(positions), rule.description)
        )
    for check, columns_per_suite, find, what in _EXTRA_CHECKS:
        for column in columns_per_suite.get(suite, ()):
            found = find(records.get_column(column))
            failures.add_problems(column, found)
            description = f"{column} {what} (checked outside GX)"
            results.append(ExpectationResult(check, column, not found, len(found), description))
    return Validation(suite, records.height, failures.in_row_order(), tuple(results))


class _Failures:
    """Reasons per failing row, quoting the row's value of the column each is about."""

    def __init__(self, records: pl.DataFrame) -> None:
        self._records = records
        self._values: dict[str, list[str | None]] = {}
        self._by_row: defaultdict[int, list[str]] = defaultdict(list)

    def add_reading_problems(self, problems: dict[int, list[str]]) -> None:
        for position, reasons in problems.items():
            self._by_row[position].extend(reasons)

    def add_rule(self, rule: Rule, positions: list[int]) -> None:
        values = self._column(rule.column) if positions else []
        for position in positions:
            self._by_row[position].append(rule.reason(values[position]))

    def add_problems(self, column: str, problems: dict[int, str]) -> None:
        values = self._column(column) if problems else []
        for position, problem in problems.items():
            self._by_row[position].append(failing_value_reason(column, problem, values[position]))

    def in_row_order(self) -> dict[int, list[str]]:
        return {position: self._by_row[position] for position in sorted(self._by_row)}

    def _column(self, name: str) -> list[str | None]:
        # One conversion per column: indexing a polars Series row by row is slow for files full of failures.
        if name not in self._values:
            self._values[name] = self._records.get_column(name).to_list()
        return self._values[name]
