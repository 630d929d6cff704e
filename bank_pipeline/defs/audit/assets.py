import dagster as dg

from bank_pipeline.defs.resources import BankDatabase


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
