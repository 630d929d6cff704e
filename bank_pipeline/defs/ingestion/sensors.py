import dagster as dg

from bank_pipeline.defs.ingestion.jobs import ingest_landing_file_job
from bank_pipeline.defs.ingestion.partitions import landing_files
from bank_pipeline.defs.resources import LandingZone
from bank_pipeline.ingest.landing import LandingFile, recognise


def new_landing_files(landing_zone: LandingZone, known: set[str]) -> list[LandingFile]:
    """Landing files in the zone that have no partition yet, in ingestion order."""
    directory = landing_zone.directory
    if not directory.is_dir():
        return []
    found = (recognise(path) for path in directory.iterdir() if path.is_file())
    return sorted(f for f in found if f is not None and f.name not in known)


@dg.sensor(
    job=ingest_landing_file_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches the landing zone (BANK_PIPELINE_LANDING_DIR): each new landing file becomes a partition of "
        "ingested_landing_file and one run, requested in landing order. Other names are ignored."
    ),
)
def landing_zone_sensor(context: dg.SensorEvaluationContext, landing_zone: LandingZone) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(landing_files.name))
    arrived = new_landing_files(landing_zone, known)
    if not arrived:
        return dg.SensorResult(skip_reason=f"no new landing files in {landing_zone.directory}")
    names = [f.name for f in arrived]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=name, partition_key=name) for name in names],
        dynamic_partitions_requests=[landing_files.build_add_request(names)],
    )
