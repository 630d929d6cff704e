"""A bank whose statements the tests read: random histories (back-dated entries included) and awkward accounts
(entries back-dated before the opening, a closed account, text that CSV, XML and MT940 must escape), projected.
Built once for the package in its own database; tests that append events use a fresh database instead."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bank_pipeline.application import CommandHandler
from bank_pipeline.domain import commands as c
from bank_pipeline.projections.catching_up import catch_up_with_committed_events
from bank_pipeline.store import EventStore, RecordedEvent
from bank_pipeline_tests.projections.random_bank import build_awkward_accounts, build_random_bank
from bank_pipeline_tests.projections.reference import all_events, by_stream

TRICKY = "tricky-acct"
YEN = "yen-acct"


@dataclass(frozen=True)
class Bank:
    url: str
    streams: dict[str, list[RecordedEvent]]  # account id -> its events in stream order


def build_statement_bank(handler: CommandHandler) -> None:
    for seed in (51, 52, 53):
        build_random_bank(handler, seed=seed, accounts=6, operations=150)
    build_awkward_accounts(handler)
    build_tricky_text_account(handler)
    build_yen_account(handler)


def build_tricky_text_account(handler: CommandHandler) -> None:
    """Counterparties and references that every format must carry or escape: separators, quotes, line breaks,
    formula starters, markup and non-Latin script."""
    base = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    texts = ['a, "quoted" one', "line\nbreak", "=SUM(A1:A9)", "-42", "@home", "<b>&amp;</b>", "Zürich — 東京 ✓"]
    handler.execute(c.RegisterCustomer("tricky-cust", 'Ünïcødé "Ltd", =Co', "t@example.org", "1 St"), occurred_at=base)
    handler.execute(c.ChangeKycStatus("tricky-cust", "verified"), occurred_at=base)
    handler.execute(c.OpenAccount(TRICKY, "tricky-cust", "EUR", "current", 0), occurred_at=base)
    for n, text in enumerate(texts):
        at = base + timedelta(hours=n + 1)
        handler.execute(c.CreditAccount(TRICKY, 1_000 + n, "EUR", f"tricky-in-{n}", text, text), occurred_at=at)


def projected_streams(pool) -> dict[str, list[RecordedEvent]]:
    caught_up = catch_up_with_committed_events(pool, timeout=120)
    assert caught_up.complete, caught_up.describe()
    return {
        stream[0].payload["account_id"]: stream
        for stream_id, stream in by_stream(all_events(EventStore(pool))).items()
        if stream_id.startswith("account-")
    }


def build_yen_account(handler: CommandHandler) -> None:
    """A currency without minor units: amounts and balances are whole yen in every format."""
    base = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    handler.execute(c.RegisterCustomer("yen-cust", "Sato Hanako", "sato@example.org", "1-1 Chiyoda"), occurred_at=base)
    handler.execute(c.ChangeKycStatus("yen-cust", "verified"), occurred_at=base)
    handler.execute(c.OpenAccount(YEN, "yen-cust", "JPY", "current", 0), occurred_at=base)
    for n, (amount, credit) in enumerate([(120_000, True), (4_500, False), (99, False), (1, True)]):
        command = c.CreditAccount if credit else c.DebitAccount
        at = base + timedelta(hours=n + 1)
        handler.execute(command(YEN, amount, "JPY", f"yen-{n}", "Tokyo Shop", f"order {n}"), occurred_at=at)
