"""Reconciliation: does the read model say what the events say?

Every check reads the read model and the events up to the read model's checkpoint in one REPEATABLE READ
snapshot, so a projector committing meanwhile cannot make a correct read model look wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg_pool import ConnectionPool

from bank_pipeline.projections.projector import LIVE_SCHEMA, read_checkpoint
from bank_pipeline.store.records import Checkpoint

#: Above this many accounts the balance check folds a random sample of them (plus the totals check).
FULL_CHECK_MAX_ACCOUNTS = 100_000
DEFAULT_SAMPLE = 10_000
SHOWN_DIFFERENCES = 20


@dataclass(frozen=True)
class AccountDifference:
    account_id: str
    field: str
    projected: object
    from_events: object


@dataclass(frozen=True)
class BalanceCheck:
    checkpoint: Checkpoint
    accounts_checked: int
    accounts_total: int
    differing_accounts: int
    differences: tuple[AccountDifference, ...]  # the first SHOWN_DIFFERENCES

    @property
    def passed(self) -> bool:
        return self.differing_accounts == 0

    @property
    def sampled(self) -> bool:
        return self.accounts_checked < self.accounts_total


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    projected_balances: int  # Σ ledger balances in the read model
    net_external_flows: int  # Σ external credits − Σ external debits in the events
    internal_flows: int  # Σ internal credits − Σ internal debits in the events: 0 when every transfer has both legs

    @property
    def balanced(self) -> bool:
        return self.projected_balances == self.net_external_flows and self.internal_flows == 0


@dataclass(frozen=True)
class DoubleEntryCheck:
    checkpoint: Checkpoint
    currencies: tuple[CurrencyTotals, ...]

    @property
    def passed(self) -> bool:
        return all(totals.balanced for totals in self.currencies)


@dataclass(frozen=True)
class ProjectionLag:
    checkpoint: Checkpoint
    events_behind: int  # final events not yet projected
    oldest_unprojected_at: datetime | None  # recorded_at of the oldest of them
    measured_at: datetime

    @property
    def seconds(self) -> float:
        if self.oldest_unprojected_at is None:
            return 0.0
        return max(0.0, (self.measured_at - self.oldest_unprojected_at).total_seconds())


@contextmanager
def _snapshot(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    with pool.connection() as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")


# Every event the folds need: the hot ones and those of archived months (passed in from the archive files, whose
# sha256 is checked on reading), so a month moved to the archive does not make a correct read model look wrong.
_HISTORY = """(
    SELECT transaction_id, global_position, stream_id, stream_version, event_type, payload FROM event_store.events
    UNION ALL
    SELECT * FROM unnest(%(archived_transaction_ids)s::bigint[], %(archived_positions)s::bigint[],
                         %(archived_stream_ids)s::text[], %(archived_versions)s::bigint[],
                         %(archived_event_types)s::text[], %(archived_payloads)s::jsonb[])
)"""

_ARCHIVED_COLUMNS = {
    "archived_transaction_ids": "transaction_id", "archived_positions": "global_position",
    "archived_stream_ids": "stream_id", "archived_versions": "stream_version",
    "archived_event_types": "event_type", "archived_payloads": "payload",
}  # fmt: skip


def _archived_events(conn: psycopg.Connection, event_types: tuple[str, ...]) -> dict[str, list]:
    """The archived events of these types as query parameters (in memory: see design.md §10)."""
    from bank_pipeline.archive.reading import archived_tables  # the archive builds on the store: import late

    rows: dict[str, list] = {parameter: [] for parameter in _ARCHIVED_COLUMNS}
    for _, table in archived_tables(conn):
        table = table.filter(pc.is_in(table.column("event_type"), pa.array(event_types)))
        for parameter, column in _ARCHIVED_COLUMNS.items():
            rows[parameter].extend(table.column(column).to_pylist())
    return rows


ACCOUNT_EVENT_TYPES = (
    "AccountOpened", "AccountCredited", "AccountDebited", "HoldPlaced", "HoldReleased", "AccountFrozen",
    "AccountUnfrozen", "AccountClosed",
)  # fmt: skip

# The balance, holds, status and version of accounts folded from their events up to the checkpoint,
# next to what the read model holds. `%(sample)s` NULL means every account.
_BALANCES_AGAINST_EVENTS = f"""
WITH chosen AS (
    SELECT account_id FROM projections.account_balances
     WHERE %(sample)s::integer IS NULL
    UNION  -- accounts the read model may have missed
    SELECT substr(stream_id, length('account-') + 1) FROM event_store.streams
     WHERE category = 'account' AND %(sample)s::integer IS NULL
    UNION
    SELECT account_id FROM (SELECT account_id FROM projections.account_balances ORDER BY random()
                             LIMIT %(sample)s) s
     WHERE %(sample)s::integer IS NOT NULL
), folded AS (
    SELECT e.payload->>'account_id' AS account_id,
           coalesce(sum(CASE e.event_type WHEN 'AccountCredited' THEN (e.payload->>'amount')::bigint
                                          WHEN 'AccountDebited' THEN -(e.payload->>'amount')::bigint END),
                    0)::bigint AS ledger,
           coalesce(sum(CASE e.event_type WHEN 'HoldPlaced' THEN (e.payload->>'amount')::bigint
                                          WHEN 'HoldReleased' THEN -(e.payload->>'amount')::bigint END),
                    0)::bigint AS held,
           (array_agg(CASE e.event_type WHEN 'AccountFrozen' THEN 'frozen' WHEN 'AccountClosed' THEN 'closed'
                                        ELSE 'open' END ORDER BY e.stream_version DESC)
                FILTER (WHERE e.event_type IN ('AccountOpened', 'AccountFrozen', 'AccountUnfrozen',
                                               'AccountClosed')))[1] AS status,
           max(e.stream_version) AS version
      FROM {_HISTORY} e
     WHERE e.stream_id = ANY (SELECT 'account-' || account_id FROM chosen)
       AND (e.transaction_id, e.global_position) <= (%(transaction_id)s, %(global_position)s)
     GROUP BY 1
)
SELECT coalesce(a.account_id, f.account_id), a.ledger_balance, f.ledger, a.held_amount, f.held, a.status, f.status,
       a.version, f.version
  FROM (SELECT b.* FROM projections.account_balances b JOIN chosen USING (account_id)) a
  FULL JOIN folded f ON f.account_id = a.account_id
 WHERE (a.ledger_balance, a.held_amount, a.status, a.version) IS DISTINCT FROM (f.ledger, f.held, f.status, f.version)
 ORDER BY 1
"""


def check_balances(pool: ConnectionPool, *, sample: int | None = None) -> BalanceCheck:
    """Each projected account (every one up to FULL_CHECK_MAX_ACCOUNTS, else a random `sample`) against the
    fold of its events: ledger balance, held amount, status and stream version."""
    with _snapshot(pool) as conn:
        checkpoint = read_checkpoint(conn)
        (total,) = conn.execute("SELECT count(*) FROM projections.account_balances").fetchone()
        if sample is None and total > FULL_CHECK_MAX_ACCOUNTS:
            sample = DEFAULT_SAMPLE
        rows = conn.execute(
            _BALANCES_AGAINST_EVENTS,
            {
                "sample": sample,
                "transaction_id": checkpoint.transaction_id,
                "global_position": checkpoint.global_position,
                **_archived_events(conn, ACCOUNT_EVENT_TYPES),
            },
        ).fetchall()
    differences = []
    for account_id, *pairs in rows:
        for field, (projected, folded) in zip(
            ("ledger_balance", "held_amount", "status", "version"),
            zip(pairs[::2], pairs[1::2], strict=True),
            strict=True,
        ):
            if projected != folded:
                differences.append(AccountDifference(account_id, field, projected, folded))
    checked = total if sample is None else min(sample, total)
    return BalanceCheck(checkpoint, checked, total, len(rows), tuple(differences[:SHOWN_DIFFERENCES]))


_CURRENCY_TOTALS = f"""
WITH projected AS (
    SELECT currency, sum(ledger_balance)::bigint AS balances FROM projections.account_balances GROUP BY currency
), flows AS (
    SELECT e.payload->>'currency' AS currency,
           sum(CASE WHEN e.payload->>'flow' = 'external' THEN
                    CASE e.event_type WHEN 'AccountCredited' THEN 1 ELSE -1 END * (e.payload->>'amount')::bigint
                    ELSE 0 END) AS external,
           sum(CASE WHEN e.payload->>'flow' = 'internal' THEN
                    CASE e.event_type WHEN 'AccountCredited' THEN 1 ELSE -1 END * (e.payload->>'amount')::bigint
                    ELSE 0 END) AS internal
      FROM {_HISTORY} e
     WHERE e.event_type IN ('AccountCredited', 'AccountDebited')
       AND (e.transaction_id, e.global_position) <= (%(transaction_id)s, %(global_position)s)
     GROUP BY 1
)
SELECT coalesce(p.currency, f.currency), coalesce(p.balances, 0), coalesce(f.external, 0)::bigint,
       coalesce(f.internal, 0)::bigint
  FROM projected p FULL JOIN flows f ON f.currency = p.currency
 ORDER BY 1
"""


def check_double_entry(pool: ConnectionPool) -> DoubleEntryCheck:
    """Per currency, the projected balances add up to the money that entered minus what left the bank,
    and internal transfers net to zero (every debit leg has its credit leg)."""
    with _snapshot(pool) as conn:
        checkpoint = read_checkpoint(conn)
        rows = conn.execute(
            _CURRENCY_TOTALS,
            {
                "transaction_id": checkpoint.transaction_id,
                "global_position": checkpoint.global_position,
                **_archived_events(conn, ("AccountCredited", "AccountDebited")),
            },
        ).fetchall()
    return DoubleEntryCheck(checkpoint, tuple(CurrencyTotals(*row) for row in rows))


def projection_lag(conn: psycopg.Connection, schema: str = LIVE_SCHEMA) -> ProjectionLag:
    """How far the read model is behind the final events."""
    checkpoint = read_checkpoint(conn, schema)
    behind, oldest, now = conn.execute(
        "SELECT count(*), min(recorded_at), now() FROM event_store.events "
        "WHERE (transaction_id, global_position) > (%s, %s) AND transaction_id < event_store.read_horizon()",
        (checkpoint.transaction_id, checkpoint.global_position),
    ).fetchone()
    return ProjectionLag(checkpoint, behind, oldest, now.astimezone(UTC))
