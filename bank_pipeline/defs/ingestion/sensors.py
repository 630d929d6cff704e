import dagster as dg

from bank_pipeline.defs.ingestion.jobs import ingest_landing_file_job
from bank_pipeline.defs.ingestion.partitions import landing_files
from bank_pipeline.defs.resources import BankDatabase, LandingZone
from bank_pipeline.ingest.ingestion import changed_after_ingestion, finished_file_names
from bank_pipeline.ingest.landing import landing_files_in, unrecognised_names

#: A run in one of these states will not finish the file: the sensor asks for another.
_GAVE_UP = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


@dg.sensor(
    job=ingest_landing_file_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches the landing zone (BANK_PIPELINE_LANDING_DIR): each new landing file becomes a partition of "
        "ingested_landing_file and a run, requested in landing order; a file whose last run failed before it "
        "was finished gets another run. Misnamed files are reported in the sensor's log."
    ),
)
def landing_zone_sensor(
    context: dg.SensorEvaluationContext, landing_zone: LandingZone, bank_db: BankDatabase
) -> dg.SensorResult:
    directory = landing_zone.directory
    misnamed = unrecognised_names(directory)
    if misnamed:
        context.log.warning(
            f"{len(misnamed)} file(s) in {directory} are not landing files and are ignored "
            f"(names in bank_pipeline/ingest/landing.py): {', '.join(misnamed[:10])}"
        )
    with bank_db.runtime() as runtime:
        finished = finished_file_names(runtime.pool)
        changed = changed_after_ingestion(runtime.pool, directory)
    if changed:
        context.log.warning(
            f"{len(changed)} landing file(s) changed after they were ingested and are not ingested again: "
            f"{', '.join(changed[:10])}. Deliver corrections as new files (next sequence number)."
        )
    known = set(context.instance.get_dynamic_partitions(landing_files.name))
    requests, new = [], []
    for landing in landing_files_in(directory):
        if landing.name not in known:
            new.append(landing.name)
            requests.append(dg.RunRequest(run_key=landing.name, partition_key=landing.name))
        elif landing.name not in finished:
            last = _last_run(context.instance, landing.name)
            if last is None:  # registered but never run (e.g. a demo interrupted before reaching it)
                requests.append(dg.RunRequest(run_key=landing.name, partition_key=landing.name))
            elif last.status in _GAVE_UP:  # one more run per failed one
                requests.append(
                    dg.RunRequest(run_key=f"{landing.name} after {last.run_id}", partition_key=landing.name)
                )
    if not requests:
        return dg.SensorResult(skip_reason=f"nothing new or stalled in {directory}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[landing_files.build_add_request(new)] if new else [],
    )


def _last_run(instance: dg.DagsterInstance, partition: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": partition}), limit=1)
    return runs[0] if runs else None
