"""The fast path: every final entry event, in delivery order, judged by the fraud rules against its account's
profile; the alerts and the detector's checkpoint are written in one transaction.

Exactly once: a batch's alerts are kept only if its checkpoint move commits, and `(rule, account, position)` is
unique, so a crash or a second detector can neither skip an event nor raise an alert twice. The profiles live in
memory: on start (and whenever the checkpoint is not where this detector left it) they are rebuilt from every
entry event up to the checkpoint, and each rule's last alert per account is read back from the alerts table, so
a restarted detector judges the next event exactly as an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import psycopg
from psycopg.types.json import Jsonb
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from bank_pipeline.domain.events import (
    AccountCredited,
    AccountDebited,
    HoldPlaced,
    HoldReleased,
    OutboundTransferRequested,
    event_from_stored,
)
from bank_pipeline.domain.fraud import (
    AccountProfile,
    Alert,
    BalanceChange,
    FraudThresholds,
    Movement,
    Observation,
    observe,
    take_in,
)
from bank_pipeline.domain.fraud.profile import Direction
from bank_pipeline.store import RecordedEvent
from bank_pipeline.store.event_store import read_final_events
from bank_pipeline.store.records import Checkpoint

DETECTOR = "fast_path"
DEFAULT_BATCH_SIZE = 1_000
ENTRY_TYPES = (AccountCredited.event_type, AccountDebited.event_type)
JUDGED_TYPES = (*ENTRY_TYPES, OutboundTransferRequested.event_type)  # the events a movement can come from
OBSERVED_TYPES = frozenset((*JUDGED_TYPES, HoldPlaced.event_type, HoldReleased.event_type))

_LOCK_CHECKPOINT = "SELECT transaction_id, global_position FROM fraud.checkpoints WHERE detector = %s FOR UPDATE"
_MOVE_CHECKPOINT = (
    "UPDATE fraud.checkpoints SET transaction_id = %s, global_position = %s, events_seen = events_seen + %s, "
    "updated_at = now() WHERE detector = %s"
)
_INSERT_ALERT = """
INSERT INTO fraud.alerts (rule, severity, score, account_id, transaction_id, global_position, occurred_at,
                          recorded_at, detected_at, evidence)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp(), %s)
ON CONFLICT (rule, account_id, global_position) DO NOTHING
"""
_LAST_ALERTS = "SELECT account_id, rule, max(occurred_at) FROM fraud.alerts GROUP BY account_id, rule"


@dataclass(frozen=True)
class DetectedBatch:
    events: int
    alerts: tuple[Alert, ...]
    upto: Checkpoint


def observation_of(event: RecordedEvent) -> Observation | None:
    """What an event means to the fraud rules: a movement to judge (an entry, or an outbound transfer when it is
    requested), a balance change to remember (a hold, or the settlement of a transfer judged at request time),
    or None for every other kind of event."""
    if event.event_type not in OBSERVED_TYPES:
        return None
    fact = event_from_stored(event.event_type, event.schema_version, event.payload)
    match fact:
        case AccountCredited() | AccountDebited():
            direction = "credit" if isinstance(fact, AccountCredited) else "debit"
            return _movement(event, fact, direction, fact.balance_after, fact.counterparty)
        case OutboundTransferRequested():
            return _movement(event, fact, "debit", None, fact.creditor_iban)
        case HoldPlaced():
            return BalanceChange(fact.account_id, held=fact.amount)
        case HoldReleased():
            abandoned = fact.hold_id if fact.reason in ("rejected", "expired") else None
            return BalanceChange(fact.account_id, held=-fact.amount, abandoned_transfer=abandoned)
    return None


def _movement(
    event: RecordedEvent, fact: AccountCredited | AccountDebited | OutboundTransferRequested, direction: Direction,
    balance_after: int | None, counterparty: str | None,
) -> Movement:  # fmt: skip
    return Movement(
        account_id=fact.account_id, direction=direction, amount=fact.amount, currency=fact.currency,
        balance_after=balance_after, counterparty=counterparty, transfer_id=fact.transfer_id,
        occurred_at=event.occurred_at,
        global_position=event.global_position, transaction_id=event.transaction_id,
        with_account=counterparty is not None and is_iban(counterparty),
    )  # fmt: skip


@lru_cache(maxsize=100_000)
def is_iban(text: str) -> bool:
    """Whether a counterparty is a bank account (an IBAN with valid check digits), not a merchant or biller name."""
    try:
        IBAN(text)
    except SchwiftyException:
        return False
    return True


def read_checkpoint(conn: psycopg.Connection) -> Checkpoint:
    row = conn.execute("SELECT transaction_id, global_position FROM fraud.checkpoints WHERE detector = %s", (DETECTOR,))
    return Checkpoint(*row.fetchone())


class FraudDetector:
    """Judges batches on the connection it is given (a pool's, or a worker's own)."""

    def __init__(self, limits: FraudThresholds | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE):
        self.limits = limits or FraudThresholds()
        self.batch_size = batch_size
        self._profiles: dict[str, AccountProfile] | None = None
        self._at: Checkpoint | None = None  # the checkpoint the profiles reflect

    def catch_up(self, conn: psycopg.Connection) -> list[DetectedBatch]:
        """Judge every final event not judged yet, batch by batch."""
        batches = []
        while (batch := self.detect_next_batch(conn)) is not None:
            batches.append(batch)
        return batches

    def detect_next_batch(self, conn: psycopg.Connection) -> DetectedBatch | None:
        """Judge the next batch of final events and record its alerts; None when there was nothing new."""
        try:
            with conn.transaction():
                after = Checkpoint(*conn.execute(_LOCK_CHECKPOINT, (DETECTOR,)).fetchone())
                if self._profiles is None or self._at != after:
                    self._rebuild(conn, after)
                events = read_final_events(conn, after, self.batch_size)
                if not events:
                    return None
                alerts = self._judge(events)
                with conn.cursor() as cursor:
                    cursor.executemany(_INSERT_ALERT, [_alert_row(alert, events) for alert in alerts])
                upto = events[-1].checkpoint
                conn.execute(_MOVE_CHECKPOINT, (upto.transaction_id, upto.global_position, len(events), DETECTOR))
        except BaseException:
            self._profiles = None  # they may hold part of a batch that was not kept: rebuild before the next one
            raise
        self._at = upto
        return DetectedBatch(len(events), tuple(alerts), upto)

    def _judge(self, events: list[RecordedEvent]) -> list[Alert]:
        alerts = []
        for event in events:
            observation = observation_of(event)
            if observation is not None:
                profile = self._profiles.setdefault(observation.account_id, AccountProfile(observation.account_id))
                alerts.extend(observe(observation, profile, self.limits))
        return alerts

    def _rebuild(self, conn: psycopg.Connection, upto: Checkpoint) -> None:
        """Profiles from every entry up to `upto`, and when each rule last fired on each account."""
        profiles: dict[str, AccountProfile] = {}
        after = Checkpoint(0, 0)
        while after < upto:
            events = [e for e in read_final_events(conn, after, 5_000) if e.checkpoint <= upto]
            if not events:
                break
            for event in events:
                observation = observation_of(event)
                if observation is not None:
                    profile = profiles.setdefault(observation.account_id, AccountProfile(observation.account_id))
                    take_in(observation, profile, self.limits)
            after = events[-1].checkpoint
        for account_id, rule, fired_at in conn.execute(_LAST_ALERTS):
            profiles.setdefault(account_id, AccountProfile(account_id)).last_alert_at[rule] = fired_at
        self._profiles, self._at = profiles, upto


def _alert_row(alert: Alert, events: list[RecordedEvent]) -> tuple:
    recorded_at = next(e.recorded_at for e in events if e.global_position == alert.global_position)
    return (
        alert.rule, alert.severity, alert.score, alert.account_id, alert.transaction_id, alert.global_position,
        alert.occurred_at, recorded_at, Jsonb(alert.evidence),
    )  # fmt: skip
