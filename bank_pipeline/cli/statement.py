"""`bank-pipeline statement`: one account's statement for any date range, in any format, from the read model."""

import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from bank_pipeline.cli.errors import fail, operator_errors
from bank_pipeline.domain.money import format_amount
from bank_pipeline.domain.statements import Statement, StatementPeriod
from bank_pipeline.projections.catching_up import CATCH_UP_TIMEOUT, catch_up_with_committed_events
from bank_pipeline.runtime import Runtime
from bank_pipeline.statements.reading import statement_for_account


class StatementFormat(str, Enum):
    pdf = "pdf"
    csv = "csv"
    camt053 = "camt053"
    mt940 = "mt940"


@operator_errors
def statement(
    account: str = typer.Option(..., "--account", help="The account id."),
    first_day: str = typer.Option(..., "--from", help="First day of the range, YYYY-MM-DD (UTC business day)."),
    last_day: str = typer.Option(..., "--to", help="Last day of the range, YYYY-MM-DD, inclusive."),
    format_name: StatementFormat = typer.Option(StatementFormat.pdf, "--format", help="The statement's format."),
    out: Path | None = typer.Option(
        None, "--out", help="Write to this file (default: standard output; a PDF needs --out on a terminal)."
    ),
    catch_up: bool = typer.Option(
        True,
        "--catch-up/--no-catch-up",
        help=f"First project every committed event into the read model (waiting up to {CATCH_UP_TIMEOUT:.0f} s).",
    ),
) -> None:
    """An account's statement for any date range: opening balance, every booked entry with its running balance,
    totals, closing balance and pending holds, as PDF, CSV, ISO 20022 camt.053 or SWIFT MT940. Ranges before the
    account opened or after it closed give an empty statement that says so. Exits 1 for an unknown account or a
    bad range."""
    from bank_pipeline.statements.formats import renderers

    err = Console(stderr=True)
    period = StatementPeriod.parse(first_day, last_day)
    if out is None and format_name is StatementFormat.pdf and sys.stdout.isatty():
        fail("a PDF is binary: give --out FILE (or redirect standard output)")
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        if conn.execute("SELECT to_regclass('projections.checkpoints')").fetchone()[0] is None:
            fail("the database has no read model yet: run `bank-pipeline db migrate` first")
        if catch_up:
            caught_up = catch_up_with_committed_events(runtime.pool)
            err.print(caught_up.describe(), style="dim" if caught_up.complete else "yellow")
        answer = statement_for_account(conn, account, period)  # an unknown account: a DomainError, exit 1
    document = renderers()[format_name.value](answer)
    try:
        if out is None:
            sys.stdout.buffer.write(document)
            sys.stdout.buffer.flush()
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(document)
    except BrokenPipeError:  # the reader of standard output went away (`| head`): nothing more to say
        sys.stderr.close()
        raise typer.Exit(1) from None
    except OSError as error:
        fail(f"cannot write the statement to {out}: {error.strerror or error}")
    err.print(summary(answer, out, len(document)), soft_wrap=True, highlight=False)


def summary(answer: Statement, out: Path | None, size: int) -> str:
    currency = answer.account.currency

    def money(amount: int) -> str:
        return f"{format_amount(amount, currency)} {currency}"

    where = f"written to {out}" if out else "written to standard output"
    lines = [
        f"statement {answer.statement_id}: {len(answer.lines)} entries, opening {money(answer.opening_balance)}, "
        f"credits {money(answer.credits)}, debits {money(answer.debits)}, closing {money(answer.closing_balance)}; "
        f"{size:,} bytes {where}",
        *answer.notes(),
    ]
    return "\n".join(lines)
