"""Erasure reaches the statements already stored: each stored statement of an erased customer's accounts is
re-rendered from the read model (which reveals the name as "[erased]" once the key is gone) and swapped into
its period as a new generation (StatementStore.rewrite). The other statements of the period are kept byte for
byte; the manifest's digests of the re-rendered files are made anew, so every check of a stored period
(statements/verification.py) keeps holding. Re-rendering is deterministic: redacting twice changes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg

from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.statements.formats import renderers
from bank_pipeline.statements.reading import statement_for_account
from bank_pipeline.statements.store import StatementStore


@dataclass(frozen=True)
class Redaction:
    periods: int  # periods (monthly and ad-hoc) that held a statement of the customer, each rewritten
    statements: int  # statements re-rendered


def redact_statements(conn: psycopg.Connection, store: StatementStore, customer_id: str) -> Redaction:
    """Re-render every stored statement of `customer_id`'s accounts, in every format it was stored in."""
    render = renderers()
    periods = statements = 0

    def replacement(line: dict):
        if line["customer_id"] != customer_id:
            return None
        period = StatementPeriod(date.fromisoformat(line["first_day"]), date.fromisoformat(line["last_day"]))
        statement = statement_for_account(conn, line["account_id"], period)
        return statement, {format_name: render[format_name](statement) for format_name in line["files"]}

    for link in store.generated_periods():
        manifest = (link / "manifest.jsonl").read_text(encoding="utf-8")
        if customer_id not in manifest:
            continue  # a cheap look first: most periods hold no statement of this customer
        replaced = store.rewrite(link, replacement)
        if replaced:
            periods += 1
            statements += len(replaced)
    return Redaction(periods, statements)
