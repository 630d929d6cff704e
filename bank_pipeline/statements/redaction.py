"""Erasure reaches the statements already stored: each stored statement of an erased customer's accounts is
re-rendered from the read model (which reveals the name as "[erased]" once the key is gone) and swapped into
its period as a new generation (StatementStore.rewrite). The other statements of the period are kept byte for
byte; the manifest's digests of the re-rendered files are made anew, so every check of a stored period
(statements/verification.py) keeps holding. Re-rendering is deterministic: redacting twice changes nothing more.

A stored statement whose account is no longer in the read model (a retention purge removed the account's
read-model rows, archive/purge.py) cannot be re-rendered: it is dropped from its period instead, files and
manifest line. That is the simplest correct choice: its bytes hold the name and there is nothing left to
render them from, and the period then agrees with the read model again (reconcile_with_read_model counts the
accounts the read model still has; chain_with_previous compares only accounts in both periods).

Every period a run has ever started is visited (StatementStore.period_links), each under its lock, so a run
still writing a period (a first run too, whose generation is not visible yet) is waited for a short while; one
that keeps its lock longer is counted in `Redaction.busy` and the erasure is not marked redacted: the erasure
sweep finishes it after the run swapped its generation in (which may have rendered the name before the key was
destroyed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg

from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.statements.formats import renderers
from bank_pipeline.statements.reading import StatementAccountNotFound, statement_for_account
from bank_pipeline.statements.store import DROP, StatementStore

#: How long redaction waits for a period a run is writing before leaving it to the sweep.
LOCK_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Redaction:
    periods: int  # periods (monthly and ad-hoc) that held a statement of the customer, each rewritten
    statements: int  # statements re-rendered
    dropped: int = 0  # statements removed: their account is no longer in the read model (purged)
    busy: int = 0  # periods a run was writing: not looked at, left to the sweep

    @property
    def complete(self) -> bool:
        """Every stored statement of the customer was handled: the erasure can be marked redacted."""
        return self.busy == 0


def redact_statements(
    conn: psycopg.Connection, store: StatementStore, customer_id: str, *, wait_seconds: float = LOCK_WAIT_SECONDS
) -> Redaction:
    """Re-render every stored statement of `customer_id`'s accounts, in every format it was stored in; drop
    those whose account the read model no longer has."""
    render = renderers()
    periods = statements = dropped = busy = 0

    def replacement(line: dict):
        nonlocal dropped
        if line["customer_id"] != customer_id:
            return None
        period = StatementPeriod(date.fromisoformat(line["first_day"]), date.fromisoformat(line["last_day"]))
        try:
            statement = statement_for_account(conn, line["account_id"], period)
        except StatementAccountNotFound:
            dropped += 1
            return DROP
        return statement, {format_name: render[format_name](statement) for format_name in line["files"]}

    for link in store.period_links():
        replaced = store.rewrite(link, replacement, mentions=customer_id, wait_seconds=wait_seconds)
        if replaced is None:
            busy += 1
        elif replaced:
            periods += 1
            statements += len(replaced)
    return Redaction(periods, statements - dropped, dropped, busy)
