"""The fraud rules on hand-made account histories: each fires on its pattern, stays silent on the ordinary
look-alike next to it, and fires once per episode."""

from datetime import UTC, datetime, timedelta

import pytest

from bank_pipeline.domain.fraud import (
    RULE_NAMES,
    AccountProfile,
    BalanceChange,
    FraudThresholds,
    Movement,
    judge,
    judge_all,
    observe,
)

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LIMITS = FraudThresholds()


class History:
    """One account's events, each movement with the balance after it, in stream order."""

    def __init__(self, account_id: str = "acct-1", currency: str = "EUR"):
        self.account_id, self.currency = account_id, currency
        self.balance, self.position, self.events = 0, 0, []

    @property
    def movements(self) -> list[Movement]:
        return [event for event in self.events if isinstance(event, Movement)]

    def move(
        self, direction: str, amount: int, counterparty: str | None, at: timedelta, *, account: bool = False,
        requested: bool = False, transfer_id: str | None = None,
    ) -> "History":  # fmt: skip
        if not requested:
            self.balance += amount if direction == "credit" else -amount
        self.position += 1
        self.events.append(
            Movement(
                account_id=self.account_id, direction=direction, amount=amount, currency=self.currency,
                balance_after=None if requested else self.balance, counterparty=counterparty,
                transfer_id=transfer_id or f"t-{self.position}", occurred_at=START + at,
                global_position=self.position, transaction_id=self.position, with_account=account,
            )
        )  # fmt: skip
        return self

    def credit(self, amount: int, counterparty: str | None = "Employer", at: timedelta = timedelta()) -> "History":
        return self.move("credit", amount, counterparty, at)

    def debit(self, amount: int, counterparty: str | None = "Shop", at: timedelta = timedelta()) -> "History":
        return self.move("debit", amount, counterparty, at)

    def receive(self, amount: int, payer: str, at: timedelta = timedelta()) -> "History":
        """A transfer in from another bank account."""
        return self.move("credit", amount, payer, at, account=True)

    def transfer(self, amount: int, payee: str, at: timedelta = timedelta()) -> "History":
        """A transfer out to another bank account, booked at once (within the bank)."""
        return self.move("debit", amount, payee, at, account=True)

    def request(self, amount: int, payee: str, transfer_id: str, at: timedelta = timedelta()) -> "History":
        """A transfer out to another bank, judged when requested, with the hold on its funds."""
        self.move("debit", amount, payee, at, account=True, requested=True, transfer_id=transfer_id)
        self.events.append(BalanceChange(self.account_id, held=amount))
        return self

    def settle(self, transfer_id: str, at: timedelta) -> "History":
        [requested] = [m for m in self.movements if m.transfer_id == transfer_id and m.requested]
        self.events.append(BalanceChange(self.account_id, held=-requested.amount))
        return self.move("debit", requested.amount, requested.counterparty, at, account=True, transfer_id=transfer_id)

    def rules_fired(self, limits: FraudThresholds = LIMITS) -> list[str]:
        return [alert.rule for alert in judge_all(self.events, limits)]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def salaried(days_of_history: int = 10, salary: int = 1_000_000) -> History:
    """An ordinary account: a salary, then a few everyday payments a day to the same few shops."""
    history = History().credit(salary, "Employer")
    for day in range(days_of_history):
        for n, shop in enumerate(("Bakery", "Grocer", "Pharmacy")):
            history.debit(1_500 + 500 * n, shop, at=days(day) + hours(9 + 3 * n))
    return history


def iban(n: int) -> str:
    return f"DE{n:020d}"


def test_an_ordinary_account_raises_nothing() -> None:
    assert salaried().rules_fired() == []


def test_velocity_many_more_payments_out_than_usual_paying_away_a_good_part_of_the_money() -> None:
    history = salaried()
    for n in range(LIMITS.velocity_payments):
        history.debit(60_000, "Grocer", at=days(11) + minutes(5 * n))
    assert history.rules_fired() == ["velocity"]
    spread = salaried()
    for n in range(LIMITS.velocity_payments):
        spread.debit(60_000, "Grocer", at=days(11) + hours(2 * n))
    assert spread.rules_fired() == []
    small = salaried()
    for n in range(LIMITS.velocity_payments):
        small.debit(2_000, "Grocer", at=days(11) + minutes(5 * n))
    assert small.rules_fired() == []  # a busy hour of shopping is not a drained account


def test_velocity_is_relative_to_the_account_s_own_rhythm() -> None:
    busy = History().credit(10_000_000, "Employer")
    for day in range(5):
        for n in range(48):  # two payments an hour, every day
            busy.debit(3_000, "Grocer", at=days(day) + minutes(30 * n))
    for n in range(8):
        busy.debit(400_000, "Grocer", at=days(5) + minutes(6 * n))
    limits = FraudThresholds(velocity_balance_share=0.0)
    assert "velocity" not in busy.rules_fired(limits)  # 8 in an hour: 4x its usual, not 10x
    young = History().credit(1_000_000)
    for n in range(LIMITS.velocity_payments):
        young.debit(60_000, "Grocer", at=hours(2) + minutes(5 * n))
    assert young.rules_fired() == []  # no baseline yet on its first day


def test_a_payment_far_above_the_account_s_own_history() -> None:
    history = salaried().debit(600_000, "Grocer", at=days(11))
    assert history.rules_fired() == ["amount_above_history"]
    [alert] = judge_all(history.movements)
    assert alert.evidence["multiple"] > LIMITS.history_multiple
    too_young = History().credit(1_000_000).debit(1_000).debit(600_000, "Grocer", at=hours(1))
    assert "amount_above_history" not in too_young.rules_fired()
    small_part = salaried(salary=10_000_000).debit(600_000, "Grocer", at=days(11))
    assert small_part.rules_fired() == []  # far above its usual, but a small part of what it has


def test_most_of_the_money_to_several_new_payees() -> None:
    history = salaried().transfer(300_000, iban(1), at=days(11)).transfer(250_000, iban(2), at=days(11) + hours(3))
    assert history.rules_fired() == ["new_counterparty_large"]
    [alert] = judge_all(history.movements)
    assert alert.evidence["payments"] == 2 and alert.evidence["paid"] == 550_000
    one_large = salaried().transfer(700_000, iban(1), at=days(11))
    assert "new_counterparty_large" not in one_large.rules_fired()  # a first rent, a car: one payment is ordinary
    known = salaried().transfer(1_000, iban(1), at=days(1)).transfer(1_000, iban(2), at=days(2))
    known.transfer(300_000, iban(1), at=days(11)).transfer(250_000, iban(2), at=days(11) + hours(3))
    assert known.rules_fired() == []
    shops = salaried().debit(300_000, "Car dealer", at=days(11)).debit(250_000, "Furniture", at=days(11) + hours(3))
    assert "new_counterparty_large" not in shops.rules_fired()  # merchants are not payees


def test_structuring_just_below_the_reporting_threshold_from_different_senders() -> None:
    threshold = LIMITS.minor(LIMITS.reporting_threshold_major, "EUR")
    history = (
        salaried().credit(threshold - 1_000, "Sender A", at=days(11)).credit(threshold - 5, "Sender B", at=days(12))
    )
    assert history.rules_fired() == []  # twice may be chance
    history.credit(threshold - 300, "Sender C", at=days(13))
    assert history.rules_fired() == ["structuring"]
    at_the_threshold = salaried()
    for n in range(3):
        at_the_threshold.credit(threshold, f"Sender {n}", at=days(11 + n))
    assert at_the_threshold.rules_fired() == []
    one_sender = salaried()
    for n in range(3):
        one_sender.credit(threshold - 1, "Sender A", at=days(11 + n))
    assert one_sender.rules_fired() == []


def test_card_testing_a_burst_of_tiny_payments_alerts_once() -> None:
    history = salaried()
    for n in range(25):
        history.debit(1 + n * 7, f"Web shop {n}", at=days(11) + timedelta(seconds=20 * n))
    assert history.rules_fired() == ["card_testing"]  # tiny payments are not velocity's
    alerts = judge_all(history.movements)
    assert alerts[0].evidence["payments"] == LIMITS.card_testing_payments


def test_card_testing_is_relative_to_the_account_s_own_rhythm() -> None:
    kiosk = History().credit(1_000_000, "Owner")
    for day in range(5):
        for n in range(400):  # a payment every 3.6 minutes, day and night, many of them tiny
            kiosk.debit(150 if n % 2 else 900, "Wholesaler", at=days(day) + timedelta(seconds=216 * n))
    for n in range(10):
        kiosk.debit(100, "Wholesaler", at=days(5) + timedelta(seconds=30 * n))
    assert "card_testing" not in kiosk.rules_fired()


def test_a_dormant_account_sending_its_money_away() -> None:
    history = History().credit(800_000, "Opening deposit")
    history.transfer(300_000, iban(1), at=days(4)).transfer(200_000, iban(2), at=days(4) + hours(2))
    assert "dormant_reactivation" in history.rules_fired()
    one_payment = History().credit(800_000).transfer(500_000, iban(1), at=days(4))
    assert "dormant_reactivation" not in one_payment.rules_fired()
    active = History().credit(800_000).debit(1_000, "Shop", at=hours(1))
    active.transfer(300_000, iban(1), at=days(4)).transfer(200_000, iban(2), at=days(4) + hours(2))
    assert "dormant_reactivation" not in active.rules_fired()
    bills = History().credit(800_000).debit(300_000, "Landlord", at=days(4)).debit(200_000, "Dentist", at=days(4))
    assert "dormant_reactivation" not in bills.rules_fired()


def test_money_in_and_straight_out_again() -> None:
    history = salaried().credit(400_000, "Friend", at=days(11)).debit(392_000, "Other", at=days(11) + minutes(8))
    assert "rapid_pass_through" in history.rules_fired()
    later = salaried().credit(400_000, "Friend", at=days(11)).debit(392_000, "Other", at=days(11) + hours(5))
    assert "rapid_pass_through" not in later.rules_fired()


def test_a_mule_many_new_payers_in_then_most_of_it_out() -> None:
    history = salaried()
    for n in range(5):
        history.receive(50_000, iban(n), at=days(11) + minutes(30 * n))
    history.transfer(200_000, iban(99), at=days(11) + hours(10))
    assert "mule_fan_in_out" in history.rules_fired()
    few_payers = salaried()
    for n in range(2):
        few_payers.receive(50_000, iban(n), at=days(11) + minutes(30 * n))
    few_payers.transfer(90_000, iban(99), at=days(11) + hours(4))
    assert "mule_fan_in_out" not in few_payers.rules_fired()
    kept = salaried()
    for n in range(5):
        kept.receive(50_000, iban(n), at=days(11) + minutes(30 * n))
    kept.transfer(20_000, iban(99), at=days(11) + hours(4))
    assert "mule_fan_in_out" not in kept.rules_fired()


def test_an_outbound_transfer_is_judged_when_requested_and_not_again_when_it_settles() -> None:
    history = salaried()
    history.request(300_000, iban(1), "out-1", at=days(11)).request(250_000, iban(2), "out-2", at=days(11))
    alerts = judge_all(history.events)
    assert [(a.rule, a.transfer_id if hasattr(a, "transfer_id") else a.global_position) for a in alerts] == [
        ("new_counterparty_large", history.movements[-1].global_position)
    ]
    history.settle("out-1", at=days(12)).settle("out-2", at=days(12) + hours(1))
    assert [a.global_position for a in judge_all(history.events)] == [a.global_position for a in alerts]
    profile = AccountProfile("acct-1")
    for event in history.events:
        observe(event, profile, LIMITS)
    assert profile.awaiting_settlement == set() and profile.held == 0 and profile.balance == history.balance
    assert profile.payments_out == 30 + 2  # each transfer counted once, when requested


def test_a_held_amount_is_not_money_the_account_can_use() -> None:
    history = salaried()
    history.events.append(BalanceChange("acct-1", held=800_000))  # e.g. a card authorisation
    history.transfer(60_000, iban(1), at=days(11)).transfer(40_000, iban(2), at=days(11) + hours(1))
    assert history.rules_fired() == ["new_counterparty_large"]  # 100k of the 155k it could use
    assert salaried().transfer(60_000, iban(1), at=days(11)).transfer(40_000, iban(2), at=days(11)).rules_fired() == []


def test_a_rule_is_quiet_on_an_account_for_a_while_after_it_fired() -> None:
    history = salaried()
    for n in range(LIMITS.velocity_payments):
        history.debit(60_000, "Grocer", at=days(11) + minutes(3 * n))
    for n in range(2 * LIMITS.velocity_payments):
        history.debit(30_000, "Grocer", at=days(11) + minutes(20 + 3 * n))
    assert history.rules_fired() == ["velocity"]
    for n in range(LIMITS.velocity_payments):
        history.debit(20_000, "Grocer", at=days(12) + minutes(3 * n))
    assert history.rules_fired() == ["velocity", "velocity"]


def test_thresholds_are_configuration_and_scale_with_the_currency() -> None:
    yen = History(currency="JPY").credit(5_000_000).transfer(1_400_000, iban(1), at=hours(1))
    yen.transfer(1_400_000, iban(2), at=hours(2))
    assert "new_counterparty_large" in yen.rules_fired()  # 100 major units of JPY = 100 minor units
    strict = FraudThresholds(new_counterparty_balance_share=0.6)
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
