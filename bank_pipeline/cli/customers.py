"""`bank-pipeline customer` (show, erase, sweep-erasures) and `bank-pipeline hold` (place, release, list): a
customer's record with their personal data revealed, GDPR erasure, and legal holds. Every change is an audited
command whose events name the operating system user as actor ("cli:<user>")."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bank_pipeline.cli.errors import fail, operator_errors

customer_app = typer.Typer(help="Customers: their record, GDPR erasure.", no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: keep a customer's events past retention and block their erasure.",
                       no_args_is_help=True)  # fmt: skip


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _caught_up(runtime) -> None:
    from bank_pipeline.projections.catching_up import catch_up_with_committed_events

    caught_up = catch_up_with_committed_events(runtime.pool)
    Console(stderr=True).print(caught_up.describe(), style="dim" if caught_up.complete else "yellow")


@customer_app.command("show")
@operator_errors
def show(
    customer_id: str = typer.Argument(..., help="The customer's id."),
    catch_up: bool = typer.Option(True, "--catch-up/--no-catch-up", help="Project committed events first."),
) -> None:
    """The customer's record from the read model with their personal data revealed (each field reads as erased
    once erased), and their legal holds."""
    from bank_pipeline.api.queries import read_customer
    from bank_pipeline.personal_data.legal_holds import legal_holds
    from bank_pipeline.runtime import Runtime

    console = Console()
    with Runtime.open() as runtime:
        if catch_up:
            _caught_up(runtime)
        with runtime.pool.connection() as conn:
            customer = read_customer(conn, customer_id, visible_to=None)
            holds = legal_holds(conn, customer_id=customer_id, include_released=True)
    if customer is None:
        fail(f"no customer {customer_id} in the read model")
    table = Table(show_header=False)
    for label, value in (
        ("customer", customer.customer_id), ("name", customer.name), ("email", customer.email),
        ("address", customer.address), ("KYC status", customer.kyc_status), ("status", customer.status),
        ("registered", customer.registered_at.isoformat()),
        ("erased", customer.erased_at.isoformat() if customer.erased_at else "no"), ("version", str(customer.version)),
    ):  # fmt: skip
        table.add_row(label, escape(value))  # "[erased]", and any text a customer gave, is not markup
    console.print(table)
    _print_holds(console, holds)


@customer_app.command("erase")
@operator_errors
def erase(
    customer_id: str = typer.Argument(..., help="The customer's id."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the CustomerErased event)."),
    statements: bool = typer.Option(
        True, "--statements/--no-statements", help="Re-render the customer's stored statements now (else the sweep)."
    ),
) -> None:
    """GDPR erasure: record CustomerErased and destroy the customer's data key in one transaction, then re-render
    their stored statements. Their events stay (and stay verifiable); their name, email and address read
    as erased everywhere. Refused while a legal hold applies. Re-run it to finish an interrupted erasure."""
    from bank_pipeline.personal_data.erasure import erase_customer
    from bank_pipeline.runtime import Runtime
    from bank_pipeline.settings import get_settings
    from bank_pipeline.statements.store import StatementStore

    store = StatementStore(get_settings().statement_path) if statements else None
    with Runtime.open() as runtime:
        report = erase_customer(runtime.handler, customer_id, reason, actor=_actor(), statement_store=store)
    what = "erased" if report.erased_now else "was erased already; finished its erasure"
    typer.echo(f"customer {customer_id} {what}: key destroyed")
    if report.statements is not None:
        typer.echo(
            f"stored statements re-rendered: {report.statements.statements} in {report.statements.periods} period(s)"
        )
    else:
        typer.echo("stored statements: not re-rendered now; `bank-pipeline customer sweep-erasures` will")


@customer_app.command("sweep-erasures")
@operator_errors
def sweep_erasures() -> None:
    """Finish interrupted erasures: destroy keys of erased customers that are still there, and re-render the
    stored statements of erased customers not re-rendered yet. Safe to run at any time."""
    from bank_pipeline.personal_data.erasure import sweep
    from bank_pipeline.runtime import Runtime
    from bank_pipeline.settings import get_settings
    from bank_pipeline.statements.store import StatementStore

    with Runtime.open() as runtime:
        report = sweep(runtime.handler, StatementStore(get_settings().statement_path))
    typer.echo(f"keys destroyed: {len(report.keys_destroyed)} {', '.join(report.keys_destroyed)}".rstrip())
    rendered = sum(r.statements for r in report.redacted.values())
    typer.echo(f"customers whose stored statements were re-rendered: {len(report.redacted)} ({rendered} statements)")


@hold_app.command("place")
@operator_errors
def place(
    customer_id: str = typer.Argument(..., help="The customer's id."),
    hold_id: str = typer.Option(..., "--hold-id", help="The hold's id, unique for the customer."),
    reason: str = typer.Option(..., "--reason", help="Why the hold is placed."),
    case_reference: str = typer.Option(..., "--case", help="The legal case or order it is for."),
    account_id: str | None = typer.Option(None, "--account", help="Only this account of the customer (default: all)."),
) -> None:
    """Place a legal hold: the customer's events (or one account's) are kept past retention, and the customer
    cannot be erased, until it is released."""
    from bank_pipeline.domain.commands import PlaceLegalHold
    from bank_pipeline.runtime import Runtime

    with Runtime.open() as runtime:
        runtime.handler.execute(
            PlaceLegalHold(customer_id, hold_id, reason, case_reference, account_id), actor=_actor()
        )
    typer.echo(
        f"legal hold {hold_id} placed on customer {customer_id}" + (f", account {account_id}" if account_id else "")
    )


@hold_app.command("release")
@operator_errors
def release(
    customer_id: str = typer.Argument(..., help="The customer's id."),
    hold_id: str = typer.Argument(..., help="The hold's id."),
    reason: str = typer.Option(..., "--reason", help="Why the hold is released."),
) -> None:
    """Release a legal hold."""
    from bank_pipeline.domain.commands import ReleaseLegalHold
    from bank_pipeline.runtime import Runtime

    with Runtime.open() as runtime:
        runtime.handler.execute(ReleaseLegalHold(customer_id, hold_id, reason), actor=_actor())
    typer.echo(f"legal hold {hold_id} of customer {customer_id} released")


@hold_app.command("list")
@operator_errors
def list_holds(
    customer_id: str | None = typer.Option(None, "--customer", help="Only this customer's holds."),
    include_released: bool = typer.Option(False, "--all", help="Released holds too."),
    catch_up: bool = typer.Option(True, "--catch-up/--no-catch-up", help="Project committed events first."),
) -> None:
    """The legal holds in the read model (active ones unless --all)."""
    from bank_pipeline.personal_data.legal_holds import legal_holds
    from bank_pipeline.runtime import Runtime

    with Runtime.open() as runtime:
        if catch_up:
            _caught_up(runtime)
        with runtime.pool.connection() as conn:
            holds = legal_holds(conn, customer_id=customer_id, include_released=include_released)
    _print_holds(Console(), holds)


def _print_holds(console: Console, holds) -> None:
    if not holds:
        console.print("no legal holds")
        return
    table = Table("customer", "hold", "account", "case", "reason", "placed", "released")
    for hold in holds:
        released = f"{hold.released_at.isoformat()} ({hold.release_reason})" if hold.released_at else "active"
        cells = (hold.customer_id, hold.hold_id, hold.account_id or "all", hold.case_reference, hold.reason,
                 hold.placed_at.isoformat(), released)  # fmt: skip
        table.add_row(*map(escape, cells))
    console.print(table)
