"""The Dagster code location (loaded by workspace.yaml and `dagster dev -m bank_pipeline.definitions`)."""

import dagster as dg

from bank_pipeline.defs.archive.assets import event_archive, held_streams_are_intact, retention_purge
from bank_pipeline.defs.archive.schedules import monthly_retention_purge, retention_purge_job
from bank_pipeline.defs.audit.assets import audit_digest, event_store_digests
from bank_pipeline.defs.audit.checks import event_store_history_is_intact
from bank_pipeline.defs.audit.schedules import (
    audit_digest_job,
    hourly_audit_digests,
    monthly_audit_digest,
    publish_month_digest_job,
)
from bank_pipeline.defs.event_store.assets import event_store_partitions
from bank_pipeline.defs.event_store.schedules import (
    daily_event_store_maintenance,
    event_store_maintenance_job,
)
from bank_pipeline.defs.fraud.assets import daily_fraud_metrics
from bank_pipeline.defs.fraud.investigation import fraud_cases, fraud_investigation_sensor, investigate_fraud_job
from bank_pipeline.defs.ingestion.assets import ingested_landing_file, quarantine_report
from bank_pipeline.defs.ingestion.jobs import ingest_landing_file_job
from bank_pipeline.defs.ingestion.sensors import landing_zone_sensor
from bank_pipeline.defs.personal_data.jobs import daily_erasure_sweep, finish_erasures
from bank_pipeline.defs.projections.assets import daily_ledger_totals, read_model
from bank_pipeline.defs.projections.jobs import project_read_model_job
from bank_pipeline.defs.projections.schedules import read_model_every_five_minutes
from bank_pipeline.defs.projections.sensors import read_model_after_ingestion
from bank_pipeline.defs.replay.jobs import replay_account
from bank_pipeline.defs.resources import resources
from bank_pipeline.defs.statements.assets import monthly_statements
from bank_pipeline.defs.statements.jobs import monthly_statements_job, statements_for_a_range
from bank_pipeline.defs.statements.schedules import monthly_statements_schedule

defs = dg.Definitions(
    assets=[
        event_store_partitions,
        ingested_landing_file,
        quarantine_report,
        event_store_digests,
        audit_digest,
        event_archive,
        retention_purge,
        read_model,
        daily_ledger_totals,
        monthly_statements,
        daily_fraud_metrics,
        fraud_cases,
    ],
    asset_checks=[event_store_history_is_intact, held_streams_are_intact],
    jobs=[
        event_store_maintenance_job,
        ingest_landing_file_job,
        audit_digest_job,
        publish_month_digest_job,
        project_read_model_job,
        replay_account,
        monthly_statements_job,
        statements_for_a_range,
        investigate_fraud_job,
        retention_purge_job,
        finish_erasures,
    ],
    schedules=[
        daily_event_store_maintenance,
        hourly_audit_digests,
        monthly_audit_digest,
        read_model_every_five_minutes,
        monthly_statements_schedule,
        monthly_retention_purge,
        daily_erasure_sweep,
    ],
    sensors=[landing_zone_sensor, read_model_after_ingestion, fraud_investigation_sensor],
    resources=resources(),
)
