import dagster as dg

from bank_pipeline.defs.projections.assets import daily_ledger_totals, read_model
from bank_pipeline.defs.projections.partitions import business_days

project_read_model_job = dg.define_asset_job(
    "project_read_model",
    selection=[read_model, daily_ledger_totals],
    partitions_def=business_days,
    description="Catches the read model up (a backfill also rebuilds its days), reconciles it, then totals the "
    "ledger per day; the totals wait for a passing reconciliation.",
)
