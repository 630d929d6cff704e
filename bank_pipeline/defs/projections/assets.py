import dagster as dg

from bank_pipeline.defs.projections.checks import BALANCES_CHECK, DOUBLE_ENTRY_CHECK, LAG_CHECK, reconciliation_results
from bank_pipeline.defs.projections.partitions import business_days, business_days_of
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.projections.day_rebuild import rebuild_business_days
from bank_pipeline.projections.day_totals import day_totals
from bank_pipeline.projections.projector import Projector

BACKFILL_TAG = "dagster/backfill"


class ReadModelConfig(dg.Config):
    """A backfill always rebuilds its days; `rebuild_days` asks the same of a single run."""

    rebuild_days: bool = False


@dg.asset(
    name="read_model",
    group_name="read_side",
    owners=["team:ledger"],
    kinds={"postgres"},
    partitions_def=business_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetDep("ingested_landing_file", partition_mapping=dg.AllPartitionMapping())],
    metadata={
        "tables": "projections.account_balances, account_entries, daily_balances, account_holds, "
        "account_status_changes, customers, customer_accounts, checkpoints (sql/011)",
        "projector": "bank_pipeline/projections/projector.py (the same code as `bank-pipeline worker`)",
        "partition": "a business day (UTC date of business time)",
    },
    description=(
        "The read model the API and statements read: balances, transaction history with the balance after each "
        "entry, daily balances, holds, statuses, customers. A run catches the projector up with every committed "
        "event (exactly once: the checkpoint moves in the same transaction as the rows). A backfill over a range "
        "of days also deletes and rebuilds those days' entries and daily balances in one transaction. "
        "`bank-pipeline worker` keeps it current within a second between runs."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            BALANCES_CHECK,
            asset="read_model",
            blocking=True,
            description="Each projected account (all of them up to 100,000 accounts, else a random 10,000) equals the "
            "fold of its events: ledger balance, holds, status, version. Fails naming the accounts that differ.",
        ),
        dg.AssetCheckSpec(
            DOUBLE_ENTRY_CHECK,
            asset="read_model",
            blocking=True,
            description="Per currency, the projected balances add up to external money in minus out, and internal "
            "transfers net to zero.",
        ),
        dg.AssetCheckSpec(
            LAG_CHECK,
            asset="read_model",
            description="After the run, the read model is not behind the committed events by more than the "
            "allowed lag.",
        ),
    ],
)
def read_model(
    context: dg.AssetExecutionContext, config: ReadModelConfig, bank_db: BankDatabase
) -> dg.MaterializeResult:
    first_day, last_day = business_days_of(context)
    with bank_db.runtime() as runtime:
        caught_up = Projector(runtime.pool).catch_up()
        context.log.info(f"projected {caught_up.events:,} new events in {caught_up.batches} batches")
        metadata: dict = {
            "events_projected_by_run": caught_up.events,
            "first_day": str(first_day),
            "last_day": str(last_day),
        }
        if config.rebuild_days or BACKFILL_TAG in context.run.tags:
            with runtime.pool.connection() as conn:
                rebuilt = rebuild_business_days(conn, first_day, last_day)
            context.log.info(
                f"rebuilt {first_day}..{last_day}: {rebuilt.entries_rebuilt:,} entries (removed "
                f"{rebuilt.entries_removed:,}), {rebuilt.daily_rows_rebuilt:,} daily balances of "
                f"{rebuilt.accounts:,} accounts"
            )
            metadata |= {
                "rebuilt_entries": rebuilt.entries_rebuilt,
                "removed_entries": rebuilt.entries_removed,
                "rebuilt_daily_balances": rebuilt.daily_rows_rebuilt,
            }
        with runtime.pool.connection() as conn:
            totals = day_totals(conn, first_day, last_day)
        checks, check_metadata = reconciliation_results(runtime.pool)
    metadata |= check_metadata
    metadata |= {
        "entries_in_range": sum(t.entries for t in totals),
        "accounts_active_in_range": max((t.accounts for t in totals), default=0),
        "ledger_totals": dg.MetadataValue.md(totals_markdown(totals)),
    }
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


@dg.asset(
    name="daily_ledger_totals",
    group_name="read_side",
    owners=["team:finance"],
    kinds={"postgres"},
    partitions_def=business_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[read_model],
    metadata={"source": "projections.daily_balances"},
    description=(
        "Per business day and currency, across every account: opening and closing balances, credits, debits and "
        "entry count, with opening + credits − debits = closing. Finance's daily proof that the ledger adds up; "
        "it does not run when the read model's reconciliation fails."
    ),
)
def daily_ledger_totals(context: dg.AssetExecutionContext, bank_db: BankDatabase) -> dg.MaterializeResult:
    first_day, last_day = business_days_of(context)
    with bank_db.runtime() as runtime, runtime.pool.connection() as conn:
        totals = day_totals(conn, first_day, last_day)
    unbalanced = [t for t in totals if t.opening + t.credits - t.debits != t.closing]
    if unbalanced:
        raise dg.Failure(
            f"{len(unbalanced)} day/currency totals do not add up, first {unbalanced[0]}: rebuild those days "
            "(backfill read_model over them) and check the reconciliation results."
        )
    return dg.MaterializeResult(
        metadata={
            "days_with_entries": len({t.business_day for t in totals}),
            "entries": sum(t.entries for t in totals),
            "totals": dg.MetadataValue.md(totals_markdown(totals)),
        }
    )


def totals_markdown(totals) -> str:
    if not totals:
        return "No entries on these days."
    lines = [
        "| day | currency | accounts | entries | opening | credits | debits | closing |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in totals[:60]:
        lines.append(
            f"| {t.business_day} | {t.currency} | {t.accounts:,} | {t.entries:,} | {t.opening:,} | {t.credits:,} | "
            f"{t.debits:,} | {t.closing:,} |"
        )
    if len(totals) > 60:
        lines.append(f"| … {len(totals) - 60} more rows | | | | | | | |")
    return "\n".join(lines)
