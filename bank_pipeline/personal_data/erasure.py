"""Erasing a customer (GDPR) without touching their events.

`erase_customer`, step by step:
1. EraseCustomer goes through the command path: the domain refuses it while a legal hold is active (a hold
   and an erasure serialise on the customer stream's version), for a customer erased already, and for one
   whose history holds personal data in plain text (destroying a key would not erase it).
2. The CustomerErased event (the audit record: who, when, why) is appended, and in the same transaction the
   customer's data key is destroyed (a tombstone row stays) and the erasure recorded in personal_data.erasures
   (CommandHandler does this for any EraseCustomer). From that commit on, every sealed personal field of the
   customer reads "[erased]": API, statements, CLI, the audit trail, the archive (whose payloads are the same
   ciphertext). The read model writes "[erased]" in place of the ciphertext when it projects the event.
   The same transaction overwrites the personal fields of the customer's quarantined landing rows
   (ingest.quarantine) with the marker (keys.scrub_quarantine).
3. The stored statements of the customer's accounts are re-rendered (statements/redaction.py; one whose
   account a purge removed from the read model is dropped), and the erasure marked done
   (statements_redacted_at) once every period was handled: a period a statement run is still writing is
   left to `sweep`, which redacts it after the run swapped in what it may have rendered before the erasure.

Crash safety: step 2 is one transaction. A crash after it leaves statements_redacted_at NULL; running
`erase_customer` again (the domain then answers "erased already") or `sweep` finishes it. An erasure that
went through the CommandBus (which cannot destroy keys in its append's transaction) destroys the key right
after the append; should it crash in between, `sweep` finds the erased customer's key still there and
destroys it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from bank_pipeline.application.handler import CommandHandler, CommandResult
from bank_pipeline.domain import errors
from bank_pipeline.domain.commands import EraseCustomer
from bank_pipeline.personal_data.keys import scrub_quarantine
from bank_pipeline.statements.redaction import Redaction, redact_statements
from bank_pipeline.statements.store import StatementStore

# Keys still there although their customer's stream records the erasure: only a crash between a CommandBus
# append and its key destruction leaves one. An index probe of the customer's stream per live key.
_KEYS_OF_ERASED = """
SELECT k.customer_id FROM personal_data.customer_keys k
 WHERE k.wrapped_key IS NOT NULL
   AND EXISTS (SELECT 1 FROM event_store.events e
                WHERE e.stream_id = 'customer-' || k.customer_id AND e.event_type = 'CustomerErased')
"""
_PENDING_REDACTIONS = (
    "SELECT customer_id FROM personal_data.erasures WHERE statements_redacted_at IS NULL ORDER BY key_destroyed_at"
)
_REDACTED = "UPDATE personal_data.erasures SET statements_redacted_at = now() WHERE customer_id = %s"


@dataclass(frozen=True)
class ErasureReport:
    customer_id: str
    erased_now: bool  # False: the customer was erased already (a re-run finishing an interrupted erasure)
    result: CommandResult | None
    statements: Redaction | None  # None: no statement store given (the sweep re-renders them later)


@dataclass
class SweepReport:
    keys_destroyed: list[str] = field(default_factory=list)
    redacted: dict[str, Redaction] = field(default_factory=dict)
    quarantine_scrubbed: int = 0  # quarantined rows of erased customers scrubbed (quarantined while erasing)


def erase_customer(
    handler: CommandHandler,
    customer_id: str,
    reason: str,
    *,
    actor: str,
    statement_store: StatementStore | None,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
) -> ErasureReport:
    """Erase the customer, or finish an erasure that was interrupted. Raises the domain's refusal otherwise
    (LegalHoldApplies, PersonalDataNotSealed, UnknownCustomer...)."""
    try:
        result = handler.execute(
            EraseCustomer(customer_id, reason), idempotency_key=idempotency_key, actor=actor,
            correlation_id=correlation_id,
        )  # fmt: skip
        erased_now = not result.replayed
    except errors.CustomerErased:
        result, erased_now = None, False
    pool = handler.store.pool
    if not erased_now:
        handler.personal_data.destroy([customer_id])  # idempotent; the event is there, the domain said so
    redaction = None
    if statement_store is not None:
        redaction = finish_redaction(pool, statement_store, customer_id)
    return ErasureReport(customer_id, erased_now, result, redaction)


def finish_redaction(pool: ConnectionPool, statement_store: StatementStore, customer_id: str) -> Redaction:
    """Re-render the customer's stored statements; the erasure is marked redacted only when every period was
    handled (a period a run is still writing is left to the next sweep)."""
    with pool.connection() as conn:
        redaction = redact_statements(conn, statement_store, customer_id)
        if redaction.complete:
            conn.execute(_REDACTED, (customer_id,))
    return redaction


def sweep(handler: CommandHandler, statement_store: StatementStore | None) -> SweepReport:
    """Finish every interrupted erasure: destroy the keys of erased customers still there, and re-render the
    stored statements of erased customers not re-rendered yet. Safe to run at any time, and again."""
    report = SweepReport()
    pool = handler.store.pool
    with pool.connection() as conn:
        report.keys_destroyed = [row[0] for row in conn.execute(_KEYS_OF_ERASED)]
    if report.keys_destroyed:
        handler.personal_data.destroy(report.keys_destroyed)
    with pool.connection() as conn:  # a row an ingestion quarantined while the erasure committed
        erased = [row[0] for row in conn.execute("SELECT customer_id FROM personal_data.erasures")]
        report.quarantine_scrubbed = scrub_quarantine(conn, erased)
    if statement_store is not None:
        with pool.connection() as conn:
            pending = [row[0] for row in conn.execute(_PENDING_REDACTIONS)]
        for customer_id in pending:
            report.redacted[customer_id] = finish_redaction(pool, statement_store, customer_id)
    return report
