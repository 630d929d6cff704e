"""An account as of any instant, read from the projections (sql/011) in one statement, without replaying events.

Two time dimensions, chosen with `by`:
  business: what was true at T: the events whose business time (occurred_at) is at or before T, as the bank
            knows them now (a back-dated entry recorded after T counts: it happened before T);
  system:   what the bank knew at T: the events it had recorded (recorded_at) at or before T.

In either dimension the answer equals a fold, in stream order, of the account's events at or before T:
  ledger balance  the running balance of the last entry in (time, stream_version) order with time ≤ T;
  holds           placed at or before T and not released at or before T;
  status          the status change with the highest stream_version among those with time ≤ T;
  recent          the newest entries with time ≤ T, newest first.
(By business time a release can be back-dated before its hold was placed; at an instant between the two the
hold was not placed yet, so it is not open, and the release changes nothing.) An account whose opening is
after T answers `existed=False`. The answer names the read model's checkpoint it reflects: events after it
are not in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from typing import Any, Literal, get_args

import psycopg

from bank_pipeline.store.records import Checkpoint

Dimension = Literal["business", "system"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
DEFAULT_RECENT = 20
MAX_RECENT = 1_000

_TIME_COLUMN = {"business": "occurred_at", "system": "recorded_at"}
_BALANCE_COLUMN = {"business": "business_balance", "system": "known_balance"}


class InvalidReplayRequest(ValueError):
    """An instant without a time zone, an unknown time dimension or a bad number of recent entries."""


class AccountNotFound(LookupError):
    """The read model has no such account (never opened, or opened after the checkpoint it reflects)."""

    def __init__(self, account_id: str, checkpoint: Checkpoint):
        super().__init__(
            f"account {account_id!r} is not in the read model (checkpoint {_show(checkpoint)}): no such account, "
            "or it was opened after that"
        )
        self.account_id = account_id
        self.checkpoint = checkpoint


@dataclass(frozen=True)
class HoldAsOf:
    hold_id: str
    amount: int
    reason: str
    expires_at: datetime
    placed_at: datetime  # in the chosen time dimension


@dataclass(frozen=True)
class EntryAsOf:
    stream_version: int
    direction: Literal["credit", "debit"]
    amount: int
    balance: int  # the account's balance right after this entry, in the chosen time dimension
    transfer_id: str
    flow: str
    counterparty: str | None
    reference: str | None
    occurred_at: datetime
    recorded_at: datetime

    @property
    def signed_amount(self) -> int:
        return self.amount if self.direction == "credit" else -self.amount


@dataclass(frozen=True)
class AccountAsOf:
    account_id: str
    as_of: datetime
    by: Dimension
    #: False when the account was not opened yet at `as_of` (in that dimension): no status, balance 0.
    existed: bool
    opened_at: datetime  # in the chosen time dimension
    customer_id: str
    currency: str
    product: str
    overdraft_limit: int
    status: Literal["open", "frozen", "closed"] | None
    ledger_balance: int  # minor units of currency
    holds: tuple[HoldAsOf, ...]
    recent: tuple[EntryAsOf, ...]  # newest first
    checkpoint: Checkpoint  # of the read model this answer was read from

    @property
    def held_amount(self) -> int:
        return sum(hold.amount for hold in self.holds)

    @property
    def available_balance(self) -> int:
        return self.ledger_balance - self.held_amount

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready document (instants as ISO 8601 strings, money in minor units)."""
        return {
            "account_id": self.account_id,
            "as_of": self.as_of.isoformat(),
            "by": self.by,
            "existed": self.existed,
            "opened_at": self.opened_at.isoformat(),
            "customer_id": self.customer_id,
            "currency": self.currency,
            "product": self.product,
            "overdraft_limit": self.overdraft_limit,
            "status": self.status,
            "ledger_balance": self.ledger_balance,
            "held_amount": self.held_amount,
            "available_balance": self.available_balance,
            "holds": [
                {**vars(hold), "expires_at": hold.expires_at.isoformat(), "placed_at": hold.placed_at.isoformat()}
                for hold in self.holds
            ],
            "recent": [
                {
                    **vars(entry),
                    "occurred_at": entry.occurred_at.isoformat(),
                    "recorded_at": entry.recorded_at.isoformat(),
                }
                for entry in self.recent
            ],
            "checkpoint": {
                "transaction_id": self.checkpoint.transaction_id,
                "global_position": self.checkpoint.global_position,
            },
        }


# One statement, so one snapshot: the checkpoint and every figure come from the same state of the read
# model. Each part is one probe of an index on account_id (entries: (account_id, {time}, stream_version)).
_ACCOUNT_AS_OF = """
SELECT c.transaction_id, c.global_position,
       a.customer_id, a.currency, a.product, a.overdraft_limit,
       (SELECT s.{time} FROM projections.account_status_changes s
         WHERE s.account_id = a.account_id
         ORDER BY s.stream_version LIMIT 1) AS opened_at,
       (SELECT e.{balance} FROM projections.account_entries e
         WHERE e.account_id = a.account_id AND e.{time} <= %(as_of)s
         ORDER BY e.{time} DESC, e.stream_version DESC LIMIT 1) AS ledger_balance,
       (SELECT s.status FROM projections.account_status_changes s
         WHERE s.account_id = a.account_id AND s.{time} <= %(as_of)s
         ORDER BY s.stream_version DESC LIMIT 1) AS status,
       (SELECT json_agg(json_build_array(h.hold_id, h.amount, h.reason, h.expires_at, h.placed_{time})
                        ORDER BY h.placed_{time}, h.placed_version)
          FROM projections.account_holds h
         WHERE h.account_id = a.account_id AND h.placed_{time} <= %(as_of)s
           AND (h.released_{time} IS NULL OR h.released_{time} > %(as_of)s)) AS holds,
       (SELECT json_agg(json_build_array(r.stream_version, r.direction, r.amount, r.{balance}, r.transfer_id,
                                         r.flow, r.counterparty, r.reference, r.occurred_at, r.recorded_at)
                        ORDER BY r.{time} DESC, r.stream_version DESC)
          FROM (SELECT e.* FROM projections.account_entries e
                 WHERE e.account_id = a.account_id AND e.{time} <= %(as_of)s
                 ORDER BY e.{time} DESC, e.stream_version DESC LIMIT %(recent)s) r) AS recent
  FROM projections.checkpoints c
  LEFT JOIN projections.account_balances a ON a.account_id = %(account_id)s
 WHERE c.projection = 'read_model'
"""
STATEMENTS: dict[Dimension, str] = {
    by: _ACCOUNT_AS_OF.replace("{time}", _TIME_COLUMN[by]).replace("{balance}", _BALANCE_COLUMN[by])
    for by in DIMENSIONS
}


def parse_instant(text: str) -> datetime:
    """An instant from ISO 8601 text with an offset ("2026-11-02T09:30:00+01:00", "2026-11-02T08:30Z"). A date
    alone ("2026-11-02") means the end of that UTC day, 23:59:59.999999Z: everything on that day is included."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time_of_day.max, UTC)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidReplayRequest(
            f"{text!r} is not an ISO 8601 instant: give e.g. 2026-11-02T09:30:00+01:00, 2026-11-02T08:30Z "
            "or a date (the end of that UTC day)"
        ) from None
    if instant.tzinfo is None:
        raise InvalidReplayRequest(f"{text!r} has no offset: add one, e.g. {text}Z or {text}+01:00")
    return instant


def validate_request(as_of: datetime, by: str, recent: int) -> None:
    if not isinstance(as_of, datetime):
        raise InvalidReplayRequest(f"as_of must be a datetime, not {type(as_of).__name__}")
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise InvalidReplayRequest(f"as_of {as_of.isoformat()} has no time zone: give an offset (e.g. +00:00)")
    if by not in DIMENSIONS:
        raise InvalidReplayRequest(f"by must be one of {', '.join(DIMENSIONS)}, not {by!r}")
    if not 0 <= recent <= MAX_RECENT:
        raise InvalidReplayRequest(f"recent must be between 0 and {MAX_RECENT}, not {recent}")


def account_as_of(
    conn: psycopg.Connection,
    account_id: str,
    as_of: datetime,
    *,
    by: Dimension = "business",
    recent: int = DEFAULT_RECENT,
) -> AccountAsOf:
    """The account as of `as_of` (timezone-aware) by business or system time. Raises AccountNotFound when the
    read model has no such account, InvalidReplayRequest for a bad request. An account opened after `as_of`
    gives `existed=False` with its `opened_at`."""
    validate_request(as_of, by, recent)
    row = conn.execute(STATEMENTS[by], {"account_id": account_id, "as_of": as_of, "recent": recent}).fetchone()
    (transaction_id, position, customer_id, currency, product, overdraft_limit, opened_at, ledger_balance,
     status, holds, entries) = row  # fmt: skip
    checkpoint = Checkpoint(transaction_id, position)
    if customer_id is None:
        raise AccountNotFound(account_id, checkpoint)
    existed = opened_at <= as_of
    return AccountAsOf(
        account_id=account_id,
        as_of=as_of,
        by=by,
        existed=existed,
        opened_at=opened_at,
        customer_id=customer_id,
        currency=currency,
        product=product,
        overdraft_limit=overdraft_limit,
        status=status if existed else None,
        ledger_balance=(ledger_balance or 0) if existed else 0,
        holds=tuple(_hold(h) for h in holds or ()) if existed else (),
        recent=tuple(_entry(e) for e in entries or ()) if existed else (),
        checkpoint=checkpoint,
    )


def _hold(fields: list[Any]) -> HoldAsOf:
    hold_id, amount, reason, expires_at, placed_at = fields
    return HoldAsOf(hold_id, amount, reason, datetime.fromisoformat(expires_at), datetime.fromisoformat(placed_at))


def _entry(fields: list[Any]) -> EntryAsOf:
    *figures, occurred_at, recorded_at = fields
    return EntryAsOf(*figures, datetime.fromisoformat(occurred_at), datetime.fromisoformat(recorded_at))


def _show(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.transaction_id}:{checkpoint.global_position}"
