import dagster as dg
from pydantic import Field

from bank_pipeline.defs.resources import BankDatabase, StatementStoreResource
from bank_pipeline.defs.statements.assets import monthly_statements
from bank_pipeline.defs.statements.partitions import statement_months
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.projections.catching_up import catch_up_with_committed_events
from bank_pipeline.statements.generation import check_formats, generate_statements

monthly_statements_job = dg.define_asset_job(
    "generate_monthly_statements",
    selection=[monthly_statements],
    partitions_def=statement_months,
    description="Generates a month's statements for every account open in it (backfill a range to regenerate).",
)


class StatementRangeConfig(dg.Config):
    first_day: str = Field(description="The first day of the range, YYYY-MM-DD (UTC business day).")
    last_day: str = Field(description="The last day of the range, YYYY-MM-DD, inclusive.")
    account_ids: list[str] = Field(
        default_factory=list, description="The accounts; empty = every account open at some point in the range."
    )
    formats: list[str] = Field(
        default_factory=list, description="pdf, csv, camt053, mt940; empty = the statement store's formats."
    )


@dg.op(description="Catches the read model up, then writes the range's statements to <store>/ranges/<range>/.")
def statements_for_range(
    context: dg.OpExecutionContext,
    config: StatementRangeConfig,
    bank_db: BankDatabase,
    statement_store: StatementStoreResource,
) -> dg.Output[str]:
    try:
        period = StatementPeriod.parse(config.first_day, config.last_day)
        formats = check_formats(config.formats) if config.formats else statement_store.chosen_formats
        store = statement_store.store
        with bank_db.runtime() as runtime:
            caught_up = catch_up_with_committed_events(runtime.pool)
            (context.log.info if caught_up.complete else context.log.warning)(caught_up.describe())
            with runtime.pool.connection() as conn:
                report = generate_statements(
                    conn, period, store, formats, account_ids=config.account_ids or None, adhoc=True
                )
    except DomainError as error:
        raise dg.Failure(description=str(error)) from error
    context.log.info(f"{report.statements:,} statements for {period.label} in {report.directory}")
    return dg.Output(
        str(report.directory),
        metadata={
            "statements": report.statements,
            "files": report.files,
            "formats": ", ".join(report.formats),
            "directory": dg.MetadataValue.path(str(report.directory)),
            "manifest_sha256": report.manifest_sha256,
        },
    )


@dg.job(
    description="Statements for any date range (config: first_day, last_day, optional account_ids and formats), "
    "written beside the monthly ones under ranges/."
)
def statements_for_a_range():
    statements_for_range()
