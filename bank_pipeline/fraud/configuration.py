"""The fraud thresholds an operator configures: a TOML file named by `BANK_PIPELINE_FRAUD_THRESHOLDS`, whose keys
override `FraudThresholds`' defaults. Durations are seconds or ISO 8601 (`"P90D"`, `"PT15M"`); amounts are major
units of the account's currency. Example:

    dormant_after = "P180D"     # real dormancy is months, not the simulated bank's days
    velocity_payments = 6
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from bank_pipeline.domain.fraud import FraudThresholds
from bank_pipeline.settings import get_settings

_KNOWN = {field.name for field in fields(FraudThresholds)}


class InvalidFraudThresholds(ValueError):
    """The thresholds file cannot be read or holds a key or value the rules do not take."""


def load_thresholds(path: Path | None = None) -> FraudThresholds:
    """The configured thresholds (`path`, else the setting; neither: the defaults)."""
    path = path or get_settings().fraud_thresholds
    if path is None:
        return FraudThresholds()
    try:
        overrides = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidFraudThresholds(f"cannot read the fraud thresholds file {path}: {error}") from error
    unknown = sorted(set(overrides) - _KNOWN)
    if unknown:
        raise InvalidFraudThresholds(
            f"{path}: unknown fraud threshold(s) {', '.join(unknown)}; "
            "`bank-pipeline fraud thresholds` lists the ones there are"
        )
    try:
        return TypeAdapter(FraudThresholds).validate_python(overrides)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise InvalidFraudThresholds(f"{path}: {problems}") from error
