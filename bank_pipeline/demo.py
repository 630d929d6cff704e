"""`bank-pipeline demo`: a small bank from nothing, through the whole asset graph as it exists.

1. migrate the (embedded) PostgreSQL;
2. simulate a small bank into the landing zone (deterministic: a second run writes identical files);
3. let the landing-zone sensor register the new files, and run one ingestion run per file, in landing
   order, on a Dagster instance stored in PostgreSQL — the same runs `bank-pipeline ui` shows;
4. run the event-store maintenance and audit-digest jobs (digests sealed, history verified).

Running it again is safe: the files are the same, the sensor finds nothing new, nothing is appended.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from bank_pipeline.dagster_home import prepare_dagster_home
from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings

DEMO_CUSTOMERS = 300
DEMO_DAYS = 7
DEMO_SEED = 2026
#: The demo prints its own summary; Dagster's per-step console log stays in the run's event log (the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class FileRun:
    file_name: str
    succeeded: bool
    metadata: dict
    blocked_by: str | None  # the failed blocking check, when the run stopped on one


@dataclass
class DemoSummary:
    landing_dir: Path
    dagster_home: Path
    simulation: object  # bank_pipeline.simulator.SimulationSummary
    file_runs: list[FileRun] = field(default_factory=list)
    files_by_status: Counter = field(default_factory=Counter)
    totals: dict[str, int] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    events_total: int = 0
    digests_sealed_now: int = 0
    history_intact: bool = False
    timings: dict[str, float] = field(default_factory=dict)


def run_demo(
    *,
    customers: int = DEMO_CUSTOMERS,
    days: int = DEMO_DAYS,
    seed: int = DEMO_SEED,
    on_phase: Callable[[str, int], None] = lambda phase, total: None,
    on_step: Callable[[str], None] = lambda step: None,
) -> DemoSummary:
    from bank_pipeline.definitions import defs
    from bank_pipeline.defs.ingestion.partitions import landing_files
    from bank_pipeline.defs.ingestion.sensors import landing_zone_sensor
    from bank_pipeline.defs.resources import LandingZone
    from bank_pipeline.simulator import simulate

    timings: dict[str, float] = {}
    started = time.perf_counter()
    on_phase("migrating the database", 1)
    Runtime.open(migrate_schema=True).close()
    timings["migrate"] = time.perf_counter() - started

    landing_dir = get_settings().landing_path
    on_phase(f"simulating {customers:,} customers over {days} days", days)
    began = time.perf_counter()
    simulation = simulate(customers=customers, days=days, seed=seed, out=landing_dir)
    timings["simulate"] = time.perf_counter() - began

    home = prepare_dagster_home()
    instance = dg.DagsterInstance.from_config(str(home))
    summary = DemoSummary(landing_dir, home, simulation, timings=timings)
    began = time.perf_counter()
    landing_zone = LandingZone(path=str(landing_dir))
    sensed = landing_zone_sensor(dg.build_sensor_context(instance=instance, resources={"landing_zone": landing_zone}))
    requests = sensed.run_requests or []
    if requests:
        instance.add_dynamic_partitions(landing_files.name, [r.partition_key for r in requests])
    on_phase(f"ingesting {len(requests)} new landing files (one Dagster run each)", len(requests))
    ingest_job = defs.resolve_job_def("ingest_landing_file")
    for request in requests:
        on_step(request.partition_key)
        result = ingest_job.execute_in_process(
            partition_key=request.partition_key, instance=instance, raise_on_error=False, run_config=QUIET,
            tags={"dagster/run_key": request.run_key, "source": "bank-pipeline demo"},
        )  # fmt: skip
        summary.file_runs.append(_file_run(request.partition_key, result))
    timings["ingest"] = time.perf_counter() - began

    began = time.perf_counter()
    on_phase("event-store maintenance and audit digests", 2)
    for job_name in ("event_store_maintenance", "seal_audit_digests"):
        on_step(job_name)
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET
        )
        if job_name == "seal_audit_digests":
            materialization = result.asset_materializations_for_node("event_store_digests")
            if materialization:
                summary.digests_sealed_now = materialization[0].metadata["digests_sealed_now"].value
            checks = result.get_asset_check_evaluations()
            summary.history_intact = bool(checks) and all(check.passed for check in checks)
    timings["digests and audit"] = time.perf_counter() - began

    _totals(summary)
    summary.timings["total"] = time.perf_counter() - started
    return summary


def _file_run(file_name: str, result: dg.ExecuteInProcessResult) -> FileRun:
    materializations = result.asset_materializations_for_node("ingested_landing_file")
    metadata = {k: v.value for k, v in materializations[0].metadata.items()} if materializations else {}
    failed_blocking = [
        check.check_name for check in result.get_asset_check_evaluations() if not check.passed and check.blocking
    ]
    return FileRun(file_name, result.success, metadata, failed_blocking[0] if failed_blocking else None)


def _totals(summary: DemoSummary) -> None:
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        summary.files_by_status = Counter(
            dict(conn.execute("SELECT status, count(*) FROM ingest.files GROUP BY 1").fetchall())
        )
        received, accepted, duplicate, quarantined, events = conn.execute(
            "SELECT coalesce(sum(received), 0), coalesce(sum(accepted), 0), coalesce(sum(duplicate), 0), "
            "coalesce(sum(quarantined), 0), coalesce(sum(events_appended), 0) FROM ingest.files"
        ).fetchone()
        summary.totals = {
            "received": int(received), "accepted": int(accepted), "duplicate": int(duplicate),
            "quarantined": int(quarantined), "events_appended": int(events),
        }  # fmt: skip
        summary.quarantined_by_reason = dict(
            conn.execute("SELECT reason_code, count(*) FROM ingest.quarantine GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
        )
        summary.events_total = conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]
