import dagster as dg

from bank_pipeline.defs.projections.jobs import project_read_model_job
from bank_pipeline.ingest.landing import recognise


@dg.asset_sensor(
    asset_key=dg.AssetKey("ingested_landing_file"),
    job=project_read_model_job,
    minimum_interval_seconds=30,
    description="After a landing file is ingested, projects and reconciles the read model for the file's business day.",
)
def read_model_after_ingestion(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    file_name = asset_event.dagster_event.partition if asset_event.dagster_event else None
    landing_file = recognise(file_name) if file_name else None
    if landing_file is None:
        return dg.SkipReason(f"materialization of {file_name!r} names no business day")
    return dg.RunRequest(
        run_key=f"{file_name}:{asset_event.run_id}:{asset_event.timestamp}", partition_key=landing_file.day.isoformat()
    )
