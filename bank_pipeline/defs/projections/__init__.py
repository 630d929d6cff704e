"""The read side in Dagster: the daily-partitioned read model (catch up; backfills rebuild days), its
reconciliation checks, the day's ledger totals it gates, and the schedule and sensor that keep it fresh."""
