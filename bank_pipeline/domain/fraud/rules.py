"""The fraud rules. Each looks at one movement and the account's profile *before* it, and returns an alert or
None. Pure functions: no I/O, no clock (time is the movements' business time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    """Many more payments out within a short window than the account usually makes (tiny ones are left to card
    testing)."""
    tiny = limits.minor(limits.tiny_payment_major, movement.currency)
    if (
        movement.direction != "debit"
        or movement.amount <= tiny
        or not _known_for(profile, movement, limits.baseline_after)
    ):
        return None
    window = profile.within(movement, limits.velocity_window)
    payments = [m for m in window if m.direction == "debit" and m.amount > tiny] + [movement]
    usual = profile.payments_out_per_day(movement.occurred_at) * limits.velocity_window / timedelta(days=1)
    needed = max(limits.velocity_payments, limits.velocity_multiple * usual)
    if len(payments) < needed:
        return None
    paid = sum(m.amount for m in payments)
    available = profile.available_before(movement) + paid - movement.amount  # before the first of them
    if available <= 0 or paid < limits.velocity_balance_share * available:
        return None
    return _alert(
        "velocity", "medium", len(payments) / (2 * needed), movement,
        payments=len(payments), usual_in_window=round(usual, 2), paid=paid, available_before=available,
        window_seconds=int(limits.velocity_window.total_seconds()), positions=_positions(payments),
    )  # fmt: skip


def _known_for(profile: AccountProfile, movement: Movement, span: timedelta) -> bool:
    """Whether the account has been seen long enough before `movement` for its usual behaviour to mean something."""
    return profile.first_seen_at is not None and movement.occurred_at - profile.first_seen_at >= span


def amount_above_history(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """A payment out far above the account's own usual payments, and a large part of what it has."""
    if movement.direction != "debit" or profile.payments_out < limits.history_minimum_payments:
        return None
    usual = profile.mean_payment_out
    available = profile.available_before(movement)
    if movement.amount < limits.minor(limits.history_minimum_major, movement.currency):
        return None
    if movement.amount < limits.history_multiple * usual or movement.amount < limits.history_balance_share * available:
        return None
    multiple = movement.amount / usual if usual else float("inf")
    return _alert(
        "amount_above_history", "medium", multiple / (4 * limits.history_multiple), movement,
        usual_payment=round(usual), multiple=round(multiple, 1), payments_before=profile.payments_out,
        available_before=available,
    )  # fmt: skip


def new_counterparty_large(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """Within a short window, most of the account's money paid away in several payments to counterparties it never
    dealt with before. (One large payment to a new payee, like a first rent, is too ordinary to alert on: the
    payments other than the largest must move a good part of the money too.)"""
    if movement.direction != "debit" or not movement.with_account or profile.knows(movement.counterparty):
        return None
    since = movement.occurred_at - limits.new_counterparty_window
    earlier = [
        (m, available) for m, available in profile.first_contacts
        if m.direction == "debit" and m.with_account and m.occurred_at >= since
    ]  # fmt: skip
    available = earlier[0][1] if earlier else profile.available_before(movement)
    paid = sum(m.amount for m, _ in earlier) + movement.amount
    if len(earlier) + 1 < limits.new_counterparty_payments:
        return None
    if available <= 0 or paid < limits.minor(limits.new_counterparty_minimum_major, movement.currency):
        return None
    share = paid / available
    largest = max([m.amount for m, _ in earlier] + [movement.amount])
    if share < limits.new_counterparty_balance_share or (paid - largest) < limits.new_counterparty_spread * available:
        return None
    return _alert(
        "new_counterparty_large", "high", share, movement,
        counterparty=movement.counterparty, payments=len(earlier) + 1, paid=paid, available_before=available,
        share_of_available=round(share, 3), positions=_positions([m for m, _ in earlier]),
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
    """A burst of tiny payments out, far more than the account usually makes in that time: someone checking
    which card numbers work."""
    tiny = limits.minor(limits.tiny_payment_major, movement.currency)
    if movement.direction != "debit" or movement.amount > tiny:
        return None
    burst = [
        m for m in profile.within(movement, limits.card_testing_window) if m.direction == "debit" and m.amount <= tiny
    ] + [movement]
    usual = profile.payments_out_per_day(movement.occurred_at) * limits.card_testing_window / timedelta(days=1)
    needed = max(limits.card_testing_payments, limits.card_testing_multiple * usual)
    if len(burst) < needed:
        return None
    return _alert(
        "card_testing", "high", len(burst) / (2 * needed), movement,
        payments=len(burst), usual_in_window=round(usual, 2),
        window_seconds=int(limits.card_testing_window.total_seconds()), positions=_positions(burst),
    )  # fmt: skip


def dormant_reactivation(movement: Movement, profile: AccountProfile, limits: FraudThresholds) -> Alert | None:
    """A long-idle account that never paid anything out sends most of its money away by several transfers within
    hours. (A first bill or card payment that is simply large, like a first rent, is too ordinary to alert on.)"""
    if movement.direction != "debit" or not movement.with_account or profile.last_moved_at is None:
        return None
    if profile.first_payment_out is None:  # this is its first payment out
        first, idle, available = (
            movement,
            movement.occurred_at - profile.last_moved_at,
            profile.available_before(movement),
        )
        paid = [movement]
    else:
        first, idle, available = profile.first_payment_out
        if movement.occurred_at - first.occurred_at > limits.dormant_episode:
            return None
        paid = [
            m
            for m in profile.recent
            if m.direction == "debit" and m.with_account and m.occurred_at >= first.occurred_at
        ]
        paid.append(movement)
    total = sum(m.amount for m in paid)
    if idle < limits.dormant_after or available <= 0 or len(paid) < limits.dormant_payments:
        return None
    if total < limits.dormant_balance_share * available:
        return None
    return _alert(
        "dormant_reactivation", "high", total / available, movement,
        idle_seconds=int(idle.total_seconds()), available_before=available, paid=total, positions=_positions(paid),
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
    """Money in from many payers the account never dealt with, then most of it out again: a money mule."""
    if movement.direction != "debit":
        return None
    since = movement.occurred_at - limits.fan_in_window
    credits = [
        m for m, _ in profile.first_contacts if m.direction == "credit" and m.with_account and since <= m.occurred_at
    ]
    payers = {m.counterparty for m in credits}
    if len(payers) < limits.fan_in_payers:
        return None
    first_in = credits[0].occurred_at
    paid_out = sum(m.amount for m in profile.recent if m.direction == "debit" and m.occurred_at >= first_in)
    paid_out += movement.amount
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
