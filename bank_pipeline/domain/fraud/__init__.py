"""Fraud rules over account movements, with the per-account memory they need. Pure: the detector worker feeds
them events and acts on their alerts; Dagster's investigation path looks across accounts."""

from bank_pipeline.domain.fraud.detection import Observation, judge, judge_all, observe, take_in
from bank_pipeline.domain.fraud.profile import AccountProfile, BalanceChange, Movement
from bank_pipeline.domain.fraud.rules import RULE_NAMES, RULES, Alert
from bank_pipeline.domain.fraud.thresholds import FraudThresholds

__all__ = [
    "RULES", "RULE_NAMES", "AccountProfile", "Alert", "BalanceChange", "FraudThresholds", "Movement", "Observation",
    "judge", "judge_all", "observe", "take_in",
]  # fmt: skip
