"""The read model's tables computed at once from every event up to an end point, with polars.

Each function mirrors what the projector's statements (statements.py) leave behind once they have folded
the same events batch by batch, so a rebuild equals the incrementally maintained read model row for row:
running balances are cumulative sums over each account's entries in (time, stream_version) order, whatever
order the entries arrived in; a customer's details take their newest non-null value; where the projector
keeps the first of two rows with the same key (ON CONFLICT DO NOTHING), so does this, in delivery order.

The input is the events up to the end point, one row each with the payload fields the read model uses as
columns: the credits and debits (most events) apart from the others, which come in delivery order
(transaction_id, global_position) so "first wins" can be decided.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl

from bank_pipeline.domain.personal_data import ERASED_MARKER, PERSONAL_FIELDS

STATUS_OF_EVENT = {
    "AccountOpened": "open",
    "AccountFrozen": "frozen",
    "AccountUnfrozen": "open",
    "AccountClosed": "closed",
}
CHECKPOINT_NAME = "read_model"

#: The event columns a rebuild reads, then the payload fields (`payload->>'field'`: text, or text of a bigint).
EVENT_COLUMNS = {
    "transaction_id": pl.Int64,
    "global_position": pl.Int64,
    "stream_id": pl.String,
    "stream_version": pl.Int64,
    "event_type": pl.String,
    "occurred_at": pl.String,  # as `occurred_at AT TIME ZONE 'UTC'`; parsed by `parse_times`
    "recorded_at": pl.String,
}
ENTRY_FIELDS = {
    "account_id": pl.String,
    "amount": pl.Int64,
    "currency": pl.String,
    "balance_after": pl.Int64,
    "transfer_id": pl.String,
    "flow": pl.String,
    "counterparty": pl.String,
    "reference": pl.String,
}
OTHER_FIELDS = {
    "customer_id": pl.String,
    "hold_id": pl.String,
    "reason": pl.String,
    "expires_at": pl.String,  # ISO 8601 with its offset, as the domain writes datetimes
    "name": pl.String,
    "email": pl.String,
    "address": pl.String,
    "status": pl.String,
    "product": pl.String,
    "overdraft_limit": pl.Int64,
    "case_reference": pl.String,
}
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
ISO_8601 = "%Y-%m-%dT%H:%M:%S%.f%:z"

_type = pl.col("event_type")
_signed = pl.when(pl.col("direction") == "credit").then(pl.col("amount")).otherwise(-pl.col("amount"))


def parse_times(events: pl.DataFrame) -> pl.DataFrame:
    """occurred_at and recorded_at from PostgreSQL's text of their UTC time into UTC datetimes."""
    return events.with_columns(
        pl.col(name).str.to_datetime(TIMESTAMP_FORMAT, time_unit="us").dt.replace_time_zone("UTC")
        for name in ("occurred_at", "recorded_at")
    )


def read_model_tables(entry_events: pl.DataFrame, other_events: pl.DataFrame) -> Iterator[tuple[str, pl.DataFrame]]:
    """Every table of the read model as (table name, rows), the largest first, each with its columns named
    as the table's (the generated available_balance left out): a caller may load each table while the next
    is computed. `entry_events`: the credits and debits (ENTRY_FIELDS), in any order; `other_events`: every
    other event (all fields), in delivery order."""
    entries = account_entries(entry_events)
    yield "account_entries", entries.drop("account_number")
    yield "daily_balances", daily_balances(entries)
    holds = account_holds(other_events)
    statuses = account_status_changes(other_events)
    yield "account_balances", account_balances(entry_events, other_events, entries, holds, statuses)
    yield "account_holds", holds
    yield "account_status_changes", statuses
    yield "customer_accounts", customer_accounts(other_events)
    yield "customers", customers(other_events)
    yield "legal_holds", legal_holds(other_events)
    yield "checkpoints", checkpoints(entry_events, other_events)


def checkpoints(entry_events: pl.DataFrame, other_events: pl.DataFrame) -> pl.DataFrame:
    """The read model's checkpoint: the last event in delivery order, and how many there were."""
    positions = pl.concat(
        [frame.select("transaction_id", "global_position") for frame in (entry_events, other_events)]
    ).top_k(1, by=["transaction_id", "global_position"])
    return pl.DataFrame(
        {
            "projection": [CHECKPOINT_NAME],
            "transaction_id": [positions["transaction_id"].item() if len(positions) else 0],
            "global_position": [positions["global_position"].item() if len(positions) else 0],
            "events_projected": [len(entry_events) + len(other_events)],
            "updated_at": [datetime.now(UTC)],
        },
        schema_overrides={"updated_at": pl.Datetime("us", "UTC")},
    )


def customers(events: pl.DataFrame) -> pl.DataFrame:
    """Each registered customer with every later change folded in: a detail's newest non-null value, the
    newest KYC status, closed once any CustomerClosed; once erased, the personal fields read ERASED_MARKER."""
    registered = events.filter(_type == "CustomerRegistered").unique("customer_id", keep="first", maintain_order=True)
    changes = (
        events.filter(pl.col("stream_id").str.starts_with("customer-") & (_type != "CustomerRegistered"))
        .join(registered.select("customer_id", registered_version="stream_version"), on="customer_id")
        .filter(pl.col("stream_version") > pl.col("registered_version"))
        .sort("stream_version")
    )
    newest = {field: pl.col(field).drop_nulls().last() for field in PERSONAL_FIELDS}
    folded = changes.group_by("customer_id").agg(
        changed_version=pl.col("stream_version").max(),
        changed_kyc=pl.col("status").filter(_type == "CustomerKycStatusChanged").drop_nulls().last(),
        closed=(_type == "CustomerClosed").any(),
        erased_at=pl.col("occurred_at").filter(_type == "CustomerErased").first(),
        **{f"changed_{field}": value for field, value in newest.items()},
    )
    erased = pl.col("erased_at").is_not_null()
    return registered.join(folded, on="customer_id", how="left").select(
        "customer_id",
        *(
            pl.when(erased).then(pl.lit(ERASED_MARKER)).otherwise(pl.coalesce(f"changed_{field}", field)).alias(field)
            for field in PERSONAL_FIELDS
        ),
        kyc_status=pl.coalesce("changed_kyc", pl.lit("pending")),
        status=pl.when(pl.col("closed")).then(pl.lit("closed")).otherwise(pl.lit("active")),
        version=pl.coalesce("changed_version", "stream_version"),
        registered_at="occurred_at",
        erased_at=pl.col("erased_at").cast(pl.Datetime("us", "UTC")),
    )


def legal_holds(events: pl.DataFrame) -> pl.DataFrame:
    """Every legal hold placed, with its first release (in delivery order) when there is one."""
    key = ["customer_id", "hold_id"]
    placed = events.filter(_type == "LegalHoldPlaced").unique(key, keep="first", maintain_order=True)
    released = (
        events.filter(_type == "LegalHoldReleased")
        .unique(key, keep="first", maintain_order=True)
        .select(*key, released_at="occurred_at", release_reason="reason")
    )
    return placed.join(released, on=key, how="left", maintain_order="left").select(
        *key,
        "account_id",
        "reason",
        "case_reference",
        placed_at="occurred_at",
        released_at=pl.col("released_at").cast(pl.Datetime("us", "UTC")),
        release_reason=pl.col("release_reason").cast(pl.String),
    )


def customer_accounts(events: pl.DataFrame) -> pl.DataFrame:
    """Which customer opened which account, and when."""
    return (
        events.filter(_type == "AccountOpened")
        .select("customer_id", "account_id", opened_at="occurred_at")
        .unique(["customer_id", "account_id"], keep="first", maintain_order=True)
    )


def account_status_changes(events: pl.DataFrame) -> pl.DataFrame:
    """Every status an account took: open, frozen, open again, closed."""
    return (
        events.filter(_type.is_in(list(STATUS_OF_EVENT)))
        .select(
            "account_id",
            "stream_version",
            status=_type.replace_strict(STATUS_OF_EVENT),
            reason="reason",
            occurred_at="occurred_at",
            recorded_at="recorded_at",
        )
        .unique(["account_id", "stream_version"], keep="first", maintain_order=True)
    )


def account_entries(entry_events: pl.DataFrame) -> pl.DataFrame:
    """Every credit and debit with its running balances, in (account_id, stream_version) order. Duplicate
    keys are left for the primary key to refuse (only a corrupt store could have them)."""
    entries = entry_events.select(
        "account_id", "stream_version", "global_position", "transaction_id", "amount", "currency", "balance_after",
        "transfer_id", "flow", "counterparty", "reference", "occurred_at", "recorded_at",
        direction=pl.when(_type == "AccountCredited").then(pl.lit("credit")).otherwise(pl.lit("debit")),
        # A dense integer per account: sorting and grouping by it is much cheaper than by the text.
        account_number=pl.col("account_id").rank("dense"),
    )  # fmt: skip
    # In primary key order: its index then builds from presorted rows, and each account's rows sit together.
    return entries.with_columns(
        business_balance=_running_sum("occurred_at"), known_balance=_running_sum("recorded_at")
    ).sort("account_number", "stream_version")


def _running_sum(time: str) -> pl.Expr:
    """Each entry's account balance after it, counting the account's entries in (time, stream_version)
    order."""
    return _signed.cum_sum().over("account_number", order_by=[time, "stream_version"])


def daily_balances(entries: pl.DataFrame) -> pl.DataFrame:
    """Per account and business day (UTC date of occurred_at) with entries: opening, credits, debits,
    closing, count."""
    return (
        entries.sort("account_number", "occurred_at", "stream_version")
        .group_by("account_number", pl.col("occurred_at").dt.date().alias("business_day"), maintain_order=True)
        .agg(
            pl.col("account_id").first(),
            pl.col("currency").min(),
            opening_balance=(pl.col("business_balance") - _signed).first(),
            credits=pl.col("amount").filter(pl.col("direction") == "credit").sum(),
            debits=pl.col("amount").filter(pl.col("direction") == "debit").sum(),
            closing_balance=pl.col("business_balance").last(),
            entry_count=pl.len().cast(pl.Int32),
        )
        .drop("account_number")
    )


def account_holds(events: pl.DataFrame) -> pl.DataFrame:
    """Every hold placed, with its first release (in delivery order) when there is one."""
    key = ["account_id", "hold_id"]
    placed = events.filter(_type == "HoldPlaced").unique(key, keep="first", maintain_order=True)
    released = (
        events.filter(_type == "HoldReleased")
        .unique(key, keep="first", maintain_order=True)
        .select(
            *key,
            released_version="stream_version",
            released_occurred_at="occurred_at",
            released_recorded_at="recorded_at",
            release_reason="reason",
        )
    )
    return placed.join(released, on=key, how="left", maintain_order="left").select(
        *key, "amount", "currency", "reason",
        expires_at=pl.col("expires_at").str.to_datetime(ISO_8601, time_unit="us", time_zone="UTC"),
        placed_version="stream_version", placed_occurred_at="occurred_at", placed_recorded_at="recorded_at",
        released_version="released_version", released_occurred_at="released_occurred_at",
        released_recorded_at="released_recorded_at", release_reason="release_reason",
    )  # fmt: skip


def account_balances(
    entry_events: pl.DataFrame,
    other_events: pl.DataFrame,
    entries: pl.DataFrame,
    holds: pl.DataFrame,
    statuses: pl.DataFrame,
) -> pl.DataFrame:
    """One row per account opened: its figures after every event up to the end point."""
    opened = other_events.filter(_type == "AccountOpened").unique("account_id", keep="first", maintain_order=True)
    # The account's newest event: its version and checkpoint. The store numbers each stream's versions in
    # delivery order, so the highest version is also the last event delivered, as the projector keeps it.
    columns = ["account_id", "stream_version", "transaction_id", "global_position"]
    newest = (
        pl.concat(
            [
                frame.filter(pl.col("stream_id").str.starts_with("account-")).select(columns)
                for frame in (entry_events, other_events)
            ]
        )  # fmt: skip
        .group_by("account_id")
        .agg(
            pl.col("stream_version").max().alias("newest_version"),
            pl.col("transaction_id").get(pl.col("stream_version").arg_max()).alias("last_transaction_id"),
            pl.col("global_position").get(pl.col("stream_version").arg_max()).alias("last_position"),
        )
    )
    # entries are in (account, stream_version) order: the last is the newest.
    ledger = entries.group_by("account_id").agg(ledger_balance=pl.col("balance_after").last())
    held = holds.filter(pl.col("released_version").is_null()).group_by("account_id").agg(held=pl.col("amount").sum())
    status = statuses.sort("stream_version").group_by("account_id").agg(current_status=pl.col("status").last())
    return (
        opened.join(newest, on="account_id", how="left")
        .join(ledger, on="account_id", how="left")
        .join(held, on="account_id", how="left")
        .join(status, on="account_id", how="left")
        .select(
            "account_id",
            "customer_id",
            "currency",
            product=pl.coalesce("product", pl.lit("current")),
            overdraft_limit="overdraft_limit",
            status="current_status",
            ledger_balance=pl.col("ledger_balance").fill_null(0),
            held_amount=pl.col("held").fill_null(0),
            version=pl.max_horizontal("stream_version", "newest_version"),
            last_transaction_id=pl.when(pl.col("newest_version") > pl.col("stream_version"))
            .then("last_transaction_id")
            .otherwise("transaction_id"),
            last_position=pl.when(pl.col("newest_version") > pl.col("stream_version"))
            .then("last_position")
            .otherwise("global_position"),
            opened_at="occurred_at",
        )
    )
