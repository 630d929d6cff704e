"""What the fraud rules remember about one account: its recent movements, balance, usual payments out, the
counterparties it knows, when it last moved, and when each rule last fired on it.

Built from the account's entries alone, so it can be rebuilt from the event store at any time (the detector does
that on start). Mutable on purpose: the detector updates one profile per entry, a thousand times a second.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

Direction = Literal["credit", "debit"]


@dataclass(frozen=True)
class Movement:
    """One entry on an account, as the rules see it (an AccountCredited or AccountDebited event)."""

    account_id: str
    direction: Direction
    amount: int  # minor units, positive
    currency: str
    balance_after: int
    counterparty: str | None
    transfer_id: str
    occurred_at: datetime
    global_position: int
    transaction_id: int

    @property
    def balance_before(self) -> int:
        return self.balance_after + (self.amount if self.direction == "debit" else -self.amount)


@dataclass
class AccountProfile:
    account_id: str
    balance: int = 0
    recent: deque[Movement] = field(default_factory=deque)  # oldest first, within the profile window
    payments_out: int = 0  # all of them, ever
    paid_out_total: int = 0
    last_moved_at: datetime | None = None
    counterparties: OrderedDict[str, None] = field(default_factory=OrderedDict)  # most recently seen last
    last_alert_at: dict[str, datetime] = field(default_factory=dict)

    @property
    def paid_out_ever(self) -> bool:
        return self.payments_out > 0

    @property
    def mean_payment_out(self) -> float:
        return self.paid_out_total / self.payments_out if self.payments_out else 0.0

    def knows(self, counterparty: str | None) -> bool:
        return counterparty is not None and counterparty in self.counterparties

    def within(self, movement: Movement, window: timedelta) -> list[Movement]:
        """The recent movements at most `window` before `movement` (by business time), oldest first."""
        since = movement.occurred_at - window
        return [earlier for earlier in self.recent if since <= earlier.occurred_at <= movement.occurred_at]

    def remember(self, movement: Movement, *, window: timedelta, counterparties: int) -> None:
        """Take the movement into the profile (after the rules have looked at it)."""
        self.balance = movement.balance_after
        self.recent.append(movement)
        horizon = max(movement.occurred_at, self.last_moved_at or movement.occurred_at) - window
        while self.recent and self.recent[0].occurred_at < horizon:
            self.recent.popleft()
        if movement.direction == "debit":
            self.payments_out += 1
            self.paid_out_total += movement.amount
        if movement.counterparty is not None:
            self.counterparties[movement.counterparty] = None
            self.counterparties.move_to_end(movement.counterparty)
            while len(self.counterparties) > counterparties:
                self.counterparties.popitem(last=False)
        if self.last_moved_at is None or movement.occurred_at > self.last_moved_at:
            self.last_moved_at = movement.occurred_at
