"""`bank-pipeline replay`: an account as of any instant, by business or by system time, from the read model."""

import json
from enum import Enum

import typer
from rich.console import Console
from rich.table import Table

from bank_pipeline.cli.errors import fail, operator_errors
from bank_pipeline.domain.money import format_amount
from bank_pipeline.projections.catching_up import CATCH_UP_TIMEOUT, catch_up_with_committed_events
from bank_pipeline.projections.replay import (
    DEFAULT_RECENT,
    MAX_RECENT,
    AccountAsOf,
    AccountNotFound,
    InvalidReplayRequest,
    account_as_of,
    parse_instant,
)
from bank_pipeline.runtime import Runtime


class TimeDimension(str, Enum):
    business = "business"
    system = "system"


@operator_errors
def replay(
    account: str = typer.Option(..., "--account", help="The account id."),
    as_of: str = typer.Option(
        ...,
        "--as-of",
        help="The instant, ISO 8601 with an offset (2026-11-02T09:30:00+01:00, 2026-11-02T08:30Z); "
        "a date alone (2026-11-02) means the end of that UTC day (23:59:59.999999Z).",
    ),
    by: TimeDimension = typer.Option(
        TimeDimension.business,
        "--by",
        help="business: what was true at the instant (business time, as known now); "
        "system: what the bank knew at the instant (the events recorded by then).",
    ),
    recent: int = typer.Option(DEFAULT_RECENT, min=0, max=MAX_RECENT, help="How many of the newest entries to show."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of tables."),
    catch_up: bool = typer.Option(
        True,
        "--catch-up/--no-catch-up",
        help=f"First project every committed event into the read model (waiting up to {CATCH_UP_TIMEOUT:.0f} s for "
        "them to be final).",
    ),
) -> None:
    """An account as of any instant: balance, holds, status and recent entries, read from the projections
    (no replay of events). Exits 1 for an unknown account or a bad instant."""
    err = Console(stderr=True)
    try:
        instant = parse_instant(as_of)
        with Runtime.open() as runtime, runtime.pool.connection() as conn:
            if conn.execute("SELECT to_regclass('projections.checkpoints')").fetchone()[0] is None:
                fail("the database has no read model yet: run `bank-pipeline db migrate` first")
            if catch_up:
                caught_up = catch_up_with_committed_events(runtime.pool)
                err.print(caught_up.describe(), style="dim" if caught_up.complete else "yellow")
            answer = account_as_of(conn, account, instant, by=by.value, recent=recent)
    except (AccountNotFound, InvalidReplayRequest) as error:
        fail(str(error))
    if as_json:
        typer.echo(json.dumps(answer.to_json(), indent=2))
    else:
        render(answer, Console())


def render(answer: AccountAsOf, console: Console) -> None:
    def money(amount: int) -> str:
        return f"{format_amount(amount, answer.currency)} {answer.currency}"

    what = "what was true (business time)" if answer.by == "business" else "what the bank knew (system time)"
    checkpoint = f"{answer.checkpoint.transaction_id}:{answer.checkpoint.global_position}"
    console.print(f"account [bold]{answer.account_id}[/] as of {answer.as_of.isoformat()}: {what}")
    console.print(f"[dim]read model checkpoint {checkpoint}[/]")
    if not answer.existed:
        console.print(f"[yellow]the account did not exist yet[/]: opened at {answer.opened_at.isoformat()}")
        return
    facts = Table(show_header=False, box=None)
    facts.add_column(style="bold")
    facts.add_column(justify="right")
    for label, value in (
        ("customer", answer.customer_id),
        ("product", answer.product),
        ("opened at", answer.opened_at.isoformat()),
        ("status", answer.status),
        ("ledger balance", money(answer.ledger_balance)),
        ("held", money(answer.held_amount)),
        ("available", money(answer.available_balance)),
        ("overdraft limit", money(answer.overdraft_limit)),
    ):
        facts.add_row(label, value)
    console.print(facts)
    if answer.holds:
        holds = Table("hold", "amount", "reason", "placed at", "expires at", title=f"Open holds ({len(answer.holds)})")
        for hold in answer.holds:
            holds.add_row(
                hold.hold_id, money(hold.amount), hold.reason, hold.placed_at.isoformat(), hold.expires_at.isoformat()
            )
        console.print(holds)
    entries = Table(
        "version", "occurred at", "recorded at", "amount", "balance after", "counterparty", "reference",
        title=f"Newest entries ({len(answer.recent)} shown, newest first)",
    )  # fmt: skip
    for entry in answer.recent:
        entries.add_row(
            str(entry.stream_version),
            entry.occurred_at.isoformat(),
            entry.recorded_at.isoformat(),
            money(entry.signed_amount),
            money(entry.balance),
            entry.counterparty or "",
            entry.reference or "",
        )
    console.print(entries if answer.recent else "no entries yet")
