"""Balances carried from day to day, so that the bank we write never asks the domain for money that is not there.

Ordinary traffic is drawn around each account's budget; the few debits that would still take an account below
its overdraft limit (in the order ingestion books them) are left out, as if the card terminal had declined.
Fraud rows are never left out: their amounts were sized from the start-of-day balance of accounts whose
ordinary debits were held back that day.
"""

import numpy as np

from bank_pipeline.simulator.movements import DEBIT_CHANNELS, Rows, size
from bank_pipeline.simulator.profile import P2P

#: each pass leaves out the first overdrawing debit of each account (the later ones may fit once it is gone);
#: past this many passes, all of them at once
MAX_PASSES = 20


class Ledger:
    def __init__(self, opening_balances: np.ndarray, overdraft_limits: np.ndarray):
        self.balances = opening_balances.astype(np.int64).copy()  # available: holds count as spent
        self.floor = -overdraft_limits.astype(np.int64)

    def book(self, day: Rows) -> Rows:
        """The rows of `day` (in booking order) that keep every account at or above its floor; the balances are
        updated by them. Rows count in booking order: a credit later in the day does not pay for an earlier
        debit."""
        count = size(day)
        if count == 0:
            return day
        channel, account, amount = day["channel"], day["account"], day["amount"]
        protected = day["pattern"] >= 0
        debit = np.isin(channel, DEBIT_CHANNELS)
        transfers = np.flatnonzero(channel == P2P)

        # Legs: one per row on its account, plus the credit leg of each p2p transfer on its recipient.
        leg_row = np.concatenate([np.arange(count), transfers])
        leg_account = np.concatenate([account, day["counter"][transfers]]).astype(np.int64)
        leg_delta = np.concatenate([np.where(debit, -amount, amount), amount[transfers]])
        removable = np.concatenate([debit & ~protected, np.zeros(len(transfers), dtype=bool)])
        by_account = np.argsort((leg_account << 32) | leg_row)  # booking order within each account
        leg_row, leg_account = leg_row[by_account], leg_account[by_account]
        leg_delta, removable = leg_delta[by_account], removable[by_account]
        starts = np.flatnonzero(np.r_[True, leg_account[1:] != leg_account[:-1]])
        lengths = np.diff(np.r_[starts, len(leg_account)])
        opening = self.balances[leg_account]
        floor = self.floor[leg_account]

        kept = np.ones(count, dtype=bool)
        passes = 0
        while True:
            delta = np.where(kept[leg_row], leg_delta, 0)
            running = np.cumsum(delta)
            before_account = np.repeat(running[starts] - delta[starts], lengths)
            overdrawn = np.flatnonzero(removable & kept[leg_row] & (opening + running - before_account < floor))
            if len(overdrawn) == 0:
                break
            passes += 1
            if passes <= MAX_PASSES:  # legs are in account order: the first of each account is its earliest
                _, first = np.unique(leg_account[overdrawn], return_index=True)
                overdrawn = overdrawn[first]
            kept[leg_row[overdrawn]] = False
        delta = np.where(kept[leg_row], leg_delta, 0)
        self.balances[leg_account[starts]] += np.add.reduceat(delta, starts)
        return {name: column[kept] for name, column in day.items()}
