"""Checks of a generated period, from its manifest and files: what the monthly statements asset reports.

reconcile_with_read_model  per currency, as many statements as accounts open in the period and the same sum of
                           closing balances as the read model's own running balances at the period's end;
chain_with_previous        each account's opening balance is its closing balance in the previous period;
validate_camt053_files     the camt.053 documents are valid against the message's XML schema.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.statements.formats.camt053 import InvalidCamt053Document, validate_camt053

#: camt.053 documents validated per period at most; above it, a seeded random sample of this many.
MAX_VALIDATED = 10_000

_READ_MODEL_TOTALS = """
SELECT a.currency, count(*),
       coalesce(sum((SELECT e.business_balance FROM {schema}.account_entries e
                      WHERE e.account_id = a.account_id AND e.occurred_at < %(end)s
                      ORDER BY e.occurred_at DESC, e.stream_version DESC LIMIT 1)), 0)::bigint
  FROM {schema}.account_balances a
 WHERE a.opened_at < %(end)s
   AND NOT EXISTS (SELECT 1 FROM {schema}.account_status_changes s
                    WHERE s.account_id = a.account_id AND s.status = 'closed' AND s.occurred_at < %(start)s)
 GROUP BY a.currency
"""


@dataclass(frozen=True)
class CurrencyTotals:
    statements: int
    closing_balances: int


@dataclass(frozen=True)
class Reconciliation:
    manifest: dict[str, CurrencyTotals]
    read_model: dict[str, CurrencyTotals]

    @property
    def passed(self) -> bool:
        return self.manifest == self.read_model

    def describe(self) -> str:
        rows = []
        for currency in sorted(set(self.manifest) | set(self.read_model)):
            ours = self.manifest.get(currency, CurrencyTotals(0, 0))
            theirs = self.read_model.get(currency, CurrencyTotals(0, 0))
            mark = "" if ours == theirs else " ← differs"
            rows.append(
                f"{currency}: {ours.statements:,} statements closing at {ours.closing_balances:,}; read model "
                f"{theirs.statements:,} accounts at {theirs.closing_balances:,}{mark}"
            )
        return "\n".join(rows) or "no accounts were open in the period"


def reconcile_with_read_model(
    conn: psycopg.Connection, period: StatementPeriod, manifest: list[dict], *, schema: str = "projections"
) -> Reconciliation:
    ours: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in manifest:
        ours[line["currency"]][0] += 1
        ours[line["currency"]][1] += line["closing_balance"]
    rows = conn.execute(_READ_MODEL_TOTALS.format(schema=schema), {"start": period.start, "end": period.end})
    return Reconciliation(
        manifest={currency: CurrencyTotals(*figures) for currency, figures in ours.items()},
        read_model={currency: CurrencyTotals(count, total) for currency, count, total in rows},
    )


@dataclass(frozen=True)
class ChainBreak:
    account_id: str
    previous_closing: int
    opening: int


def chain_with_previous(previous: list[dict], current: list[dict]) -> list[ChainBreak]:
    """Accounts whose opening balance is not their previous closing balance (accounts in both periods)."""
    closing = {line["account_id"]: line["closing_balance"] for line in previous}
    return [
        ChainBreak(line["account_id"], closing[line["account_id"]], line["opening_balance"])
        for line in current
        if line["account_id"] in closing and closing[line["account_id"]] != line["opening_balance"]
    ]


@dataclass
class Camt053Validation:
    documents: int = 0
    validated: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (account id, first violation)

    @property
    def passed(self) -> bool:
        return not self.invalid


def validate_camt053_files(directory: Path, manifest: list[dict], *, limit: int = MAX_VALIDATED) -> Camt053Validation:
    documents = [line for line in manifest if "camt053" in line["files"]]
    chosen = documents if len(documents) <= limit else random.Random(0).sample(documents, limit)
    result = Camt053Validation(documents=len(documents))
    for line in chosen:
        try:
            validate_camt053((directory / line["files"]["camt053"]["path"]).read_bytes())
        except InvalidCamt053Document as error:
            result.invalid.append((line["account_id"], str(error)))
        result.validated += 1
    return result
