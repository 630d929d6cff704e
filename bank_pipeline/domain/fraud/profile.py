"""What the fraud rules remember about one account: its recent movements, the money it can use, its usual
payments out, the counterparties it knows, when it last moved, and when each rule last fired on it.

Built from the account's events alone, so it can be rebuilt from the event store at any time (the detector does
that on start). Mutable on purpose: the detector updates one profile per event, a thousand times a second.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

Direction = Literal["credit", "debit"]


@dataclass(frozen=True)
class Movement:
    """Money moving on an account, as the rules judge it: an entry (AccountCredited, AccountDebited), or an
    outbound transfer when it is *requested*. A transfer to another bank is judged at request time, while it can
    still be stopped; its debit a day later, at settlement, is only a BalanceChange."""

    account_id: str
    direction: Direction
    amount: int  # minor units, positive
    currency: str
    balance_after: int | None  # the booked balance after an entry; None for a request (nothing is booked yet)
    counterparty: str | None
    transfer_id: str
    occurred_at: datetime
    global_position: int
    transaction_id: int
    #: the counterparty is a bank account (a credit transfer), not a card merchant or a biller: only accounts are
    #: "payees" a fraudster can add, so only they count as new counterparties and mule payers
    with_account: bool = False

    @property
    def requested(self) -> bool:
        return self.balance_after is None


@dataclass(frozen=True)
class BalanceChange:
    """An event that changes what an account can spend without being judged: a hold placed or released."""

    account_id: str
    held: int  # the change in money held (positive when a hold is placed)
    abandoned_transfer: str | None = None  # a requested transfer that will never settle (rejected or expired)


@dataclass
class AccountProfile:
    account_id: str
    balance: int = 0  # booked
    held: int = 0  # under holds: the account can use balance - held
    first_seen_at: datetime | None = None
    recent: deque[Movement] = field(default_factory=deque)  # oldest first, within the profile window
    payments_out: int = 0  # all of them, ever
    paid_out_total: int = 0
    last_moved_at: datetime | None = None
    counterparties: OrderedDict[str, None] = field(default_factory=OrderedDict)  # most recently seen last
    #: recent movements with a counterparty the account had never dealt with, each with what the account could
    #: use just before it; oldest first, within the profile window
    first_contacts: deque[tuple[Movement, int]] = field(default_factory=deque)
    #: the account's first payment out ever, how long it had been idle before it, and what it could use then
    first_payment_out: tuple[Movement, timedelta, int] | None = None
    last_alert_at: dict[str, datetime] = field(default_factory=dict)
    awaiting_settlement: set[str] = field(default_factory=set)  # transfers judged when requested, not booked yet

    @property
    def paid_out_ever(self) -> bool:
        return self.payments_out > 0

    @property
    def mean_payment_out(self) -> float:
        return self.paid_out_total / self.payments_out if self.payments_out else 0.0

    def available_before(self, movement: Movement) -> int:
        """What the account could use just before `movement`: its booked balance less its holds. (A request is
        judged before its own hold is placed.)"""
        booked = self.balance if movement.balance_after is None else _booked_before(movement)
        return booked - self.held

    def payments_out_per_day(self, until: datetime) -> float:
        """The account's usual number of payments out a day, over all the time it has been seen (at least a
        day, so a new account does not look busy)."""
        if self.first_seen_at is None:
            return 0.0
        days = max((until - self.first_seen_at).total_seconds() / 86_400, 1.0)
        return self.payments_out / days

    def knows(self, counterparty: str | None) -> bool:
        return counterparty is not None and counterparty in self.counterparties

    def within(self, movement: Movement, window: timedelta) -> list[Movement]:
        """The recent movements at most `window` before `movement` (by business time), oldest first."""
        since = movement.occurred_at - window
        return [earlier for earlier in self.recent if since <= earlier.occurred_at <= movement.occurred_at]

    def settles_a_request(self, movement: Movement) -> bool:
        """Whether `movement` is the booking of a transfer already judged when it was requested."""
        return movement.balance_after is not None and movement.transfer_id in self.awaiting_settlement

    def settle(self, movement: Movement) -> None:
        assert movement.balance_after is not None
        self.awaiting_settlement.discard(movement.transfer_id)
        self.balance = movement.balance_after

    def remember(self, movement: Movement, *, window: timedelta, counterparties: int) -> None:
        """Take the movement into the profile (after the rules have looked at it)."""
        if movement.requested:
            self.awaiting_settlement.add(movement.transfer_id)
        if self.first_seen_at is None or movement.occurred_at < self.first_seen_at:
            self.first_seen_at = movement.occurred_at
        if movement.direction == "debit" and self.first_payment_out is None:
            idle = movement.occurred_at - (self.last_moved_at or movement.occurred_at)
            self.first_payment_out = (movement, idle, self.available_before(movement))
        if not self.knows(movement.counterparty):
            self.first_contacts.append((movement, self.available_before(movement)))
        self.recent.append(movement)
        horizon = max(movement.occurred_at, self.last_moved_at or movement.occurred_at) - window
        while self.recent and self.recent[0].occurred_at < horizon:
            self.recent.popleft()
        while self.first_contacts and self.first_contacts[0][0].occurred_at < horizon:
            self.first_contacts.popleft()
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
        if movement.balance_after is not None:
            self.balance = movement.balance_after

    def apply(self, change: BalanceChange) -> None:
        self.held += change.held
        if change.abandoned_transfer is not None:
            self.awaiting_settlement.discard(change.abandoned_transfer)


def _booked_before(movement: Movement) -> int:
    assert movement.balance_after is not None
    return movement.balance_after + (movement.amount if movement.direction == "debit" else -movement.amount)
