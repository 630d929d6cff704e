"""`finish_erasures`: the daily sweep that finishes interrupted GDPR erasures (personal_data/erasure.sweep): keys of
erased customers still there are destroyed, their stored statements re-rendered, their quarantined rows scrubbed."""

import dagster as dg

from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.personal_data.erasure import sweep
from bank_pipeline.settings import get_settings
from bank_pipeline.statements.store import StatementStore


@dg.op(description="Finishes every interrupted erasure; safe to run at any time, and again.")
def sweep_erasures(context: dg.OpExecutionContext, bank_db: BankDatabase) -> dict:
    with bank_db.runtime() as runtime:
        report = sweep(runtime.handler, StatementStore(get_settings().statement_path))
    summary = {
        "keys_destroyed": len(report.keys_destroyed),
        "customers_redacted": len(report.redacted),
        "quarantine_rows_scrubbed": report.quarantine_scrubbed,
    }
    context.log.info(f"erasure sweep: {summary}")
    context.add_output_metadata(summary)
    return summary


@dg.job(description="Finishes interrupted GDPR erasures (bank-pipeline customer sweep-erasures does the same).")
def finish_erasures():
    sweep_erasures()


daily_erasure_sweep = dg.ScheduleDefinition(job=finish_erasures, cron_schedule="30 4 * * *", execution_timezone="UTC")
