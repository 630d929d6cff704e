"""The fraud rules on hand-made account histories: each fires on its pattern, stays silent on the ordinary
look-alike next to it, and fires once per episode."""

from datetime import UTC, datetime, timedelta

import pytest

from bank_pipeline.domain.fraud import RULE_NAMES, AccountProfile, FraudThresholds, Movement, judge, judge_all

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LIMITS = FraudThresholds()


class History:
    """One account's movements, each with the balance after it, in stream order."""

    def __init__(self, account_id: str = "acct-1", currency: str = "EUR"):
        self.account_id, self.currency = account_id, currency
        self.balance, self.position, self.movements = 0, 0, []

    def move(self, direction: str, amount: int, counterparty: str | None, at: timedelta) -> "History":
        self.balance += amount if direction == "credit" else -amount
        self.position += 1
        self.movements.append(
            Movement(
                account_id=self.account_id, direction=direction, amount=amount, currency=self.currency,
                balance_after=self.balance, counterparty=counterparty, transfer_id=f"t-{self.position}",
                occurred_at=START + at, global_position=self.position, transaction_id=self.position,
            )
        )  # fmt: skip
        return self

    def credit(self, amount: int, counterparty: str | None = "Employer", at: timedelta = timedelta()) -> "History":
        return self.move("credit", amount, counterparty, at)

    def debit(self, amount: int, counterparty: str | None = "Shop", at: timedelta = timedelta()) -> "History":
        return self.move("debit", amount, counterparty, at)

    def rules_fired(self, limits: FraudThresholds = LIMITS) -> list[str]:
        return [alert.rule for alert in judge_all(self.movements, limits)]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def salaried(days_of_history: int = 10) -> History:
    """An ordinary account: a salary, then a few everyday payments a day to the same few shops."""
    history = History().credit(300_000, "Employer")
    for day in range(days_of_history):
        for n, shop in enumerate(("Bakery", "Grocer", "Pharmacy")):
            history.debit(1_500 + 500 * n, shop, at=days(day) + hours(9 + 3 * n))
    return history


def test_an_ordinary_account_raises_nothing() -> None:
    assert salaried().rules_fired() == []


def test_velocity_many_payments_out_within_the_hour() -> None:
    history = salaried()
    for n in range(LIMITS.velocity_payments):
        history.debit(2_000, "Grocer", at=days(11) + minutes(5 * n))
    assert history.rules_fired() == ["velocity"]
    spread = salaried()
    for n in range(LIMITS.velocity_payments):
        spread.debit(2_000, "Grocer", at=days(11) + hours(2 * n))
    assert spread.rules_fired() == []


def test_a_payment_far_above_the_account_s_own_history() -> None:
    history = salaried().debit(50_000, "Grocer", at=days(11))
    assert history.rules_fired() == ["amount_above_history"]
    [alert] = judge_all(history.movements)
    assert alert.severity == "high" and alert.evidence["multiple"] > 2 * LIMITS.history_multiple
    too_young = History().credit(300_000).debit(1_000).debit(50_000, "Grocer", at=hours(1))
    assert "amount_above_history" not in too_young.rules_fired()


def test_a_large_share_of_the_balance_to_a_new_counterparty() -> None:
    history = salaried().debit(150_000, "Stranger Ltd", at=days(11))
    assert "new_counterparty_large" in history.rules_fired()
    known = salaried().debit(150_000, "Grocer", at=days(11))
    assert "new_counterparty_large" not in known.rules_fired()
    small = salaried().debit(8_000, "Stranger Ltd", at=days(11))
    assert small.rules_fired() == []


def test_structuring_just_below_the_reporting_threshold_from_different_senders() -> None:
    threshold = LIMITS.minor(LIMITS.reporting_threshold_major, "EUR")
    history = (
        salaried().credit(threshold - 1_000, "Sender A", at=days(11)).credit(threshold - 5, "Sender B", at=days(12))
    )
    assert history.rules_fired() == ["structuring"]
    at_the_threshold = salaried().credit(threshold, "Sender A", at=days(11)).credit(threshold, "Sender B", at=days(12))
    assert at_the_threshold.rules_fired() == []
    one_sender = (
        salaried().credit(threshold - 1, "Sender A", at=days(11)).credit(threshold - 1, "Sender A", at=days(12))
    )
    assert one_sender.rules_fired() == []


def test_card_testing_a_burst_of_tiny_payments_alerts_once() -> None:
    history = salaried()
    for n in range(25):
        history.debit(1 + n * 7, f"Web shop {n}", at=days(11) + timedelta(seconds=20 * n))
    assert history.rules_fired() == ["card_testing"]  # tiny payments are not velocity's
    alerts = judge_all(history.movements)
    assert alerts[0].evidence["payments"] == LIMITS.card_testing_payments


def test_a_dormant_account_sending_its_money_away() -> None:
    history = History().credit(800_000, "Opening deposit").debit(300_000, "Far Away Ltd", at=days(3))
    assert "dormant_reactivation" in history.rules_fired()
    active = History().credit(800_000).debit(1_000, "Shop", at=hours(1)).debit(300_000, "Far Away Ltd", at=days(3))
    assert "dormant_reactivation" not in active.rules_fired()


def test_money_in_and_straight_out_again() -> None:
    history = salaried().credit(400_000, "Friend", at=days(11)).debit(392_000, "Other", at=days(11) + minutes(8))
    assert "rapid_pass_through" in history.rules_fired()
    later = salaried().credit(400_000, "Friend", at=days(11)).debit(392_000, "Other", at=days(11) + hours(5))
    assert "rapid_pass_through" not in later.rules_fired()


def test_a_mule_many_payers_in_then_most_of_it_out() -> None:
    history = salaried()
    for n in range(5):
        history.credit(50_000, f"Payer {n}", at=days(11) + minutes(30 * n))
    history.debit(200_000, "Collector", at=days(11) + hours(4))
    assert "mule_fan_in_out" in history.rules_fired()
    few_payers = salaried()
    for n in range(2):
        few_payers.credit(50_000, f"Payer {n}", at=days(11) + minutes(30 * n))
    few_payers.debit(90_000, "Landlord", at=days(11) + hours(4))
    assert "mule_fan_in_out" not in few_payers.rules_fired()


def test_a_rule_is_quiet_on_an_account_for_a_while_after_it_fired() -> None:
    history = salaried()
    for n in range(3 * LIMITS.velocity_payments):
        history.debit(2_000, "Grocer", at=days(11) + minutes(3 * n))
    assert history.rules_fired() == ["velocity"]
    for n in range(LIMITS.velocity_payments):
        history.debit(2_000, "Grocer", at=days(12) + minutes(3 * n))
    assert history.rules_fired() == ["velocity", "velocity"]


def test_thresholds_are_configuration_and_scale_with_the_currency() -> None:
    yen = History(currency="JPY").credit(5_000_000).debit(1_999_999, "Stranger", at=hours(1))
    assert "new_counterparty_large" in yen.rules_fired()  # 500 major units of JPY = 500 minor units
    strict = FraudThresholds(new_counterparty_balance_share=0.5)
    assert "new_counterparty_large" not in yen.rules_fired(strict)


def test_the_profile_keeps_a_bounded_window_and_counterparty_memory() -> None:
    limits = FraudThresholds(profile_window=days(1), known_counterparties=3)
    profile = AccountProfile("acct-1")
    history = History()
    for n in range(10):
        history.credit(100, f"Party {n}", at=hours(6 * n))
    for movement in history.movements:
        judge(movement, profile, limits)
    assert list(profile.counterparties) == ["Party 7", "Party 8", "Party 9"]
    assert all(m.occurred_at >= START + hours(54) - days(1) for m in profile.recent)
    assert profile.balance == 1_000


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_every_rule_has_a_test_above(rule: str) -> None:
    tested = {
        "velocity", "amount_above_history", "new_counterparty_large", "structuring", "card_testing",
        "dormant_reactivation", "rapid_pass_through", "mule_fan_in_out",
    }  # fmt: skip
    assert rule in tested
