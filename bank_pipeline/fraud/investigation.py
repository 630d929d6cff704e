"""The slow path: look across accounts at a window of the event stream, with polars, for what one account's
rules cannot see.

- A **mule ring**: an account that several other accounts of the bank paid within the lookback (fan-in), and
  that passed most of it on (fan-out): the collecting account, its payers and its recipients.
- A **customer pattern**: one customer whose accounts raised fast-path alerts on two or more of them.

A window is the events after the previous window up to where the fast path had judged; the analysis takes the
window's entries and those up to `lookback` before its earliest one, so a ring whose payments straddle two
windows is still seen. A
case's key is its kind and subject: a later window that sees the same ring again updates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import polars as pl
import psycopg
from psycopg.types.json import Jsonb

from bank_pipeline.store.records import Checkpoint
from bank_pipeline.store.stream_worker import show

LOOKBACK = timedelta(hours=24)
RING_PAYERS = 3  # distinct accounts of the bank paying one account
RING_PASSED_ON = 0.5  # share of what came in that went out again

# The window in delivery order: (after, upto] by (transaction_id, global_position).
_IN_WINDOW = (
    "(transaction_id, global_position) > (%(after_tx)s, %(after_pos)s) "
    "AND (transaction_id, global_position) <= (%(upto_tx)s, %(upto_pos)s)"
)
_ENTRIES = f"""
SELECT account_id, direction, amount, counterparty, occurred_at, global_position
  FROM projections.account_entries
 WHERE flow = 'internal' AND (transaction_id, global_position) <= (%(upto_tx)s, %(upto_pos)s)
   AND occurred_at >= (SELECT min(occurred_at) FROM projections.account_entries WHERE {_IN_WINDOW}) - %(lookback)s
"""
_ALERTED_CUSTOMERS = f"""
SELECT b.customer_id, array_agg(DISTINCT a.account_id ORDER BY a.account_id),
       array_agg(DISTINCT a.rule ORDER BY a.rule), count(*)
  FROM fraud.alerts a JOIN projections.account_balances b USING (account_id)
 WHERE (a.transaction_id, a.global_position) <= (%(upto_tx)s, %(upto_pos)s)
   AND a.occurred_at >= (SELECT min(occurred_at) FROM fraud.alerts WHERE {_IN_WINDOW}) - %(lookback)s
 GROUP BY b.customer_id HAVING count(DISTINCT a.account_id) >= 2
"""
_SAVE = """
INSERT INTO fraud.cases (case_key, kind, subject, accounts, window_from, window_to, evidence)
VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (case_key) DO NOTHING
"""


@dataclass(frozen=True)
class FraudCase:
    kind: str
    subject: str
    accounts: tuple[str, ...]
    evidence: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"


def investigate(
    conn: psycopg.Connection, after: Checkpoint, upto: Checkpoint, *, lookback: timedelta = LOOKBACK
) -> list[FraudCase]:
    """The cases the window (after, upto] shows, new or seen before; recorded in fraud.cases if new."""
    params = {"after_tx": after.transaction_id, "after_pos": after.global_position, "upto_tx": upto.transaction_id,
              "upto_pos": upto.global_position, "lookback": lookback}  # fmt: skip
    with conn.cursor() as cursor:
        rows = cursor.execute(_ENTRIES, params).fetchall()
        entries = pl.DataFrame(
            rows,
            schema={"account_id": pl.String, "direction": pl.String, "amount": pl.Int64, "counterparty": pl.String,
                    "occurred_at": pl.Datetime("us", "UTC"), "global_position": pl.Int64},
            orient="row",
        )  # fmt: skip
        customers = cursor.execute(_ALERTED_CUSTOMERS, params).fetchall()
    cases = mule_rings(entries) + [
        FraudCase("customer_pattern", customer, tuple(accounts), {"rules": list(rules), "alerts": alerts})
        for customer, accounts, rules, alerts in customers
    ]
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            _SAVE, [(case.key, case.kind, case.subject, list(case.accounts), show(after), show(upto),
                     Jsonb(case.evidence)) for case in cases],
        )  # fmt: skip
    return cases


def mule_rings(entries: pl.DataFrame) -> list[FraudCase]:
    """Accounts paid by at least RING_PAYERS other accounts that passed on at least RING_PASSED_ON of it."""
    if entries.is_empty():
        return []
    incoming = (
        entries.filter(pl.col("direction") == "credit")
        .group_by("account_id")
        .agg(
            pl.col("counterparty").n_unique().alias("payers"),
            pl.col("counterparty").unique().sort().alias("payer_accounts"),
            pl.col("amount").sum().alias("paid_in"),
        )
        .filter(pl.col("payers") >= RING_PAYERS)
    )
    outgoing = (
        entries.filter(pl.col("direction") == "debit")
        .group_by("account_id")
        .agg(pl.col("amount").sum().alias("paid_out"), pl.col("counterparty").unique().sort().alias("recipients"))
    )
    rings = (
        incoming.join(outgoing, on="account_id", how="inner")
        .filter(pl.col("paid_out") >= RING_PASSED_ON * pl.col("paid_in"))
        .sort("account_id")
    )
    return [
        FraudCase(
            "mule_ring",
            row["account_id"],
            tuple(sorted({row["account_id"], *row["payer_accounts"], *row["recipients"]})),
            {
                "payers": row["payers"],
                "paid_in": row["paid_in"],
                "paid_out": row["paid_out"],
                "payer_accounts": row["payer_accounts"],
                "recipients": row["recipients"],
            },
        )  # fmt: skip
        for row in rings.iter_rows(named=True)
    ]
