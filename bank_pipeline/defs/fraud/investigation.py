"""Fraud investigation in Dagster: a cursor sensor cuts the event stream into windows behind the fast path and
launches one run per window (its run key is the window, so no window is investigated twice); the run's asset
records the cases the window shows across accounts."""

import dagster as dg
from pydantic import Field

from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.fraud.investigation import investigate
from bank_pipeline.store.records import Checkpoint
from bank_pipeline.store.stream_worker import show

#: A window is investigated once it holds a new alert, or this many events without one.
EVENTS_PER_QUIET_WINDOW = 10_000


class FraudWindowConfig(dg.Config):
    after: str = Field(description="Where the window starts (exclusive): transaction_id:global_position.")
    upto: str = Field(description="Where it ends (inclusive): transaction_id:global_position.")


def parse_checkpoint(text: str) -> Checkpoint:
    transaction_id, position = text.split(":")
    return Checkpoint(int(transaction_id), int(position))


@dg.asset(
    name="fraud_cases",
    group_name="fraud",
    owners=["team:fraud"],
    kinds={"postgres", "polars"},
    metadata={"table": "fraud.cases (sql/013)", "analysis": "bank_pipeline/fraud/investigation.py"},
    description=(
        "Cases found across accounts in a window of the event stream behind the fast path: mule rings (an "
        "account several accounts of the bank paid, that passed most of it on) and customers whose accounts "
        "raised alerts on two or more of them. Launched by fraud_investigation_sensor, one run per window."
    ),
)
def fraud_cases(context: dg.AssetExecutionContext, config: FraudWindowConfig, bank_db: BankDatabase):
    after, upto = parse_checkpoint(config.after), parse_checkpoint(config.upto)
    with bank_db.runtime() as runtime, runtime.pool.connection() as conn:
        cases = investigate(conn, after, upto)
    context.log.info(f"window {show(after)}..{show(upto)}: {len(cases)} case(s)")
    rows = "\n".join(
        f"| {case.kind} | {case.subject} | {len(case.accounts)} | {', '.join(case.accounts[:6])} |" for case in cases
    )
    return dg.MaterializeResult(
        metadata={
            "window": f"{show(after)}..{show(upto)}",
            "cases": len(cases),
            "mule_rings": sum(1 for case in cases if case.kind == "mule_ring"),
            "customer_patterns": sum(1 for case in cases if case.kind == "customer_pattern"),
            "found": dg.MetadataValue.md(
                "| kind | subject | accounts | first accounts |\n|---|---|---:|---|\n" + rows if cases else "No case."
            ),
        }
    )


investigate_fraud_job = dg.define_asset_job(
    "investigate_fraud", selection=[fraud_cases], description="Investigates one window of the event stream."
)


@dg.sensor(
    job=investigate_fraud_job,
    minimum_interval_seconds=30,
    description="Every 30 s: if the fast path has judged events past the cursor and they hold a new alert (or "
    f"{EVENTS_PER_QUIET_WINDOW:,} events), investigates them as one window, keyed by the window.",
)
def fraud_investigation_sensor(context: dg.SensorEvaluationContext, bank_db: BankDatabase):
    after = parse_checkpoint(context.cursor) if context.cursor else Checkpoint(0, 0)
    with bank_db.runtime() as runtime, runtime.pool.connection() as conn:
        if conn.execute("SELECT to_regclass('fraud.checkpoints')").fetchone()[0] is None:
            return dg.SkipReason("no fraud schema yet: run `bank-pipeline db migrate`")
        upto = Checkpoint(*conn.execute("SELECT transaction_id, global_position FROM fraud.checkpoints").fetchone())
        window = {"after_tx": after.transaction_id, "after_pos": after.global_position,
                  "upto_tx": upto.transaction_id, "upto_pos": upto.global_position}  # fmt: skip
        alerts, events = conn.execute(
            "SELECT (SELECT count(*) FROM fraud.alerts WHERE (transaction_id, global_position) > (%(after_tx)s, "
            "%(after_pos)s) AND (transaction_id, global_position) <= (%(upto_tx)s, %(upto_pos)s)), "
            "(SELECT count(*) FROM event_store.events WHERE (transaction_id, global_position) > (%(after_tx)s, "
            "%(after_pos)s) AND (transaction_id, global_position) <= (%(upto_tx)s, %(upto_pos)s))",
            window,
        ).fetchone()
    if upto <= after or (alerts == 0 and events < EVENTS_PER_QUIET_WINDOW):
        return dg.SkipReason(f"{alerts} alert(s), {events:,} event(s) past {show(after)}: waiting for more")
    context.update_cursor(show(upto))
    return dg.RunRequest(
        run_key=f"fraud-window-{show(after)}-{show(upto)}",
        run_config={"ops": {"fraud_cases": {"config": {"after": show(after), "upto": show(upto)}}}},
        tags={"fraud/window": f"{show(after)}..{show(upto)}"},
    )
