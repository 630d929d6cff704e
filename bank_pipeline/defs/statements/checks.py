"""The monthly statements' checks, computed by the asset from what it just wrote (manifest and files)."""

from pathlib import Path

import dagster as dg
import psycopg

from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.statements.store import StatementStore
from bank_pipeline.statements.verification import (
    chain_with_previous,
    reconcile_with_read_model,
    validate_camt053_files,
)

RECONCILIATION_CHECK = "statements_match_read_model"
CHAIN_CHECK = "opening_equals_previous_closing"
CAMT053_CHECK = "camt053_valid_against_schema"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        RECONCILIATION_CHECK,
        asset="monthly_statements",
        blocking=True,
        description="Each statement's closing balance is the account's balance in daily_balances at the month's "
        "end (generation already refuses a statement that disagrees with them in its own snapshot; this re-reads "
        "them after the files are written).",
    ),
    dg.AssetCheckSpec(
        CHAIN_CHECK,
        asset="monthly_statements",
        description="Every account's opening balance is its closing balance on the previous month's statement "
        "(when that month was generated).",
    ),
    dg.AssetCheckSpec(
        CAMT053_CHECK,
        asset="monthly_statements",
        description="The camt.053 documents are valid against the camt.053.001.08 XML schema (all of them up to "
        "10,000, else a random 10,000).",
    ),
]


def statement_check_results(
    conn: psycopg.Connection, store: StatementStore, period: StatementPeriod, manifest: list[dict]
) -> list[dg.AssetCheckResult]:
    return [
        _reconciliation(conn, period, manifest),
        _chain(store, period, manifest),
        _camt053(store.period_directory(period), manifest),
    ]


def _reconciliation(conn: psycopg.Connection, period: StatementPeriod, manifest: list[dict]) -> dg.AssetCheckResult:
    reconciliation = reconcile_with_read_model(conn, period, manifest)
    return dg.AssetCheckResult(
        check_name=RECONCILIATION_CHECK,
        passed=reconciliation.passed,
        metadata={
            "statements": reconciliation.statements,
            "differing": len(reconciliation.mismatches),
            "result": reconciliation.describe(),
        },  # fmt: skip
        description=None
        if reconciliation.passed
        else "Statements differ from the daily balances: if events of this month arrived during the run, run the "
        "partition again; otherwise check the read model (its reconciliation checks, a backfill of read_model).",
    )


def _chain(store: StatementStore, period: StatementPeriod, manifest: list[dict]) -> dg.AssetCheckResult:
    previous_month = period.previous_day
    previous = store.read_manifest(StatementPeriod.month(previous_month.year, previous_month.month))
    if previous is None:
        return dg.AssetCheckResult(
            check_name=CHAIN_CHECK,
            passed=True,
            metadata={"previous_month": f"{previous_month:%Y-%m} not generated: nothing to compare"},
        )
    breaks = chain_with_previous(previous, manifest)
    metadata: dict = {"previous_statements": len(previous), "breaks": len(breaks)}
    if breaks:
        metadata["first_breaks"] = dg.MetadataValue.md(
            "| account | previous closing | opening |\n|---|---:|---:|\n"
            + "\n".join(f"| {b.account_id} | {b.previous_closing:,} | {b.opening:,} |" for b in breaks[:20])
        )
    return dg.AssetCheckResult(
        check_name=CHAIN_CHECK,
        passed=not breaks,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=None
        if not breaks
        else f"{len(breaks)} opening balances differ from last month's closing: entries back-dated into "
        f"{previous_month:%Y-%m} after it was generated; re-run that month's partition to regenerate it.",
    )


def _camt053(directory: Path, manifest: list[dict]) -> dg.AssetCheckResult:
    validation = validate_camt053_files(directory, manifest)
    metadata: dict = {"documents": validation.documents, "validated": validation.validated}
    if validation.invalid:
        account, error = validation.invalid[0]
        metadata["first_invalid"] = f"{account}: {error}"
    return dg.AssetCheckResult(
        check_name=CAMT053_CHECK, passed=validation.passed, metadata=metadata, severity=dg.AssetCheckSeverity.ERROR
    )
