from datetime import UTC, datetime

import dagster as dg

from bank_pipeline.defs.projections.partitions import FIRST_BUSINESS_DAY
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.store.month_digests import month_of, months_due, publish_month


@dg.asset(
    group_name="audit",
    owners=["team:compliance"],
    kinds={"postgres"},
    metadata={"tables": "event_store.digests", "verify": "bank-pipeline audit verify", "migrations": "sql/006"},
    description=(
        "Digests sealed over the event store: each covers the next range of final events in delivery order "
        "and chains to the previous digest, so any later change to sealed history is detectable."
    ),
)
def event_store_digests(context: dg.AssetExecutionContext, bank_db: BankDatabase) -> dg.MaterializeResult:
    with bank_db.runtime() as runtime:
        sealed = runtime.store.seal_all_digests()
        for digest in sealed:
            context.log.info(f"sealed digest {digest['digest_number']} over {digest['event_count']} events")
        total_digests, total_events = runtime.store.digest_totals()
    metadata: dict = {
        "digests_sealed_now": len(sealed),
        "events_sealed_now": sum(d["event_count"] for d in sealed),
        "digests_total": total_digests,
        "events_covered_total": total_events,
    }
    if sealed:
        metadata["latest_digest"] = sealed[-1]["digest"].hex()
        metadata["latest_digest_number"] = sealed[-1]["digest_number"]
        metadata["latest_position"] = sealed[-1]["last_position"]
    return dg.MaterializeResult(metadata=metadata)


#: Calendar months (UTC) of system time: the months of the event store's partitions. The current month is one
#: too (end_offset=1), so a run at the month's end need not wait for Dagster to roll the partitions over.
digest_months = dg.MonthlyPartitionsDefinition(start_date=FIRST_BUSINESS_DAY, timezone="UTC", end_offset=1)


class AuditDigestConfig(dg.Config):
    now: str | None = None  # ISO 8601: which months count as closed (default: the run's start)


@dg.asset(
    group_name="audit",
    owners=["team:compliance"],
    kinds={"postgres"},
    partitions_def=digest_months,
    output_required=False,
    metadata={
        "tables": "event_store.month_digests",
        "procedure": "docs/audit-digests.md",
        "cli": "bank-pipeline audit publish | months | prove POSITION | verify",
        "migrations": "sql/016",
    },
    description=(
        "The published digest of a closed month: the Merkle tree hash (RFC 9162) of the hashes of the events "
        "recorded in that month, in delivery order, chained to the month before. An auditor recomputes it from "
        "the archive alone (docs/audit-digests.md). Months are published in order, so a partition publishes every "
        "closed month before it first; a month not closed yet (or closed less than an hour ago) publishes nothing."
    ),
)
def audit_digest(context: dg.AssetExecutionContext, config: AuditDigestConfig, bank_db: BankDatabase):
    month = month_of(context.partition_time_window.start)
    now = datetime.fromisoformat(config.now) if config.now else datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    with bank_db.runtime() as runtime, runtime.pool.connection() as conn:
        due = [due_month for due_month in months_due(conn, now) if due_month <= month]
        if month not in due:
            context.log.info(f"{month:%Y-%m} is not closed yet, or already published: nothing to publish")
            return
        for earlier in due[:-1]:  # months go in order: a gap before this one is published first
            context.log.info(f"published {earlier:%Y-%m} first: {publish_month(conn, earlier, now).merkle_root.hex()}")
        digest = publish_month(conn, month, now)
    yield dg.MaterializeResult(
        metadata={
            "events": digest.event_count,
            "merkle_root": digest.merkle_root.hex(),
            "previous_root": digest.previous_root.hex(),
            "first_position": digest.first.global_position if digest.first else None,
            "last_position": digest.last.global_position if digest.last else None,
        }
    )
