"""Running the rule suites with Great Expectations, in process, on an ephemeral context built once per process.

GX costs seconds to import, so it is imported on first use, not when ingestion is imported. Suites run through
GX's Validator rather than a ValidationDefinition: a definition's run also keeps every result (with its lists of
unexpected rows) in the context's in-memory results store, which would grow for as long as the process lives.
"""

import os
import threading
from functools import cache
from typing import Any

import pandas as pd

from bank_pipeline.ingest.validation_rules import SUITES, Rule

_RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
_lock = threading.Lock()


def unexpected_rows(suite: str, records: pd.DataFrame) -> list[tuple[Rule, list[int]]]:
    """For each rule of `suite` in order: the positions of the rows of `records` that break it. `records` must
    have the default 0..n-1 index, which GX reports the unexpected rows by."""
    rules = SUITES[suite]
    if records.empty:
        return [(rule, []) for rule in rules]
    with _lock:  # one process-wide GX context; GX does not promise its runs are thread-safe
        gx_validator, batch_definition, suites = _gx()
        validator = gx_validator(batch_definition, _RESULT_FORMAT, batch_parameters={"dataframe": records})
        result = validator.validate_expectation_suite(suites[suite])
    found: dict[int, list[int]] = {}
    for outcome in result.results:
        raised = (outcome.exception_info or {}).get("raised_exception")
        if raised:
            message = outcome.exception_info.get("exception_message")
            raise RuntimeError(f"validation suite {suite} could not evaluate an expectation: {message}")
        found[outcome.expectation_config.meta["rule"]] = list(outcome.result.get("unexpected_index_list") or [])
    return [(rule, found[number]) for number, rule in enumerate(rules)]


@cache
def _gx() -> tuple[Any, Any, dict[str, Any]]:
    """GX's Validator class, the batch definition of "a whole data frame" and a GX suite per rule suite."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.validator.v1_validator import Validator

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("landing").add_dataframe_asset("records")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole_file")
    suites = {}
    for name, rules in SUITES.items():
        suite = gx.ExpectationSuite(name)
        for number, rule in enumerate(rules):
            suite.add_expectation(_expectation(gx, rule, number))
        suites[name] = context.suites.add(suite)
    return Validator, batch_definition, suites


def _expectation(gx: Any, rule: Rule, number: int) -> Any:
    from great_expectations.expectations.row_conditions import Column

    options: dict[str, Any] = {"column": rule.column, "description": rule.description, "meta": {"rule": number}}
    if rule.regex is not None:
        options["regex"] = rule.regex
    if rule.values:
        options["value_set"] = list(rule.values)
    if rule.when is not None:
        options["row_condition"] = Column(rule.when[0]) == rule.when[1]
    expectation_type = {
        "expect_column_values_to_not_be_null": gx.expectations.ExpectColumnValuesToNotBeNull,
        "expect_column_values_to_match_regex": gx.expectations.ExpectColumnValuesToMatchRegex,
        "expect_column_values_to_be_in_set": gx.expectations.ExpectColumnValuesToBeInSet,
        "expect_column_values_to_not_be_in_set": gx.expectations.ExpectColumnValuesToNotBeInSet,
    }[rule.expectation]
    return expectation_type(**options)
