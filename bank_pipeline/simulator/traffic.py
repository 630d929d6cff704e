"""A day of ordinary traffic, drawn in bulk: opening deposits, salaries, card payments, bills, p2p transfers,
outbound and inbound SEPA transfers.

Counts are Poisson per account and channel, scaled by the weekday; amounts are lognormal around what the
account can afford (its spending budget spread over its expected debits), so money stays mostly available.
Random draws are floats; amounts become integer minor units as soon as they are drawn.
"""

from dataclasses import dataclass
from datetime import date

import numpy as np

from bank_pipeline.simulator import names, profile
from bank_pipeline.simulator.movements import Rows, combine, movements
from bank_pipeline.simulator.population import Population
from bank_pipeline.simulator.profile import BILL, CARD, CURRENT, EUR, P2P, SALARY, SAVINGS, SEPA_IN, SEPA_OUT

#: memo of a salary row: the monthly salary or the deposit that opens the account.
SALARY_MEMO, OPENING_MEMO = 0, 1


@dataclass(frozen=True)
class DayContext:
    number: int  # 0 for the first simulated day
    day: date
    outside_parties: int  # the size of the pool of outside counterparties ordinary traffic pays and is paid by


def salary_day(day: date) -> bool:
    """Salaries arrive on SALARY_DAY_OF_MONTH, or on the Friday before when that is a weekend."""
    if day.weekday() >= 5:
        return False
    payday = day.replace(day=profile.SALARY_DAY_OF_MONTH)
    while payday.weekday() >= 5:
        payday = payday.replace(day=payday.day - 1)
    return day == payday


def ordinary_traffic(
    population: Population, context: DayContext, active: np.ndarray, no_debits: np.ndarray, rng: np.random.Generator
) -> Rows:
    """The day's ordinary movements. `active`: accounts open and taking part in ordinary traffic today;
    `no_debits`: accounts whose ordinary debits are left out today (fraud moves their money)."""
    frames = [_opening_deposits(population, context)]
    if salary_day(context.day):
        frames.append(_salaries(population, context, active, rng))
    spending = active & ~no_debits
    weekday = context.day.weekday()
    rate_scale = _debit_rate_shares(population)
    recipients = np.flatnonzero(active & (population.currency == EUR))
    for channel in (CARD, BILL, P2P, SEPA_OUT):
        rate = population.debits_per_day * rate_scale[channel] * profile.WEEKDAY_FACTORS[channel][weekday]
        frames.append(_debits(population, context, channel, np.where(spending, rate, 0.0), recipients, rng))
    frames.append(_inbound(population, context, active, weekday, rng))
    return combine(frames)


def _debit_rate_shares(population: Population) -> dict[int, np.ndarray]:
    """Each channel's share of an account's debits: current EUR accounts use them all, current accounts in other
    currencies only cards, savings accounts only p2p transfers."""
    current_eur = (population.product == CURRENT) & (population.currency == EUR)
    foreign = (population.product == CURRENT) & (population.currency != EUR)
    savings = population.product == SAVINGS
    shares = {channel: np.where(current_eur, share, 0.0) for channel, share in profile.DEBIT_COUNT_SHARES.items()}
    shares[CARD] = np.where(foreign, 1.0, shares[CARD])
    shares[P2P] = np.where(savings, 1.0, shares[P2P])
    return shares


def _mean_amounts(population: Population, channel: int, accounts: np.ndarray) -> np.ndarray:
    """The mean amount of one debit, so that an account's debits add up to its spending budget."""
    income = population.monthly_income[accounts].astype(np.float64)
    daily_budget = np.where(
        population.product[accounts] == SAVINGS,
        population.opening_deposit[accounts] * profile.SAVINGS_SPENT_PER_DAY,
        income * profile.SPENT_SHARE_OF_INCOME / 30,
    )
    per_debit = daily_budget / population.debits_per_day[accounts]
    current_eur = (population.product[accounts] == CURRENT) & (population.currency[accounts] == EUR)
    spend_per_count = profile.DEBIT_SPEND_SHARES[channel] / profile.DEBIT_COUNT_SHARES[channel]
    return per_debit * np.where(current_eur, spend_per_count, 1.0)


def _draw_amounts(mean: np.ndarray, sigma: float, rng: np.random.Generator, *, whole_units: bool = False):
    """Lognormal amounts with the given means, as integer minor units of at least 1 (or 1.00 in whole units)."""
    draw = mean * rng.lognormal(-(sigma**2) / 2, sigma, len(mean))
    if whole_units:
        return np.maximum(np.rint(draw / 100), 1).astype(np.int64) * 100
    return np.maximum(np.rint(draw), 1).astype(np.int64)


def local_seconds(channel: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Local seconds of the day, drawn by the channel's daily rhythm."""
    hours = np.searchsorted(profile.HOURLY_CUMULATIVE[channel], rng.random(count), side="right")
    return (hours * 3600 + rng.integers(0, 3600, count)).astype(np.int32)


def _opening_deposits(population: Population, context: DayContext) -> Rows:
    opened = np.flatnonzero(population.opening_day == context.number).astype(np.int32)
    return movements(
        SALARY,
        opened,
        np.zeros(len(opened), dtype=np.int32),  # 00:00:00: before anything else the account does that day
        population.opening_deposit[opened],
        party=population.employer[opened],
        memo=np.full(len(opened), OPENING_MEMO),
    )


def _salaries(population: Population, context: DayContext, active: np.ndarray, rng: np.random.Generator) -> Rows:
    paid = np.flatnonzero(active & (population.monthly_income > 0) & (population.opening_day < context.number)).astype(
        np.int32
    )
    return movements(
        SALARY,
        paid,
        local_seconds(SALARY, len(paid), rng),
        population.monthly_income[paid],
        party=population.employer[paid],
        memo=np.full(len(paid), SALARY_MEMO),
    )


def _debits(
    population: Population,
    context: DayContext,
    channel: int,
    rate: np.ndarray,
    recipients: np.ndarray,
    rng: np.random.Generator,
) -> Rows:
    counts = rng.poisson(rate)
    accounts = np.repeat(np.arange(population.size, dtype=np.int32), counts)
    amounts = _draw_amounts(
        _mean_amounts(population, channel, accounts), profile.AMOUNT_SIGMA[channel], rng, whole_units=channel == P2P
    )
    seconds = local_seconds(SEPA_IN if channel == SEPA_OUT else channel, len(accounts), rng)
    if channel == P2P:
        counter = _other_accounts(accounts, recipients, rng)
        keep = counter >= 0
        return movements(
            P2P, accounts[keep], seconds[keep], amounts[keep], counter=counter[keep],
            memo=rng.integers(0, len(names.P2P_MEMOS), int(keep.sum())),
        )  # fmt: skip
    if channel == SEPA_OUT:
        return movements(
            SEPA_OUT, accounts, seconds, amounts, party=_popular(context.outside_parties, len(accounts), rng),
            memo=rng.integers(0, len(names.SEPA_MEMOS), len(accounts)),
        )  # fmt: skip
    pool = names.MERCHANTS if channel == CARD else names.BILLERS
    return movements(channel, accounts, seconds, amounts, party=_popular(len(pool), len(accounts), rng))


def _inbound(
    population: Population, context: DayContext, active: np.ndarray, weekday: int, rng: np.random.Generator
) -> Rows:
    """Inbound SEPA transfers from outside: to current EUR accounts, in proportion to their activity."""
    receiving = active & (population.product == CURRENT) & (population.currency == EUR)
    rate = population.debits_per_day * profile.INBOUND_PER_DEBIT * profile.WEEKDAY_FACTORS[SEPA_IN][weekday]
    counts = rng.poisson(np.where(receiving, rate, 0.0))
    accounts = np.repeat(np.arange(population.size, dtype=np.int32), counts)
    mean = population.monthly_income[accounts] * profile.INBOUND_MEAN_SHARE_OF_INCOME
    return movements(
        SEPA_IN,
        accounts,
        local_seconds(SEPA_IN, len(accounts), rng),
        _draw_amounts(mean, profile.AMOUNT_SIGMA[SEPA_IN], rng, whole_units=True),
        party=_popular(context.outside_parties, len(accounts), rng),
        memo=rng.integers(0, len(names.SEPA_MEMOS), len(accounts)),
    )


def _other_accounts(accounts: np.ndarray, pool: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random account of `pool` for each of `accounts`, never the account itself; -1 when the pool has no
    other account."""
    if len(pool) < 2:
        return np.full(len(accounts), -1, dtype=np.int32)
    picks = rng.integers(0, len(pool), len(accounts))
    chosen = pool[picks]
    # Picking yourself moves the pick to the pool's next account: still uniform over the others.
    chosen = np.where(chosen == accounts, pool[(picks + 1) % len(pool)], chosen)
    return chosen.astype(np.int32)


def _popular(size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into a pool of `size`, skewed so that low indices (popular shops, payees) come up far more often."""
    return (size * rng.random(count) ** 2).astype(np.int32)
