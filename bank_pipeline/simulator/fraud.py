"""Labelled fraud patterns, planned for the whole run up front and made into movements on their day.

Each instance uses accounts no other instance uses. Amounts that take money out of an account are a share of
its balance at the start of that day, and the account's ordinary debits are held back that day, so fraud rows
are always booked (never refused for want of funds) and every label names a real record.
"""

import math
from dataclasses import dataclass

import numpy as np

from bank_pipeline.simulator import names
from bank_pipeline.simulator.movements import Rows, combine, empty, movements
from bank_pipeline.simulator.population import Population
from bank_pipeline.simulator.profile import CARD, CURRENT, EUR, P2P, SEPA_IN, SEPA_OUT

PATTERNS = (
    "account_takeover", "mule_fan_in_out", "structuring", "card_testing", "dormant_reactivation",
    "rapid_pass_through",
)  # fmt: skip
ACCOUNT_TAKEOVER, MULE, STRUCTURING, CARD_TESTING, DORMANT, PASS_THROUGH = range(len(PATTERNS))
CUSTOMERS_PER_INSTANCE = 4_000  # instances of each pattern: one per this many customers, at least one
#: outside parties one instance may need as new counterparties or, for structuring, as senders.
FRESH_PARTIES_PER_INSTANCE = {ACCOUNT_TAKEOVER: 12, MULE: 4, STRUCTURING: 6, DORMANT: 4}
STRUCTURING_THRESHOLD = 10_000_00  # EUR cents: the reporting threshold the chunks stay under
CARD_TEST_PARTY = len(names.MERCHANTS)  # card party indices from here name names.CARD_TEST_MERCHANTS
HOUR = 3600


@dataclass(frozen=True)
class Instance:
    pattern: int
    day: int
    subject: int  # the account the labels name
    helpers: tuple[int, ...] = ()  # other accounts whose money it moves: mule payers, the pass-through source
    start: int = 0  # local second of the day it starts
    size: int = 0  # structuring: the chunks that day


class FraudPlan:
    def __init__(
        self, population: Population, days: int, rng: np.random.Generator, *, enabled: bool, fresh_parties: int
    ):
        """`fresh_parties`: the index of the first outside party reserved for fraud (never used otherwise)."""
        self.quiet = np.zeros(population.size, dtype=bool)  # dormant accounts: no ordinary traffic at all
        self.instances: dict[int, list[Instance]] = {}
        self._next_party = fresh_parties
        self._population = population
        if not enabled or days < 1:
            return
        per_pattern = max(1, round(len(population.customers) / CUSTOMERS_PER_INSTANCE))
        candidates = np.flatnonzero(
            (population.product == CURRENT) & (population.currency == EUR) & (population.opening_day == 0)
            & (population.debits_per_day < 10)
        )  # fmt: skip
        if len(candidates) == 0:
            return
        candidates = candidates[rng.permutation(len(candidates))]
        quiet_ones = population.debits_per_day[candidates] < np.quantile(population.debits_per_day[candidates], 0.3)
        # Takeover victims come first from the quiet ones; everyone else from the rest, each account used once.
        pools = {"quiet": list(candidates[quiet_ones]), "any": list(candidates[~quiet_ones])}

        def take(count: int, pool: str = "any") -> list[int]:
            taken = [int(pools[pool].pop()) for _ in range(min(count, len(pools[pool])))]
            if pool == "quiet" and len(taken) < count:
                taken += take(count - len(taken))
            return taken

        first = 1 if days > 1 else 0  # fraud starts once accounts have had their first day

        def some_day(low: int = first) -> int:
            return int(rng.integers(min(low, days - 1), days))

        for subject in take(per_pattern, "quiet"):
            self._add(Instance(ACCOUNT_TAKEOVER, some_day(), subject, start=int(rng.integers(8 * HOUR, 21 * HOUR))))
        for _ in range(per_pattern):
            group = take(1 + int(rng.integers(5, 16)))
            if len(group) >= 3:
                self._add(Instance(MULE, some_day(), group[0], tuple(group[1:]), int(rng.integers(8, 16) * HOUR)))
        for subject in take(per_pattern):
            first_day, chunks = some_day(0), int(rng.integers(3, 7))
            chunk_days = np.minimum(first_day + rng.integers(0, 4, chunks), days - 1)
            for day, size in zip(*np.unique(chunk_days, return_counts=True), strict=True):
                self._add(Instance(STRUCTURING, int(day), subject, size=int(size)))
        for subject in take(per_pattern):
            self._add(Instance(CARD_TESTING, some_day(), subject, start=int(rng.integers(0, 23 * HOUR))))
        for subject in take(per_pattern):
            self.quiet[subject] = True
            day = some_day(max(first, math.ceil(0.7 * days)))
            self._add(Instance(DORMANT, day, subject, start=int(rng.integers(9 * HOUR, 18 * HOUR))))
        for _ in range(per_pattern):
            pair = take(2)
            if len(pair) == 2:
                self._add(Instance(PASS_THROUGH, some_day(), pair[0], (pair[1],), int(rng.integers(6, 22) * HOUR)))

    @staticmethod
    def fresh_parties_needed(customers: int, enabled: bool) -> int:
        per_pattern = max(1, round(customers / CUSTOMERS_PER_INSTANCE)) if enabled else 0
        return per_pattern * sum(FRESH_PARTIES_PER_INSTANCE.values())

    def _add(self, instance: Instance) -> None:
        self.instances.setdefault(instance.day, []).append(instance)

    def paying_accounts(self, day: int) -> np.ndarray:
        """Accounts whose money fraud moves out on `day`: their ordinary debits are held back that day."""
        paying = np.zeros(self._population.size, dtype=bool)
        for instance in self.instances.get(day, ()):
            if instance.pattern != STRUCTURING:
                paying[[instance.subject, *instance.helpers]] = True
        return paying

    def movements(self, day: int, balances: np.ndarray, recipients: np.ndarray, rng: np.random.Generator) -> Rows:
        """The day's fraud rows. `balances`: available balances at the start of the day; `recipients`: accounts
        that may receive p2p transfers today."""
        made = {
            ACCOUNT_TAKEOVER: self._account_takeover,
            MULE: self._mule,
            STRUCTURING: self._structuring,
            CARD_TESTING: self._card_testing,
            DORMANT: self._dormant,
            PASS_THROUGH: self._pass_through,
        }
        return combine([made[each.pattern](each, balances, recipients, rng) for each in self.instances.get(day, ())])

    # -- the patterns ---------------------------------------------------------------------------------------------

    def _account_takeover(self, instance: Instance, balances, recipients, rng) -> Rows:
        """A quiet account suddenly sends many transfers to new counterparties within an hour."""
        count = int(rng.integers(5, 13))
        amounts = _split(max(int(balances[instance.subject]), 0) * 6 // 10, count, rng)
        seconds = instance.start + np.sort(rng.integers(0, HOUR, len(amounts)))
        return self._transfers_out(instance, amounts, seconds, recipients, rng, p2p_share=0.6)

    def _mule(self, instance: Instance, balances, recipients, rng) -> Rows:
        """Many accounts pay one account, which forwards nearly all of it to a few others within hours."""
        payers = np.array(instance.helpers, dtype=np.int32)
        amounts = np.minimum(rng.integers(150, 990, len(payers)) * 100, balances[payers] // 2)
        keep = amounts >= 100
        payers, amounts = payers[keep], amounts[keep]
        if len(payers) == 0:
            return empty()
        seconds = instance.start + np.sort(rng.integers(0, 3 * HOUR, len(payers)))
        fan_in = movements(
            P2P, payers, seconds, amounts, counter=np.full(len(payers), instance.subject),
            memo=rng.integers(0, len(names.P2P_MEMOS), len(payers)), **_label(instance, len(payers)),
        )  # fmt: skip
        forwards = _split(int(amounts.sum()) * 9 // 10, int(rng.integers(2, 5)), rng)
        forward_seconds = int(seconds.max()) + np.sort(rng.integers(10 * 60, 2 * HOUR, len(forwards)))
        fan_out = self._transfers_out(instance, forwards, forward_seconds, recipients, rng, p2p_share=0.5)
        return combine([fan_in, fan_out])

    def _structuring(self, instance: Instance, balances, recipients, rng) -> Rows:
        """Inbound transfers just under the reporting threshold, from different senders, over a few days."""
        count = instance.size
        return movements(
            SEPA_IN,
            np.full(count, instance.subject),
            rng.integers(8 * HOUR, 18 * HOUR, count),
            rng.integers(STRUCTURING_THRESHOLD * 9 // 10, STRUCTURING_THRESHOLD, count),
            party=self._fresh_parties(count),
            memo=rng.integers(0, len(names.SEPA_MEMOS), count),
            **_label(instance, count),
        )

    def _card_testing(self, instance: Instance, balances, recipients, rng) -> Rows:
        """A burst of tiny card payments (1-199 cents) within minutes."""
        count = int(rng.integers(10, 31))
        seconds = np.minimum(instance.start + np.cumsum(rng.integers(3, 30, count)), 24 * HOUR - 1)
        return movements(
            CARD,
            np.full(count, instance.subject),
            seconds,
            rng.integers(1, 200, count),
            party=CARD_TEST_PARTY + rng.integers(0, len(names.CARD_TEST_MERCHANTS), count),
            **_label(instance, count),
        )

    def _dormant(self, instance: Instance, balances, recipients, rng) -> Rows:
        """An account untouched since its opening deposit suddenly sends most of its money away."""
        count = int(rng.integers(2, 5))
        amounts = _split(max(int(balances[instance.subject]), 0) * 85 // 100, count, rng)
        seconds = instance.start + np.sort(rng.integers(0, 4 * HOUR, len(amounts)))
        return self._transfers_out(instance, amounts, seconds, recipients, rng, p2p_share=0.3)

    def _pass_through(self, instance: Instance, balances, recipients, rng) -> Rows:
        """Money in and straight out again within minutes."""
        (source,) = instance.helpers
        amount = max(int(balances[source]), 0) // 2
        if amount < 100:
            return empty()
        recipient = _others(np.array([instance.subject, source]), recipients, 1, rng)
        if len(recipient) == 0:
            return empty()
        out_at = instance.start + int(rng.integers(60, 600))
        return movements(
            P2P,
            np.array([source, instance.subject]),
            np.array([instance.start, out_at]),
            np.array([amount, amount * 98 // 100]),
            counter=np.array([instance.subject, recipient[0]]),
            memo=rng.integers(0, len(names.P2P_MEMOS), 2),
            **_label(instance, 2),
        )

    def _transfers_out(self, instance, amounts, seconds, recipients, rng, *, p2p_share: float) -> Rows:
        """Transfers from the subject to new counterparties: p2p to accounts it never paid, SEPA to fresh outside
        parties."""
        count = len(amounts)
        if count == 0:
            return empty()
        p2p = rng.random(count) < p2p_share
        counter = _others(np.array([instance.subject]), recipients, int(p2p.sum()), rng)
        p2p[np.flatnonzero(p2p)[len(counter) :]] = False  # no one to pay: those go out by SEPA instead
        subject = np.full(count, instance.subject)
        parts = [
            movements(
                P2P, subject[p2p], seconds[p2p], amounts[p2p], counter=counter,
                memo=rng.integers(0, len(names.P2P_MEMOS), int(p2p.sum())), **_label(instance, int(p2p.sum())),
            ),
            movements(
                SEPA_OUT, subject[~p2p], seconds[~p2p], amounts[~p2p], party=self._fresh_parties(int((~p2p).sum())),
                memo=rng.integers(0, len(names.SEPA_MEMOS), int((~p2p).sum())), **_label(instance, int((~p2p).sum())),
            ),
        ]  # fmt: skip
        return combine(parts)

    def _fresh_parties(self, count: int) -> np.ndarray:
        first, self._next_party = self._next_party, self._next_party + count
        return np.arange(first, first + count, dtype=np.int32)


def _label(instance: Instance, count: int) -> dict[str, np.ndarray]:
    return {"pattern": np.full(count, instance.pattern), "subject": np.full(count, instance.subject)}


def _split(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """`total` minor units in `parts` uneven positive integer parts (fewer when there is too little money)."""
    parts = min(parts, total // 100)
    if parts <= 0:
        return np.zeros(0, dtype=np.int64)
    weights = rng.integers(50, 150, parts).astype(np.int64)
    shares = total * weights // weights.sum()
    return shares[shares > 0]


def _others(excluded: np.ndarray, pool: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct accounts of `pool` that are not in `excluded` (fewer when the pool is too small)."""
    if count == 0 or len(pool) == 0:
        return np.zeros(0, dtype=np.int32)
    picks = pool[rng.integers(0, len(pool), min(len(pool), count * 2 + len(excluded)))]
    picks = picks[~np.isin(picks, excluded)]
    _, first_seen = np.unique(picks, return_index=True)
    return picks[np.sort(first_seen)][:count].astype(np.int32)
