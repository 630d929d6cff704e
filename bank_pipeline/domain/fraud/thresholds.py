"""The fraud rules' thresholds: configuration, not code. Amounts are in major units of the account's currency and
scaled to minor units per currency, so one setting serves EUR and JPY alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bank_pipeline.domain.money import CURRENCY_EXPONENTS


@dataclass(frozen=True)
class FraudThresholds:
    # how long an account must have been seen before its usual behaviour is a baseline (velocity)
    baseline_after: timedelta = timedelta(days=1)
    # velocity: many payments out in a short time (tiny ones are card testing's)
    velocity_window: timedelta = timedelta(hours=1)
    velocity_payments: int = 5  # at least this many in the window ...
    velocity_multiple: float = 10.0  # ... and this many times the account's usual number in a window that long
    velocity_balance_share: float = 0.25  # ... paying away at least this share of what the account could use
    # amount far above the account's own history of payments out
    history_minimum_payments: int = 10
    history_multiple: float = 10.0  # × the mean of earlier payments out
    history_balance_share: float = 0.5  # and at least this share of what the account could use
    history_minimum_major: int = 500  # smaller amounts never count as "far above"
    # new counterparties paid most of what the account has, within a short window
    new_counterparty_window: timedelta = timedelta(hours=24)
    new_counterparty_payments: int = 2  # at least this many payments, each to a new counterparty
    new_counterparty_balance_share: float = 0.4  # of what the account could use before the first of them
    new_counterparty_spread: float = 0.25  # of it paid by the payments other than the largest
    new_counterparty_minimum_major: int = 100
    # structuring: money in just below the reporting threshold, several times
    reporting_threshold_major: int = 10_000
    structuring_band: float = 0.9  # from this share of the threshold up to (not including) it
    structuring_window: timedelta = timedelta(days=7)
    structuring_payments: int = 3  # two may be chance; three is a pattern
    # card testing: a burst of tiny payments
    tiny_payment_major: int = 2
    card_testing_window: timedelta = timedelta(minutes=15)
    card_testing_payments: int = 8  # at least this many in the window ...
    card_testing_multiple: float = 10.0  # ... and this many times the account's usual number of payments in it
    # dormant account reactivated: a long-idle account that never paid out sends most of its money
    dormant_after: timedelta = timedelta(days=3)  # idle this long before its first payment out
    dormant_episode: timedelta = timedelta(hours=24)  # payments out within this of the first count together
    dormant_payments: int = 2  # at least this many payments out within the episode ...
    dormant_balance_share: float = 0.5  # ... together this share of what it could use before the first of them
    # rapid pass-through: money in and most of it straight out
    pass_through_window: timedelta = timedelta(minutes=30)
    pass_through_share: float = 0.8
    pass_through_minimum_major: int = 100
    # mule fan-in / fan-out: many new payers in, most of it out again
    fan_in_window: timedelta = timedelta(hours=24)
    fan_in_payers: int = 4
    fan_out_share: float = 0.5
    # how long one rule stays quiet on an account after it fired (one alert per episode, not per payment)
    quiet_after_alert: timedelta = timedelta(hours=6)
    # how much history an account profile keeps
    profile_window: timedelta = timedelta(days=7)
    known_counterparties: int = 500

    def minor(self, major: int | float, currency: str) -> int:
        """`major` units of `currency` in its minor units."""
        return int(major * 10 ** CURRENCY_EXPONENTS.get(currency, 2))
