import dagster as dg
import polars as pl

from bank_pipeline.defs.ingestion.partitions import landing_files
from bank_pipeline.defs.resources import BankDatabase, LandingZone
from bank_pipeline.ingest.errors import EarlierFilesPending, FileBeingIngested
from bank_pipeline.ingest.ingestion import FileOutcome, Ingestion, ingestion_totals, quarantine_summary

REJECTION_CHECK = "rejection_rate_within_threshold"
VALIDATION_CHECK = "great_expectations_suite"
WAIT_FOR_EARLIER_FILES_SECONDS = 15
MAX_WAITS = 40  # ten minutes of earlier files still pending: then the run fails and says which


@dg.asset(
    name="ingested_landing_file",
    group_name="ingestion",
    owners=["team:data-platform"],
    kinds={"polars", "postgres"},
    metadata={
        "tables": "ingest.files, ingest.quarantine; events through the command path into event_store.events",
        "contract": "bank_pipeline/ingest/landing.py",
        "validation_suites": "bank_pipeline/ingest/validation_rules.py (one per kind and schema version)",
    },
    partitions_def=landing_files,
    description=(
        "One landing file (a partition per file, added by the landing-zone sensor) parsed with polars, validated "
        "with its Great Expectations suite, and applied to the event store as commands. Every received row is "
        "accounted for: received = accepted + duplicate + quarantined (ingest.quarantine says why)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            REJECTION_CHECK,
            asset="ingested_landing_file",
            blocking=True,
            description="The share of the file's rows quarantined stays under the configured threshold "
            "(BANK_PIPELINE_MAX_REJECTION_RATE); above it, downstream assets do not run.",
        ),
        dg.AssetCheckSpec(
            VALIDATION_CHECK,
            asset="ingested_landing_file",
            description="The file's rows against its Great Expectations suite (per kind and schema version).",
        ),
    ],
)
def ingested_landing_file(
    context: dg.AssetExecutionContext, bank_db: BankDatabase, landing_zone: LandingZone
) -> dg.MaterializeResult:
    path = landing_zone.directory / context.partition_key
    with (
        bank_db.runtime() as runtime,
        Ingestion(runtime.handler, runtime.pool, landing_zone.directory, landing_zone.rejection_threshold) as ingestion,
    ):
        try:
            outcome = ingestion.ingest(path)
        except (EarlierFilesPending, FileBeingIngested) as waiting:
            context.log.info(str(waiting))
            raise dg.RetryRequested(max_retries=MAX_WAITS, seconds_to_wait=WAIT_FOR_EARLIER_FILES_SECONDS) from waiting
    context.log.info(
        f"{outcome.file_name}: {outcome.received} received = {outcome.accepted} accepted + {outcome.duplicate} "
        f"duplicate + {outcome.quarantined} quarantined ({outcome.status})"
    )
    return dg.MaterializeResult(
        metadata=outcome_metadata(outcome),
        check_results=[rejection_check(outcome, landing_zone.rejection_threshold), validation_check(outcome)],
    )


def outcome_metadata(outcome: FileOutcome) -> dict:
    metadata: dict = {
        "kind": outcome.kind,
        "schema_version": outcome.schema_version,
        "status": outcome.status,
        "received": outcome.received,
        "accepted": outcome.accepted,
        "duplicate": outcome.duplicate,
        "quarantined": outcome.quarantined,
        "accounted_for": dg.MetadataValue.text(
            f"{outcome.received} = {outcome.accepted} + {outcome.duplicate} + {outcome.quarantined}"
        ),
        "rejection_rate": round(outcome.rejection_rate, 4),
        "events_appended": outcome.events_appended,
        "quarantined_by_reason": dg.MetadataValue.json(outcome.quarantined_by_reason),
        "seconds": round(outcome.seconds, 3),
    }
    if outcome.duplicate_of:
        metadata["duplicate_of"] = outcome.duplicate_of
    if outcome.already_done:
        metadata["note"] = "already ingested earlier: nothing changed"
    if outcome.status == "rejected":
        metadata["note"] = "rejected whole: too many rows failed validation, nothing was applied"
    return metadata


def rejection_check(outcome: FileOutcome, threshold: float) -> dg.AssetCheckResult:
    passed = outcome.rejection_rate <= threshold
    metadata: dict = {"rejection_rate": round(outcome.rejection_rate, 4), "threshold": threshold}
    if not passed:
        metadata["what_to_do"] = (
            f"Inspect the rows: SELECT line, reason_code, reason FROM ingest.quarantine WHERE file_name = "
            f"'{outcome.file_name}'. Fix upstream and deliver a corrected file under the next sequence number; "
            "downstream assets stay blocked for this run."
        )
    return dg.AssetCheckResult(
        check_name=REJECTION_CHECK, passed=passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata
    )


def validation_check(outcome: FileOutcome) -> dg.AssetCheckResult:
    summary = outcome.validation
    if summary is None:
        reason = {"unreadable": "the file could not be read", "duplicate_file": "a copy of an earlier file"}
        return dg.AssetCheckResult(
            check_name=VALIDATION_CHECK,
            passed=outcome.status != "unreadable",
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"not_validated": reason.get(outcome.status, outcome.status)},
        )
    failed = summary["failed"]
    return dg.AssetCheckResult(
        check_name=VALIDATION_CHECK,
        passed=not failed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "suite": summary["suite"],
            "rows": summary["rows"],
            "rows_passed": summary["rows_passed"],
            "expectations": summary["expectations"],
            "expectations_failed": dg.MetadataValue.md(
                "\n".join(f"- {f['description']} ({f['column']}): {f['rows']} rows" for f in failed) or "none"
            ),
        },
    )


@dg.asset(
    group_name="ingestion",
    owners=["team:data-platform"],
    kinds={"postgres"},
    metadata={"tables": "ingest.quarantine, ingest.files"},
    deps=["ingested_landing_file"],
    description=(
        "What operators work through: quarantined rows per landing file and reason, with an example reason. "
        "Refreshed after ingestion; a file whose rejection check fails blocks it."
    ),
)
def quarantine_report(bank_db: BankDatabase) -> dg.MaterializeResult:
    with bank_db.runtime() as runtime:
        summary = quarantine_summary(runtime.pool)
        totals = ingestion_totals(runtime.pool)
    by_reason = summary.group_by("reason_code").agg(pl.col("rows").sum()).sort("reason_code")
    return dg.MaterializeResult(
        metadata={
            **totals,
            "by_reason": dg.MetadataValue.json({r["reason_code"]: r["rows"] for r in by_reason.iter_rows(named=True)}),
            "by_file_and_reason": dg.MetadataValue.md(_markdown(summary)),
        }
    )


def _markdown(summary: pl.DataFrame) -> str:
    if summary.height == 0:
        return "nothing quarantined"
    lines = ["| file | reason | rows | example |", "|---|---|---|---|"]
    for row in summary.head(200).iter_rows(named=True):
        example = row["example"].replace("|", "\\|")[:160]
        lines.append(f"| {row['file_name']} | {row['reason_code']} | {row['rows']} | {example} |")
    return "\n".join(lines)
