"""What the detector does about a high-severity alert: it freezes the account through the normal command path,
so the action is itself an audited event (actor `fraud-detector`, the alert in its causation id).

Exactly once although the freeze and the alert's `action` column are written in two transactions: the command's
idempotency key is the alert's id, so after a crash between the two the freeze is decided again, the event store
answers with the first append, and only the column is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from bank_pipeline.application import CommandHandler
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import DomainError

ACTOR = "fraud-detector"
_TO_ACT_ON = """
SELECT alert_id, rule, account_id, global_position FROM fraud.alerts
 WHERE severity = 'high' AND action IS NULL ORDER BY alert_id LIMIT %s
"""
_RECORD = "UPDATE fraud.alerts SET action = %s, action_position = %s, acted_at = now() WHERE alert_id = %s"


@dataclass(frozen=True)
class Action:
    alert_id: int
    account_id: str
    outcome: str  # "frozen", or the domain's refusal code ("account_frozen", "account_closed", ...)
    position: int | None  # of the AccountFrozen event


def act_on_high_alerts(conn: psycopg.Connection, handler: CommandHandler, *, limit: int = 100) -> list[Action]:
    """Freeze the accounts of the high-severity alerts not acted on yet (the oldest `limit` of them)."""
    actions = []
    for alert_id, rule, account_id, position in conn.execute(_TO_ACT_ON, (limit,)).fetchall():
        freeze = c.FreezeAccount(account_id, f"fraud alert {alert_id}: {rule} at event {position}")
        try:
            result = handler.execute(
                freeze, idempotency_key=f"fraud-alert-{alert_id}", actor=ACTOR, causation_id=f"fraud-alert-{alert_id}"
            )
        except DomainError as refusal:  # already frozen, closed: nothing to do, and said so
            action = Action(alert_id, account_id, refusal.code, None)
        else:
            action = Action(alert_id, account_id, "frozen", result.checkpoint.global_position)
        conn.execute(_RECORD, (action.outcome, action.position, alert_id))
        actions.append(action)
    return actions
