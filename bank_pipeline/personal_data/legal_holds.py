"""What the read model says about legal holds (projections.legal_holds, sql/017): for operators, and for the
retention purge, which must keep every stream `held_streams` names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

# A hold on the whole customer (account_id NULL) keeps the customer stream and every account of theirs, those
# opened after the hold too; a hold on one account keeps that account and the customer stream.
_HELD_STREAMS = """
SELECT 'customer-' || h.customer_id FROM projections.legal_holds h WHERE h.released_at IS NULL
UNION
SELECT 'account-' || h.account_id FROM projections.legal_holds h
 WHERE h.released_at IS NULL AND h.account_id IS NOT NULL
UNION
SELECT 'account-' || ca.account_id FROM projections.legal_holds h
  JOIN projections.customer_accounts ca ON ca.customer_id = h.customer_id
 WHERE h.released_at IS NULL AND h.account_id IS NULL
"""

_HOLDS = """
SELECT customer_id, hold_id, account_id, reason, case_reference, placed_at, released_at, release_reason
  FROM projections.legal_holds
 WHERE (%(customer_id)s::text IS NULL OR customer_id = %(customer_id)s)
   AND (%(all)s OR released_at IS NULL)
 ORDER BY customer_id, placed_at, hold_id
"""


@dataclass(frozen=True)
class LegalHoldRow:
    customer_id: str
    hold_id: str
    account_id: str | None  # None: the customer and all their accounts
    reason: str
    case_reference: str
    placed_at: datetime
    released_at: datetime | None
    release_reason: str | None

    @property
    def active(self) -> bool:
        return self.released_at is None


def held_streams(conn: psycopg.Connection) -> set[str]:
    """The ids of the customer-… and account-… streams under an active legal hold: what a purge must keep.
    As of the read model's checkpoint: a purge should catch the read model up first. Transfer streams (an
    outbound or inbound transfer's own stream) are not covered: the purge must keep those of held accounts."""
    return {row[0] for row in conn.execute(_HELD_STREAMS)}


def legal_holds(
    conn: psycopg.Connection, *, customer_id: str | None = None, include_released: bool = False
) -> list[LegalHoldRow]:
    rows = conn.execute(_HOLDS, {"customer_id": customer_id, "all": include_released}).fetchall()
    return [LegalHoldRow(*row) for row in rows]
