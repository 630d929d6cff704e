"""The fraud rules. Each looks at one movement and the account's profile *before* it, and returns an alert or
None. Pure functions: no I/O, no clock (time is the movements' business time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bank_pipeline.domain.fraud.profile import AccountProfile, Movement
from bank_pipeline.domain.fraud.thresholds import FraudThresholds

Severity = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class Alert:
    rule: str
    severity: Severity
    score: float  # 0..1: how far past the rule's threshold, for ordering an investigator's queue
    account_id: str
    global_position: int  # the event that set it off
    transaction_id: int
    occurred_at: datetime
    evidence: dict[str, Any] = field(default_factory=dict)  # JSON-ready: minor units, counts, seconds, positions


Rule = Callable[[Movement, AccountProfile, FraudThresholds], Alert | None]


def _alert(rule: str, severity: Severity, score: float, movement: Movement, **evidence: Any) -> Alert:
    return Alert(
        rule=rule,
        severity=severity,
        score=round(min(max(score, 0.0), 1.0), 3),
        account_id=movement.account_id,
        global_position=movement.global_position,
        transaction_id=movement.transaction_id,
        occurred_at=movement.occurred_at,
        evidence={"amount": movement.amount, "currency": movement.currency, **evidence},
    )


def _positions(movements: list[Movement]) -> list[int]:
    return [m.global_position for m in movements]


def velocity(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """Many payments out within a short window (tiny ones are left to card testing)."""
    tiny = limits.minor(limits.tiny_payment_major, movement.currency)
    if movement.direction != "debit" or movement.amount <= tiny:
        return None
    window = profile.within(movement, limits.velocity_window)
    payments = [m for m in window if m.direction == "debit" and m.amount > tiny] + [movement]
    if len(payments) < limits.velocity_payments:
        return None
    return _alert(
        "velocity", "medium", len(payments) / (2 * limits.velocity_payments), movement,
        payments=len(payments), window_seconds=int(limits.velocity_window.total_seconds()),
        positions=_positions(payments),
    )  # fmt: skip


def amount_above_history(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """A payment out far above the account's own usual payments."""
    if movement.direction != "debit" or profile.payments_out < limits.history_minimum_payments:
        return None
    usual = profile.mean_payment_out
    if movement.amount < limits.minor(limits.history_minimum_major, movement.currency):
        return None
    if movement.amount < limits.history_multiple * usual:
        return None
    multiple = movement.amount / usual if usual else float("inf")
    severity: Severity = "high" if multiple >= 2 * limits.history_multiple else "medium"
    return _alert(
        "amount_above_history", severity, multiple / (4 * limits.history_multiple), movement,
        usual_payment=round(usual), multiple=round(multiple, 1), payments_before=profile.payments_out,
    )  # fmt: skip


def new_counterparty_large(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """A large share of the balance paid to a counterparty the account never dealt with."""
    if movement.direction != "debit" or movement.counterparty is None or profile.knows(movement.counterparty):
        return None
    before = movement.balance_before
    if before <= 0 or movement.amount < limits.minor(limits.new_counterparty_minimum_major, movement.currency):
        return None
    share = movement.amount / before
    if share < limits.new_counterparty_balance_share:
        return None
    return _alert(
        "new_counterparty_large", "high", share, movement,
        counterparty=movement.counterparty, balance_before=before, share_of_balance=round(share, 3),
    )  # fmt: skip


def structuring(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """Money in just below the reporting threshold, several times, from different senders."""
    if movement.direction != "credit" or not _just_below_threshold(movement, limits):
        return None
    earlier = [
        m for m in profile.within(movement, limits.structuring_window)
        if m.direction == "credit" and _just_below_threshold(m, limits)
    ]  # fmt: skip
    payments = [*earlier, movement]
    senders = {m.counterparty for m in payments}
    if len(payments) < limits.structuring_payments or len(senders) < 2:
        return None
    return _alert(
        "structuring", "high", len(payments) / (2 * limits.structuring_payments), movement,
        payments=len(payments), senders=len(senders), total=sum(m.amount for m in payments),
        threshold=limits.minor(limits.reporting_threshold_major, movement.currency), positions=_positions(payments),
    )  # fmt: skip


def _just_below_threshold(movement: Movement, limits: FraudThresholds) -> bool:
    threshold = limits.minor(limits.reporting_threshold_major, movement.currency)
    return threshold * limits.structuring_band <= movement.amount < threshold


def card_testing(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """A burst of tiny payments out: someone checking which card numbers work."""
    tiny = limits.minor(limits.tiny_payment_major, movement.currency)
    if movement.direction != "debit" or movement.amount > tiny:
        return None
    burst = [
        m for m in profile.within(movement, limits.card_testing_window) if m.direction == "debit" and m.amount <= tiny
    ] + [movement]
    if len(burst) < limits.card_testing_payments:
        return None
    return _alert(
        "card_testing", "high", len(burst) / (2 * limits.card_testing_payments), movement,
        payments=len(burst), window_seconds=int(limits.card_testing_window.total_seconds()),
        positions=_positions(burst),
    )  # fmt: skip


def dormant_reactivation(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """A long-idle account that never paid anything out suddenly sends a large share of its money."""
    if movement.direction != "debit" or profile.paid_out_ever or profile.last_moved_at is None:
        return None
    idle = movement.occurred_at - profile.last_moved_at
    before = movement.balance_before
    if idle < limits.dormant_after or before <= 0 or movement.amount < limits.dormant_balance_share * before:
        return None
    return _alert(
        "dormant_reactivation", "high", movement.amount / before, movement,
        idle_seconds=int(idle.total_seconds()), balance_before=before,
    )  # fmt: skip


def rapid_pass_through(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """Money in and most of it straight out again, to someone else."""
    if movement.direction != "debit":
        return None
    if movement.amount < limits.minor(limits.pass_through_minimum_major, movement.currency):
        return None
    for credit in reversed(profile.within(movement, limits.pass_through_window)):
        if credit.direction != "credit" or credit.counterparty == movement.counterparty:
            continue
        if movement.amount >= limits.pass_through_share * credit.amount and movement.amount <= credit.amount:
            seconds = int((movement.occurred_at - credit.occurred_at).total_seconds())
            return _alert(
                "rapid_pass_through", "high", movement.amount / credit.amount, movement,
                credit=credit.amount, credit_position=credit.global_position, seconds_between=seconds,
            )  # fmt: skip
    return None


def mule_fan_in_out(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """Many payers in within hours, then most of it out again: a money mule."""
    if movement.direction != "debit":
        return None
    window = profile.within(movement, limits.fan_in_window)
    credits = [m for m in window if m.direction == "credit"]
    payers = {m.counterparty for m in credits if m.counterparty is not None}
    if len(payers) < limits.fan_in_payers:
        return None
    first_in = credits[0].occurred_at
    paid_out = sum(m.amount for m in window if m.direction == "debit" and m.occurred_at >= first_in) + movement.amount
    paid_in = sum(m.amount for m in credits)
    if paid_out < limits.fan_out_share * paid_in:
        return None
    return _alert(
        "mule_fan_in_out", "high", paid_out / paid_in, movement,
        payers=len(payers), paid_in=paid_in, paid_out=paid_out, positions=_positions(credits),
    )  # fmt: skip


RULES: tuple[Rule, ...] = (
    velocity, amount_above_history, new_counterparty_large, structuring, card_testing, dormant_reactivation,
    rapid_pass_through, mule_fan_in_out,
)  # fmt: skip
RULE_NAMES: tuple[str, ...] = tuple(rule.__name__ for rule in RULES)
