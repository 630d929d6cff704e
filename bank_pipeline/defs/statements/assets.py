import dagster as dg

from bank_pipeline.defs.resources import BankDatabase, StatementStoreResource
from bank_pipeline.defs.statements.checks import CHECK_SPECS, statement_check_results
from bank_pipeline.defs.statements.partitions import statement_months, statement_period_of
from bank_pipeline.domain.errors import DomainError, InconsistentStatement
from bank_pipeline.projections.catching_up import catch_up_with_committed_events
from bank_pipeline.statements.generation import GenerationReport, generate_statements
from bank_pipeline.statements.store import changed_accounts

PROGRESS_EVERY = 10_000  # statements between two progress lines in the run's log


@dg.asset(
    name="monthly_statements",
    group_name="statements",
    owners=["team:customer-documents"],
    kinds={"postgres", "pdf", "xml"},
    partitions_def=statement_months,
    deps=["read_model"],
    metadata={
        "formats": "pdf, csv, camt053 (ISO 20022 camt.053.001.08), mt940 (BANK_PIPELINE_STATEMENT_FORMATS)",
        "store": "BANK_PIPELINE_STATEMENT_DIR, default <home>/statements/<YYYY-MM>/<format>/, manifest.jsonl",
        "source": "projections.account_entries, account_holds, account_balances (bank_pipeline/statements/)",
    },
    description=(
        "Every account's statement for a calendar month, for each account open at some point in it: opening "
        "balance, each booked entry with its running balance, totals, closing balance and the holds pending at the "
        "month's end. The read model is first caught up with every committed event. The month's files and "
        "manifest replace the previous generation in one swap; the same events give the same bytes, so a "
        "backfill regenerates past months exactly and the run's metadata names the statements that changed."
    ),
    check_specs=CHECK_SPECS,
)
def monthly_statements(
    context: dg.AssetExecutionContext, bank_db: BankDatabase, statement_store: StatementStoreResource
) -> dg.MaterializeResult:
    period = statement_period_of(context)
    try:
        store, formats = statement_store.store, statement_store.chosen_formats
    except DomainError as error:
        raise dg.Failure(description=f"{error} (check BANK_PIPELINE_STATEMENT_FORMATS)") from error
    previous_generation = store.read_manifest(period)
    progress = {"done": 0, "logged": 0}

    def on_progress(statements: int) -> None:
        progress["done"] += statements
        if progress["done"] - progress["logged"] >= PROGRESS_EVERY:
            progress["logged"] = progress["done"]
            context.log.info(f"{period.label}: {progress['done']:,} statements written")

    with bank_db.runtime() as runtime:
        caught_up = catch_up_with_committed_events(runtime.pool)
        (context.log.info if caught_up.complete else context.log.warning)(caught_up.describe())
        with runtime.pool.connection() as conn:
            try:
                report = generate_statements(conn, period, store, formats, on_progress=on_progress)
            except InconsistentStatement as error:
                raise dg.Failure(description=f"nothing was written for {period.label}: {error}") from error
            manifest = store.read_manifest(period) or []
            checks = statement_check_results(conn, store, period, manifest)
    changed = changed_accounts(previous_generation, manifest)
    context.log.info(
        f"{period.label}: {report.statements:,} statements, {report.files:,} files in {report.seconds:.1f} s "
        f"({_rate(report):,.0f} statements/s); {len(changed):,} changed since the previous generation"
    )
    return dg.MaterializeResult(
        metadata={
            "statements": report.statements,
            "files": report.files,
            "bytes": report.bytes,
            "entries": report.entries,
            "formats": ", ".join(report.formats),
            "directory": dg.MetadataValue.path(str(report.directory)),
            "manifest_sha256": report.manifest_sha256,
            "seconds": round(report.seconds, 2),
            "statements_per_second": round(_rate(report)),
            "regenerated": previous_generation is not None,
            "changed_since_previous_generation": len(changed),
            "first_changed_accounts": ", ".join(changed[:20]) or "none",
            "read_model_caught_up": caught_up.complete,
            "totals": dg.MetadataValue.md(totals_markdown(manifest)),
        },
        check_results=checks,
    )


def _rate(report: GenerationReport) -> float:
    return report.statements / report.seconds if report.seconds else 0.0


def totals_markdown(manifest: list[dict]) -> str:
    """Per currency: statements, entries and the sums of opening, credits, debits and closing (minor units)."""
    totals: dict[str, list[int]] = {}
    for line in manifest:
        row = totals.setdefault(line["currency"], [0, 0, 0, 0, 0, 0])
        for index, key in enumerate(("entries", "opening_balance", "credits", "debits", "closing_balance")):
            row[index + 1] += line[key]
        row[0] += 1
    if not totals:
        return "No account was open in this month."
    lines = ["| currency | statements | entries | opening | credits | debits | closing |", "|---|" + "---:|" * 6]
    for currency, (count, entries, opening, credits, debits, closing) in sorted(totals.items()):
        lines.append(f"| {currency} | {count:,} | {entries:,} | {opening:,} | {credits:,} | {debits:,} | {closing:,} |")
    return "\n".join(lines)
