import dagster as dg

from bank_pipeline.defs.audit.assets import event_store_digests
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.store.audit import verify


@dg.asset_check(
    asset=event_store_digests,
    blocking=True,
    description=(
        "Every event's hash, every stream's chain and head, every digest and every published month digest match "
        "(audit verify)."
    ),
)
def event_store_history_is_intact(bank_db: BankDatabase) -> dg.AssetCheckResult:
    with bank_db.runtime() as runtime, runtime.pool.connection() as conn:
        report = verify(conn)
    metadata = {
        "events_checked": report.events_checked,
        "streams_checked": report.streams_checked,
        "digests_checked": report.digests_checked,
        "month_digests_checked": report.months_checked,
        "findings": len(report.findings),
    }
    if not report.ok:
        metadata["first_problem"] = f"[{report.first_problem.kind}] {report.first_problem.message}"
        metadata["what_to_do"] = (
            "Treat as a security incident: stop writers, run `bank-pipeline audit verify` for the full list, "
            "and restore the named events from backup or the archive."
        )
    return dg.AssetCheckResult(passed=report.ok, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)
