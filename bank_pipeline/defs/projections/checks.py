"""The read model's reconciliation, reported as asset checks of `read_model`."""

import dagster as dg
from psycopg_pool import ConnectionPool

from bank_pipeline.projections.reconciliation import check_balances, check_double_entry, projection_lag
from bank_pipeline.settings import get_settings

BALANCES_CHECK = "balances_equal_event_fold"
DOUBLE_ENTRY_CHECK = "double_entry_per_currency"
LAG_CHECK = "projection_lag_within_bound"


def reconciliation_results(pool: ConnectionPool) -> tuple[list[dg.AssetCheckResult], dict]:
    balances = check_balances(pool)
    double_entry = check_double_entry(pool)
    with pool.connection() as conn:
        lag = projection_lag(conn)
    allowed_lag = get_settings().max_projection_lag_seconds

    differing = "\n".join(
        f"| {d.account_id} | {d.field} | {d.projected} | {d.from_events} |" for d in balances.differences
    )
    balance_metadata = {
        "accounts_checked": balances.accounts_checked,
        "accounts_total": balances.accounts_total,
        "sampled": balances.sampled,
        "differing_accounts": balances.differing_accounts,
        "checkpoint": str(tuple(balances.checkpoint)),
    }
    if differing:
        balance_metadata["differences"] = dg.MetadataValue.md(
            "| account | field | read model | events |\n|---|---|---|---|\n" + differing
        )
    currencies = {
        t.currency: f"balances {t.projected_balances:,}, net external {t.net_external_flows:,}, "
        f"internal {t.internal_flows:,}"
        for t in double_entry.currencies
    }
    results = [
        dg.AssetCheckResult(
            check_name=BALANCES_CHECK,
            asset_key="read_model",
            passed=balances.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=balance_metadata,
            description=None
            if balances.passed
            else (
                f"{balances.differing_accounts} accounts differ from their events (first: "
                f"{', '.join(sorted({d.account_id for d in balances.differences}))}). Rebuild the read model "
                "(`bank-pipeline projections rebuild`) and look for writes that bypassed the projector."
            ),
        ),
        dg.AssetCheckResult(
            check_name=DOUBLE_ENTRY_CHECK,
            asset_key="read_model",
            passed=double_entry.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={currency: dg.MetadataValue.text(text) for currency, text in currencies.items()},
            description=None
            if double_entry.passed
            else (
                "Unbalanced currencies: "
                + ", ".join(t.currency for t in double_entry.currencies if not t.balanced)
                + ". Rebuild the read model; if it persists, an event is missing a leg."
            ),
        ),
        dg.AssetCheckResult(
            check_name=LAG_CHECK,
            asset_key="read_model",
            passed=lag.seconds <= allowed_lag,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "events_behind": lag.events_behind,
                "lag_seconds": round(lag.seconds, 3),
                "allowed_lag_seconds": allowed_lag,
            },
            description=None
            if lag.seconds <= allowed_lag
            else (
                f"{lag.events_behind:,} committed events not projected, the oldest {lag.seconds:.0f}s old: is "
                "`bank-pipeline worker` running?"
            ),
        ),
    ]
    metadata = {"events_behind_after_run": lag.events_behind, "accounts_reconciled": balances.accounts_checked}
    return results, metadata
