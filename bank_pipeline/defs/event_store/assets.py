import dagster as dg

from bank_pipeline.defs.resources import BankDatabase


@dg.asset(
    group_name="event_store",
    owners=["team:platform"],
    kinds={"postgres"},
    metadata={"tables": "event_store.events (partitioned by month of recorded_at)", "migrations": "sql/003"},
    description=(
        "Monthly partitions of event_store.events, created ahead of time so appends never meet a missing "
        "month. Appends also create them on demand; this keeps them ready even when the bank is quiet."
    ),
)
def event_store_partitions(context: dg.AssetExecutionContext, bank_db: BankDatabase) -> dg.MaterializeResult:
    with bank_db.runtime() as runtime:
        ready_until = runtime.store.ensure_partitions()
        partitions = runtime.store.partitions()
    context.log.info(f"{len(partitions)} partitions, ready until {ready_until}")
    return dg.MaterializeResult(
        metadata={
            "partitions": dg.MetadataValue.json(partitions),
            "partition_count": len(partitions),
            "ready_until": ready_until.isoformat(),
        }
    )
