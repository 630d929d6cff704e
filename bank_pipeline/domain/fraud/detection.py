"""Run the rules over one account's events: each movement is judged against the profile before it, then taken
into the profile; balance changes (holds, settlements of transfers judged earlier) only update it. A rule that
fired stays quiet on that account for a while, so an episode (a burst of card tests, a day of structuring)
raises one alert, not one per payment."""

from __future__ import annotations

from collections.abc import Iterable

from bank_pipeline.domain.fraud.profile import AccountProfile, BalanceChange, Movement
from bank_pipeline.domain.fraud.rules import RULES, Alert, Rule
from bank_pipeline.domain.fraud.thresholds import FraudThresholds

Observation = Movement | BalanceChange


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


def observe(observation: Observation, profile: AccountProfile, limits: FraudThresholds) -> list[Alert]:
    """Judge a movement, or only take into the profile a balance change or the settlement of a transfer judged
    when it was requested."""
    if isinstance(observation, Movement) and not profile.settles_a_request(observation):
        return judge(observation, profile, limits)
    take_in(observation, profile, limits)
    return []


def take_in(observation: Observation, profile: AccountProfile, limits: FraudThresholds) -> None:
    """Update the profile with an event without judging it (rebuilding profiles from history)."""
    if not isinstance(observation, Movement):
        profile.apply(observation)
    elif profile.settles_a_request(observation):
        profile.settle(observation)
    else:
        profile.remember(observation, window=limits.profile_window, counterparties=limits.known_counterparties)


def _quiet(profile: AccountProfile, alert: Alert, limits: FraudThresholds) -> bool:
    fired = profile.last_alert_at.get(alert.rule)
    return fired is not None and abs(alert.occurred_at - fired) < limits.quiet_after_alert


def judge_all(observations: Iterable[Observation], limits: FraudThresholds | None = None) -> list[Alert]:
    """Every alert a sequence of events raises (accounts in any interleaving; each in its stream order)."""
    limits = limits or FraudThresholds()
    profiles: dict[str, AccountProfile] = {}
    alerts = []
    for observation in observations:
        profile = profiles.setdefault(observation.account_id, AccountProfile(observation.account_id))
        alerts.extend(observe(observation, profile, limits))
    return alerts
