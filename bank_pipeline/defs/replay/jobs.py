"""`replay_account`: an account as of an instant, by business or system time, read from the projections after
catching them up; the answer is logged and attached to the op's output as metadata, so it shows in the UI."""

from typing import Literal

import dagster as dg
from pydantic import Field

from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.domain.money import format_amount
from bank_pipeline.projections.catching_up import catch_up_with_committed_events
from bank_pipeline.projections.replay import (
    DEFAULT_RECENT,
    MAX_RECENT,
    AccountAsOf,
    AccountNotFound,
    InvalidReplayRequest,
    account_as_of,
    parse_instant,
)


class ReplayAccountConfig(dg.Config):
    account_id: str = Field(description="The account id.")
    as_of: str = Field(
        description="The instant, ISO 8601 with an offset (2026-11-02T09:30:00+01:00, 2026-11-02T08:30Z); "
        "a date alone (2026-11-02) means the end of that UTC day."
    )
    by: Literal["business", "system"] = Field(
        default="business",
        description="business: what was true at the instant; system: what the bank knew at the instant.",
    )
    recent: int = Field(default=DEFAULT_RECENT, ge=0, le=MAX_RECENT, description="How many newest entries to show.")


@dg.op(
    description="Catches the read model up, then reads the account as of the instant (no replay of events).",
    out=dg.Out(dict, description="The answer as a JSON document (AccountAsOf.to_json())."),
)
def account_as_of_instant(
    context: dg.OpExecutionContext, config: ReplayAccountConfig, bank_db: BankDatabase
) -> dg.Output[dict]:
    try:
        instant = parse_instant(config.as_of)
        with bank_db.runtime() as runtime:
            caught_up = catch_up_with_committed_events(runtime.pool)
            (context.log.info if caught_up.complete else context.log.warning)(caught_up.describe())
            with runtime.pool.connection() as conn:
                answer = account_as_of(conn, config.account_id, instant, by=config.by, recent=config.recent)
    except (AccountNotFound, InvalidReplayRequest) as error:
        raise dg.Failure(description=str(error)) from error
    context.log.info(summary(answer))
    document = answer.to_json()
    return dg.Output(document, metadata={**metadata(answer, document), "read_model_caught_up": caught_up.complete})


def summary(answer: AccountAsOf) -> str:
    head = f"account {answer.account_id} as of {answer.as_of.isoformat()} by {answer.by} time"
    if not answer.existed:
        return f"{head}: did not exist yet (opened at {answer.opened_at.isoformat()})"
    currency = answer.currency
    return (
        f"{head}: {answer.status}, ledger {format_amount(answer.ledger_balance, currency)} {currency}, "
        f"held {format_amount(answer.held_amount, currency)} in {len(answer.holds)} hold(s), "
        f"available {format_amount(answer.available_balance, currency)} {currency}"
    )


def metadata(answer: AccountAsOf, document: dict) -> dict[str, dg.MetadataValue]:
    recent = "\n".join(
        f"| {e.stream_version} | {e.occurred_at.isoformat()} | {e.recorded_at.isoformat()} "
        f"| {format_amount(e.signed_amount, answer.currency)} | {format_amount(e.balance, answer.currency)} "
        f"| {e.counterparty or ''} |"
        for e in answer.recent
    )
    return {
        "summary": dg.MetadataValue.text(summary(answer)),
        "existed": dg.MetadataValue.bool(answer.existed),
        "status": dg.MetadataValue.text(answer.status or "not opened yet"),
        "ledger_balance": dg.MetadataValue.int(answer.ledger_balance),
        "held_amount": dg.MetadataValue.int(answer.held_amount),
        "available_balance": dg.MetadataValue.int(answer.available_balance),
        "currency": dg.MetadataValue.text(answer.currency),
        "open_holds": dg.MetadataValue.int(len(answer.holds)),
        "checkpoint": dg.MetadataValue.text(f"{answer.checkpoint.transaction_id}:{answer.checkpoint.global_position}"),
        "recent_entries": dg.MetadataValue.md(
            "| version | occurred at | recorded at | amount | balance after | counterparty |\n"
            "|---|---|---|---|---|---|\n" + recent
        ),
        "answer": dg.MetadataValue.json(document),
    }


@dg.job(
    description="An account as of any instant, by business time (what was true) or system time (what the bank "
    "knew): balance, holds, status and recent entries. Launch with config ops.account_as_of_instant.config.",
    tags={"domain": "projections"},
)
def replay_account() -> None:
    account_as_of_instant()
