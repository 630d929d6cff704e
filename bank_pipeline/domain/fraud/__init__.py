"""Fraud rules over account movements, with the per-account memory they need. Pure: the detector worker feeds
them events and acts on their alerts; Dagster's investigation path looks across accounts."""

from bank_pipeline.domain.fraud.detection import judge, judge_all
from bank_pipeline.domain.fraud.profile import AccountProfile, Movement
from bank_pipeline.domain.fraud.rules import RULE_NAMES, RULES, Alert
from bank_pipeline.domain.fraud.thresholds import FraudThresholds

__all__ = ["RULES", "RULE_NAMES", "AccountProfile", "Alert", "FraudThresholds", "Movement", "judge", "judge_all"]
