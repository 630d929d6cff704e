from datetime import UTC, datetime

import dagster as dg

from bank_pipeline.archive.errors import ArchiveError
from bank_pipeline.archive.months import is_due, month_of
from bank_pipeline.archive.retire import archive_month
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.defs.projections.partitions import FIRST_BUSINESS_DAY
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.settings import get_settings

#: Calendar months (UTC), the current one included (it is never due, but a run with `now` later can archive it).
archive_months = dg.MonthlyPartitionsDefinition(start_date=FIRST_BUSINESS_DAY, timezone="UTC", end_offset=1)


class ArchiveConfig(dg.Config):
    """Empty values: BANK_PIPELINE_ARCHIVE_URI (default <home>/archive), BANK_PIPELINE_ARCHIVE_HOT_MONTHS (13),
    and the run's start as `now`."""

    store_uri: str | None = None
    hot_months: int | None = None
    now: str | None = None  # ISO 8601: the instant the hot window is measured from


@dg.asset(
    group_name="retention",
    owners=["team:compliance"],
    kinds={"postgres", "parquet"},
    partitions_def=archive_months,
    output_required=False,
    metadata={
        "tables": "event_store.archived_months",
        "store": "BANK_PIPELINE_ARCHIVE_URI, default <home>/archive/events/<YYYY>/<MM>/ (parquet + manifest.json)",
        "migrations": "sql/015",
        "cli": "bank-pipeline archive run | list",
    },
    description=(
        "A month of events older than the hot window (BANK_PIPELINE_ARCHIVE_HOT_MONTHS, 13 by default) moved "
        "from its PostgreSQL partition to Parquet (zstd) with a manifest (position range, count, per-stream chain "
        "heads, checksums, chain digest). The file is read back and compared with the partition event for event, "
        "and only then is the month recorded in event_store.archived_months and its partition detached and "
        "dropped, in one transaction: a failure at any step leaves the hot data intact, and a re-run finishes "
        "the job. A month inside the hot window materialises nothing."
    ),
)
def event_archive(context: dg.AssetExecutionContext, config: ArchiveConfig, bank_db: BankDatabase):
    settings = get_settings()
    month = month_of(context.partition_time_window.start)
    now = datetime.fromisoformat(config.now) if config.now else datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    hot_months = settings.archive_hot_months if config.hot_months is None else config.hot_months
    if not is_due(month, now, hot_months):
        # Not a failure: nothing is wrong, the month is simply still hot. No materialization is recorded, so
        # the partition shows as not materialised until a later run archives it.
        context.log.info(f"{month:%Y-%m} is inside the hot window ({hot_months} months before {now:%Y-%m}): kept")
        return
    store = ArchiveStore(config.store_uri or settings.archive_location)
    with bank_db.runtime() as runtime, runtime.pool.connection() as conn:
        try:
            outcome = archive_month(
                conn, store, month, now=now, hot_months=hot_months, on_step=lambda s: context.log.info(f"step: {s}")
            )
        except ArchiveError as error:
            raise dg.Failure(description=f"{month:%Y-%m} was not archived, the partition is intact: {error}") from error
    if outcome.export is None:
        context.log.info(f"{month:%Y-%m}: {outcome.status.replace('_', ' ')}: nothing to do")
        return
    export = outcome.export
    yield dg.MaterializeResult(
        metadata={
            "events": export.events,
            "bytes": export.bytes,
            "bytes_per_event": round(export.bytes_per_event, 1),
            "export_events_per_second": round(export.events_per_second),
            "seconds": round(outcome.seconds, 2),
            "manifest_uri": dg.MetadataValue.url(export.manifest_uri),
            "parquet_uri": dg.MetadataValue.url(export.parquet_uri),
            "chain_digest": export.manifest.chain_digest,
            "parquet_sha256": export.manifest.parquet_sha256,
        }
    )
