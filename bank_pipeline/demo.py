"""`bank-pipeline demo`: a small bank from nothing, through the whole asset graph as it exists.

1. migrate the (embedded) PostgreSQL;
2. simulate a small bank into the landing zone (deterministic: a second run writes identical files);
3. register every landing file not finished yet as a partition and run one ingestion run per file, in
   landing order, on a Dagster instance stored in PostgreSQL — what the landing-zone sensor does, and the
   same runs `bank-pipeline ui` shows;
4. project the read model over the simulated business days in one run (catch up, reconcile, daily ledger
   totals), as the schedule and the post-ingestion sensor do;
5. judge the history with the fraud fast path (what `bank-pipeline fraud worker` does as events arrive),
   freeze the accounts of high-severity alerts through the command path, investigate the stream in Dagster
   (fraud_cases) and score the alerts against the simulator's labels;
6. generate the simulated month's statements (monthly_statements, every format) into the statement store;
7. run the event-store maintenance and audit-digest jobs (digests sealed, history verified).

Running it again is safe: the files are the same and finished, nothing is appended; a run that was interrupted
is resumed (its file is still unfinished, and idempotency keys make the rows it had applied count once).
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from bank_pipeline.dagster_home import prepare_dagster_home
from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.ingest.errors import IngestionError
from bank_pipeline.ingest.ingestion import finished_file_names, ingestion_totals
from bank_pipeline.ingest.landing import landing_files_in
from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings

DEMO_CUSTOMERS = 300
DEMO_DAYS = 3
DEMO_SEED = 2026
#: The demo prints its own summary; Dagster's per-step console log stays in the run's event log (the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class DemoFailed(IngestionError):
    """A run failed for a reason other than a file's data (its blocking check)."""


@dataclass
class FileRun:
    file_name: str
    succeeded: bool
    metadata: dict
    blocked_by: str | None  # the failed blocking check, when the run stopped on one
    error: str | None = None  # the step's error, when the run failed otherwise


@dataclass
class ReadModelRun:
    first_day: str
    last_day: str
    events_projected: int
    checks: dict[str, bool]  # reconciliation check -> passed
    accounts: int
    entries: int
    balances_by_currency: dict[str, int]
    example_account: str | None  # for the replay command the summary suggests
    example_instant: str | None


@dataclass
class StatementsRun:
    month: str
    last_day: str
    statements: int
    files: int
    directory: str
    checks: dict[str, bool]
    regenerated: bool  # the month had been generated before (an earlier demo)
    changed: int  # statements that differ from that earlier generation
    example_account: str | None


@dataclass
class FraudRun:
    events_judged: int  # this run (0 when the detector had judged everything before)
    alerts_by_rule: dict[str, int]  # all alerts so far
    accounts_frozen: int  # by the detector, so far
    cases: int  # fraud.cases after the investigation
    score: object | None  # bank_pipeline.bench.fraud_quality.Score against the simulator's labels, if present
    example_alert: int | None


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
    read_model: "ReadModelRun | None" = None
    fraud: "FraudRun | None" = None
    statements: "list[StatementsRun]" = field(default_factory=list)
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
    # What the landing-zone sensor would start, file by file in landing order: every file not finished yet
    # (new ones, and any an interrupted earlier demo left behind).
    with Runtime.open() as runtime:
        finished = finished_file_names(runtime.pool)
    pending = [f.name for f in landing_files_in(landing_dir) if f.name not in finished]
    known = set(instance.get_dynamic_partitions(landing_files.name))
    instance.add_dynamic_partitions(landing_files.name, [name for name in pending if name not in known])
    on_phase(f"ingesting {len(pending)} landing file(s) (one Dagster run each)", len(pending))
    ingest_job = defs.resolve_job_def("ingest_landing_file")
    for name in pending:
        on_step(name)
        result = ingest_job.execute_in_process(
            partition_key=name, instance=instance, raise_on_error=False, run_config=QUIET,
            tags={"source": "bank-pipeline demo"},
        )  # fmt: skip
        run = _file_run(name, result)
        summary.file_runs.append(run)
        if not run.succeeded and run.blocked_by is None:  # not a data problem: later files would wait on it
            raise DemoFailed(
                f"the ingestion run for {name} failed: {run.error}. Its run is in the Dagster UI "
                "(`bank-pipeline ui`); fix the cause and run the demo again, it resumes where it stopped."
            )
    timings["ingest"] = time.perf_counter() - began

    began = time.perf_counter()
    days = sorted({landing_file.day for landing_file in landing_files_in(landing_dir)})
    on_phase(f"projecting the read model over {len(days)} business day(s) and reconciling it", 1)
    summary.read_model = _project_read_model(defs, instance, days[0].isoformat(), days[-1].isoformat())
    timings["read model"] = time.perf_counter() - began

    began = time.perf_counter()
    on_phase("judging the history for fraud, freezing, investigating", 1)
    summary.fraud = _detect_fraud(defs, instance, landing_dir)
    timings["fraud"] = time.perf_counter() - began

    began = time.perf_counter()
    months = sorted({day.replace(day=1) for day in days})
    on_phase(f"generating the statements of {len(months)} month(s) in every format", len(months))
    for month in months:
        on_step(month.isoformat())
        summary.statements.append(_generate_statements(defs, instance, month.isoformat()))
    timings["statements"] = time.perf_counter() - began

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


def _project_read_model(defs: dg.Definitions, instance: dg.DagsterInstance, first_day: str, last_day: str):
    """One run of project_read_model over the simulated days (a partition range, not a backfill: it catches up
    and reconciles; it does not rebuild the days)."""
    result = defs.resolve_job_def("project_read_model").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET,
        tags={"dagster/asset_partition_range_start": first_day, "dagster/asset_partition_range_end": last_day,
              "source": "bank-pipeline demo"},
    )  # fmt: skip
    checks = {check.check_name: check.passed for check in result.get_asset_check_evaluations()}
    if not result.success and all(checks.values()):
        failures = [event.step_failure_data.error for event in result.all_events if event.is_step_failure]
        reason = failures[0].message.strip() if failures and failures[0] is not None else "see the run in the UI"
        raise DemoFailed(f"projecting the read model failed: {reason}. Fix the cause and run the demo again.")
    materializations = result.asset_materializations_for_node("read_model")
    projected = materializations[0].metadata["events_projected_by_run"].value if materializations else 0
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        accounts, entries = conn.execute(
            "SELECT (SELECT count(*) FROM projections.account_balances), "
            "(SELECT count(*) FROM projections.account_entries)"
        ).fetchone()
        balances = dict(conn.execute(
            "SELECT currency, sum(ledger_balance)::bigint FROM projections.account_balances GROUP BY 1 ORDER BY 1"
        ).fetchall())  # fmt: skip
        example = conn.execute(
            "SELECT account_id, occurred_at FROM projections.account_entries "
            "ORDER BY account_id, stream_version OFFSET 3 LIMIT 1"
        ).fetchone()
    return ReadModelRun(
        first_day, last_day, projected, checks, accounts, entries, balances,
        example[0] if example else None, example[1].isoformat() if example else None,
    )  # fmt: skip


def _detect_fraud(defs: dg.Definitions, instance: dg.DagsterInstance, landing_dir: Path) -> FraudRun:
    """The fast path over everything not judged yet, then the freezes of its high-severity alerts (as the fraud
    worker does), one investigation run over the whole stream so far, and the alerts scored against the labels."""
    import polars as pl

    from bank_pipeline.bench.fraud_quality import INSTANCE, read_alerts, read_entries, score
    from bank_pipeline.fraud.actions import act_on_high_alerts
    from bank_pipeline.fraud.configuration import load_thresholds
    from bank_pipeline.fraud.detector import FraudDetector, read_checkpoint
    from bank_pipeline.simulator.fraud import PATTERNS
    from bank_pipeline.simulator.labels import FRAUD_LABELS, LABELS_DIR
    from bank_pipeline.store.stream_worker import show

    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        judged = sum(batch.events for batch in FraudDetector(load_thresholds()).catch_up(conn))
        while act_on_high_alerts(conn, runtime.handler):
            pass
        upto = read_checkpoint(conn)
    window = {"after": "0:0", "upto": show(upto)}
    result = defs.resolve_job_def("investigate_fraud").execute_in_process(
        instance=instance, raise_on_error=False, tags={"source": "bank-pipeline demo"},
        run_config={**QUIET, "ops": {"fraud_cases": {"config": window}}},
    )  # fmt: skip
    if not result.success:
        raise DemoFailed("the fraud investigation run failed: see it in the Dagster UI, fix it and run the demo again")
    labels_file = landing_dir / LABELS_DIR / FRAUD_LABELS
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        by_rule = dict(conn.execute("SELECT rule, count(*) FROM fraud.alerts GROUP BY 1 ORDER BY 1").fetchall())
        frozen, cases, example = conn.execute(
            "SELECT (SELECT count(DISTINCT account_id) FROM fraud.alerts WHERE action = 'frozen'), "
            "(SELECT count(*) FROM fraud.cases), (SELECT min(alert_id) FROM fraud.alerts)"
        ).fetchone()
        graded = None
        if labels_file.exists():
            labels = pl.read_csv(labels_file, schema_overrides=dict.fromkeys(INSTANCE, pl.String))
            graded = score(labels, read_alerts(conn), read_entries(conn), PATTERNS)
    return FraudRun(judged, by_rule, frozen, cases, graded, example)


def _generate_statements(defs: dg.Definitions, instance: dg.DagsterInstance, month: str) -> StatementsRun:
    """One run of generate_monthly_statements for the month (month-to-date when it is the current month)."""
    result = defs.resolve_job_def("generate_monthly_statements").execute_in_process(
        partition_key=month, instance=instance, raise_on_error=False, run_config=QUIET,
        tags={"source": "bank-pipeline demo"},
    )  # fmt: skip
    checks = {check.check_name: check.passed for check in result.get_asset_check_evaluations()}
    materializations = result.asset_materializations_for_node("monthly_statements")
    if not materializations:
        failures = [event.step_failure_data.error for event in result.all_events if event.is_step_failure]
        reason = failures[0].message.strip() if failures and failures[0] is not None else "see the run in the UI"
        raise DemoFailed(f"generating the statements of {month[:7]} failed: {reason}. Fix it and run the demo again.")
    metadata = {key: value.value for key, value in materializations[0].metadata.items()}
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        example = conn.execute(
            "SELECT account_id FROM projections.account_entries WHERE occurred_at >= %s::date "
            "GROUP BY account_id ORDER BY count(*) DESC, account_id LIMIT 1",
            (month,),
        ).fetchone()
    last_day = StatementPeriod.month(int(month[:4]), int(month[5:7])).last_day.isoformat()
    return StatementsRun(
        month[:7], last_day, metadata["statements"], metadata["files"], str(metadata["directory"]), checks,
        metadata["regenerated"], metadata["changed_since_previous_generation"], example[0] if example else None,
    )  # fmt: skip


def _file_run(file_name: str, result: dg.ExecuteInProcessResult) -> FileRun:
    materializations = result.asset_materializations_for_node("ingested_landing_file")
    metadata = {k: v.value for k, v in materializations[0].metadata.items()} if materializations else {}
    failed_blocking = [
        check.check_name for check in result.get_asset_check_evaluations() if not check.passed and check.blocking
    ]
    failures = [event.step_failure_data.error for event in result.all_events if event.is_step_failure]
    error = failures[0].message.strip() if failures and failures[0] is not None else None
    return FileRun(file_name, result.success, metadata, failed_blocking[0] if failed_blocking else None, error)


def _totals(summary: DemoSummary) -> None:
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        summary.files_by_status = Counter(
            dict(conn.execute("SELECT status, count(*) FROM ingest.files GROUP BY 1").fetchall())
        )
        summary.quarantined_by_reason = dict(
            conn.execute("SELECT reason_code, count(*) FROM ingest.quarantine GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
        )
        summary.events_total = conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]
        summary.totals = ingestion_totals(runtime.pool)
