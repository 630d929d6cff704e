"""Run the rules over one account's movements: each movement is judged against the profile before it, then
taken into the profile. A rule that fired stays quiet on that account for a while, so an episode (a burst of
card tests, a day of structuring) raises one alert, not one per payment."""

from __future__ import annotations

from collections.abc import Iterable

from bank_pipeline.domain.fraud.profile import AccountProfile, Movement
from bank_pipeline.domain.fraud.rules import RULES, Alert, Rule
from bank_pipeline.domain.fraud.thresholds import FraudThresholds


def judge(
    movement: Movement, profile: AccountProfile, limits: FraudThresholds, rules: Iterable[Rule] = RULES
) -> list[Alert]:
    """The alerts `movement` raises on its account, then the profile updated with it."""
    alerts = []
    for rule in rules:
        alert = rule(movement, profile, limits)
        if alert is None or _quiet(profile, alert, limits):
            continue
        profile.last_alert_at[alert.rule] = movement.occurred_at
        alerts.append(alert)
    profile.remember(movement, window=limits.profile_window, counterparties=limits.known_counterparties)
    return alerts


def _quiet(profile: AccountProfile, alert: Alert, limits: FraudThresholds) -> bool:
    fired = profile.last_alert_at.get(alert.rule)
    return fired is not None and abs(alert.occurred_at - fired) < limits.quiet_after_alert


def judge_all(movements: Iterable[Movement], limits: FraudThresholds | None = None) -> list[Alert]:
    """Every alert a sequence of movements raises (accounts in any interleaving; each in its stream order)."""
    limits = limits or FraudThresholds()
    profiles: dict[str, AccountProfile] = {}
    alerts = []
    for movement in movements:
        profile = profiles.setdefault(movement.account_id, AccountProfile(movement.account_id))
        alerts.extend(judge(movement, profile, limits))
    return alerts
