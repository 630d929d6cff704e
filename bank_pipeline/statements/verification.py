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

# Each statement's closing balance against the account's daily balances (kept by the projector apart from the
# entries' running balances) as they are now.
_DAILY_CLOSINGS = """
SELECT m.account_id, m.closing,
       coalesce((SELECT d.closing_balance FROM {schema}.daily_balances d
                  WHERE d.account_id = m.account_id AND d.business_day <= %(last_day)s
                  ORDER BY d.business_day DESC LIMIT 1), 0)
  FROM unnest(%(accounts)s::text[], %(closings)s::bigint[]) AS m(account_id, closing)
"""


@dataclass(frozen=True)
class ClosingMismatch:
    account_id: str
    statement_closing: int
    daily_closing: int


@dataclass(frozen=True)
class Reconciliation:
    statements: int
    closing_by_currency: dict[str, int]
    mismatches: list[ClosingMismatch]

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def describe(self) -> str:
        totals = ", ".join(f"{currency} {total:,}" for currency, total in sorted(self.closing_by_currency.items()))
        head = f"{self.statements:,} statements; closing balances {totals or 'none'}"
        if self.passed:
            return f"{head}: each equals the account's daily balance at the period's end"
        first = self.mismatches[0]
        return (
            f"{head}; {len(self.mismatches):,} differ from the daily balances, first {first.account_id}: statement "
            f"{first.statement_closing:,}, daily balances {first.daily_closing:,}"
        )


def reconcile_with_read_model(
    conn: psycopg.Connection, period: StatementPeriod, manifest: list[dict], *, schema: str = "projections"
) -> Reconciliation:
    """Each statement's closing balance against the account's daily balance at the end of the period."""
    closing_by_currency: dict[str, int] = defaultdict(int)
    for line in manifest:
        closing_by_currency[line["currency"]] += line["closing_balance"]
    rows = conn.execute(
        _DAILY_CLOSINGS.format(schema=schema),
        {
            "accounts": [line["account_id"] for line in manifest],
            "closings": [line["closing_balance"] for line in manifest],
            "last_day": period.last_day,
        },
    )
    mismatches = [ClosingMismatch(*row) for row in rows if row[1] != row[2]]
    return Reconciliation(len(manifest), dict(closing_by_currency), mismatches)


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
