from datetime import UTC, datetime

import dagster as dg

from bank_pipeline.archive.errors import ArchiveError
from bank_pipeline.archive.months import is_due, month_of
from bank_pipeline.archive.purge import purge_expired
from bank_pipeline.archive.retire import archive_month
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.defs.projections.partitions import FIRST_BUSINESS_DAY
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.personal_data.legal_holds import held_streams
from bank_pipeline.projections.projector import Projector
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


class PurgeConfig(dg.Config):
    """Empty values: BANK_PIPELINE_ARCHIVE_URI, BANK_PIPELINE_ARCHIVE_RETENTION_YEARS (7), and the run's start."""

    store_uri: str | None = None
    retention_years: int | None = None
    now: str | None = None  # ISO 8601: the instant retention is measured from; later than the clock is refused
    allow_future_now: bool = False  # rehearsals on a copy of the data only: a purge cannot be undone


@dg.asset(
    group_name="retention",
    owners=["team:compliance"],
    kinds={"postgres", "parquet"},
    deps=[event_archive],
    metadata={
        "tables": "event_store.month_purges, event_store.archive_files (view)",
        "audit_stream": "retention-purges (RetentionPurged events)",
        "migrations": "sql/018",
        "cli": "bank-pipeline archive purge",
    },
    description=(
        "Streams past the retention period (BANK_PIPELINE_ARCHIVE_RETENTION_YEARS, 7 by default) purged from the "
        "archive: transfers, closed accounts and former customers with nothing recorded since the cutoff, unless a "
        "legal hold keeps them; live streams are never purged. Their archived events become tombstones that keep "
        "only position and hash, so month digests, range digests and the remaining chains still verify; each "
        "rewritten month is recorded in event_store.month_purges and the purge as a RetentionPurged event."
    ),
)
def retention_purge(context: dg.AssetExecutionContext, config: PurgeConfig, bank_db: BankDatabase):
    settings = get_settings()
    now = datetime.fromisoformat(config.now) if config.now else datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    years = settings.archive_retention_years if config.retention_years is None else config.retention_years
    store = ArchiveStore(config.store_uri or settings.archive_location)
    with bank_db.runtime() as runtime:
        try:
            report = purge_expired(
                runtime.store, store, now=now, retention_years=years, allow_future_now=config.allow_future_now,
                on_month=lambda month: context.log.info(f"{month:%Y-%m}: rewriting without the purged streams"),
            )  # fmt: skip
        except ArchiveError as error:
            raise dg.Failure(description=f"nothing more was purged: {error}") from error
    return dg.MaterializeResult(
        metadata={
            "cutoff": report.cutoff.isoformat(),
            "streams_purged": report.streams_purged,
            "events_purged": report.events_purged,
            "streams_held": report.streams_held,
            "months_rewritten": [f"{m.month:%Y-%m}" for m in report.months],
            "purge_event_position": report.event_position if report.event_position is not None else -1,
            "seconds": round(report.seconds, 2),
        }
    )


@dg.asset_check(
    asset=retention_purge,
    blocking=True,
    description=(
        "Every customer and account stream an active legal hold keeps still has its stream row: no purge touched "
        "a held stream (their transfers stay because their accounts do)."
    ),
)
def held_streams_are_intact(bank_db: BankDatabase) -> dg.AssetCheckResult:
    with bank_db.runtime() as runtime, runtime.pool.connection() as conn:
        Projector(runtime.pool).catch_up()  # a hold placed a moment ago counts too
        held = held_streams(conn)
        kept = {row[0] for row in conn.execute(
            "SELECT stream_id FROM event_store.streams WHERE stream_id = ANY(%s)", (sorted(held),))}  # fmt: skip
    missing = sorted(held - kept)
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={"held_streams": len(held), "missing": ", ".join(missing[:20]) or "none"},
    )
