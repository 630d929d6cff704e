from datetime import UTC, datetime, timedelta

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.domain import commands as c
from bank_pipeline.domain import errors
from bank_pipeline.domain.streams import account_stream, transfer_stream
from bank_pipeline.store import IdempotencyConflict
from bank_pipeline_tests.application.bank import account, customer, event_count


@pytest.fixture
def bank(handler, unique):
    """Ada (EUR with 1,000.00 and 50.00 overdraft, GBP empty) and Bob (EUR empty)."""
    customer(handler, f"ada{unique}")
    customer(handler, f"bob{unique}")
    return {
        "ada": account(handler, f"ada{unique}", f"ada-eur{unique}", overdraft=50_00, funds=1_000_00),
        "ada_gbp": account(handler, f"ada{unique}", f"ada-gbp{unique}", currency="GBP"),
        "bob": account(handler, f"bob{unique}", f"bob-eur{unique}"),
    }


def state(handler: CommandHandler, account_id: str):
    states, _ = handler.load([account_stream(account_id)])
    return states[account_stream(account_id)]


def test_internal_transfer_appends_to_both_streams_in_one_transaction(handler, store, bank, unique):
    result = handler.execute(c.TransferInternal(f"t{unique}", bank["ada"], bank["bob"], 250_00, "EUR", "rent"))
    debit, credit = (
        store.read_stream(account_stream(bank["ada"]))[-1],
        store.read_stream(account_stream(bank["bob"]))[-1],
    )
    assert (debit.event_type, credit.event_type) == ("AccountDebited", "AccountCredited")
    assert debit.transaction_id == credit.transaction_id
    assert {debit.global_position, credit.global_position} == set(result.global_positions)
    assert result.checkpoint.transaction_id == debit.transaction_id
    assert state(handler, bank["ada"]).ledger_balance == 750_00
    assert state(handler, bank["bob"]).ledger_balance == 250_00
    assert debit.payload["balance_after"] == 750_00 and credit.payload["balance_after"] == 250_00


REFUSALS = [
    (
        "unknown account",
        lambda b, u: c.TransferInternal(f"x{u}", b["ada"], f"nobody{u}", 1_00, "EUR"),
        errors.UnknownAccount,
    ),
    (
        "currency mismatch",
        lambda b, u: c.TransferInternal(f"x{u}", b["ada"], b["ada_gbp"], 1_00, "EUR"),
        errors.CurrencyMismatch,
    ),
    (
        "same account",
        lambda b, u: c.TransferInternal(f"x{u}", b["ada"], b["ada"], 1_00, "EUR"),
        errors.SameAccountTransfer,
    ),
    (
        "beyond overdraft",
        lambda b, u: c.DebitAccount(b["ada"], 1_050_01, "EUR", f"x{u}"),
        errors.InsufficientFunds,
    ),
    ("zero amount", lambda b, u: c.CreditAccount(b["ada"], 0, "EUR", f"x{u}"), errors.NonPositiveAmount),
    ("negative amount", lambda b, u: c.DebitAccount(b["ada"], -5, "EUR", f"x{u}"), errors.NonPositiveAmount),
    ("float amount", lambda b, u: c.CreditAccount(b["ada"], 1.5, "EUR", f"x{u}"), errors.MalformedAmount),
    (
        "unknown currency",
        lambda b, u: c.CreditAccount(b["ada"], 100, "XYZ", f"x{u}"),
        errors.UnsupportedCurrency,
    ),
    ("malformed id", lambda b, u: c.CreditAccount("bad id!", 100, "EUR", f"x{u}"), errors.InvalidCommand),
]


@pytest.mark.parametrize("name, make, error", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_commands_raise_a_typed_error_and_append_nothing(handler, store, bank, unique, name, make, error):
    before = event_count(store)
    with pytest.raises(error) as raised:
        handler.execute(make(bank, unique))
    assert raised.value.code and str(raised.value)
    assert event_count(store) == before


def test_frozen_and_closed_accounts_refuse_movements(handler, store, bank, unique):
    handler.execute(c.FreezeAccount(bank["bob"], "investigation"))
    with pytest.raises(errors.AccountFrozen, match=bank["bob"]):
        handler.execute(c.TransferInternal(f"t{unique}", bank["ada"], bank["bob"], 1_00, "EUR"))
    handler.execute(c.UnfreezeAccount(bank["bob"], "cleared"))
    handler.execute(c.CloseAccount(bank["bob"], "moving banks"))
    before = event_count(store)
    with pytest.raises(errors.AccountClosed):
        handler.execute(c.CreditAccount(bank["bob"], 1_00, "EUR", f"late{unique}"))
    assert event_count(store) == before


def test_close_only_at_zero_balance(handler, bank):
    with pytest.raises(errors.AccountNotEmpty):
        handler.execute(c.CloseAccount(bank["ada"], "customer request"))


def test_outbound_transfer_holds_then_settles(handler, store, bank, unique):
    transfer = f"out{unique}"
    expires = datetime.now(UTC) + timedelta(days=3)
    handler.execute(
        c.RequestOutboundTransfer(
            transfer, bank["ada"], 400_00, "EUR", "DE89370400440532013000", "Landlord", "Rent", expires
        )
    )
    held = state(handler, bank["ada"])
    assert (held.ledger_balance, held.available_balance) == (1_000_00, 600_00)
    with pytest.raises(errors.InsufficientFunds):  # the hold counts against the overdraft limit
        handler.execute(c.DebitAccount(bank["ada"], 650_01, "EUR", f"card{unique}"))
    with pytest.raises(errors.InvalidTransferState):
        handler.execute(c.SettleOutboundTransfer(transfer, bank["ada"]))  # not submitted yet
    handler.execute(c.SubmitOutboundTransfer(transfer, "pain001-1"))
    handler.execute(c.SettleOutboundTransfer(transfer, bank["ada"]))
    settled = state(handler, bank["ada"])
    assert (settled.ledger_balance, settled.available_balance, settled.holds) == (600_00, 600_00, ())
    assert [e.event_type for e in store.read_stream(transfer_stream(transfer))] == [
        "OutboundTransferRequested",
        "OutboundTransferSubmitted",
        "OutboundTransferSettled",
    ]


def test_outbound_transfer_rejected_releases_the_hold(handler, bank, unique):
    transfer = f"out{unique}"
    handler.execute(
        c.RequestOutboundTransfer(
            transfer,
            bank["ada"],
            400_00,
            "EUR",
            "DE89370400440532013000",
            "Shop",
            "Order",
            datetime.now(UTC) + timedelta(days=3),
        )
    )
    handler.execute(c.RejectOutboundTransfer(transfer, bank["ada"], "creditor unknown"))
    after = state(handler, bank["ada"])
    assert (after.ledger_balance, after.available_balance) == (1_000_00, 1_000_00)


def test_a_hold_that_is_never_settled_expires(store, bank, unique):
    transfer = f"out{unique}"
    now = datetime.now(UTC)
    today, next_week = (
        CommandHandler(store, clock=lambda: now),
        CommandHandler(store, clock=lambda: now + timedelta(days=8)),
    )
    today.execute(
        c.RequestOutboundTransfer(
            transfer,
            bank["ada"],
            100_00,
            "EUR",
            "DE89370400440532013000",
            "Shop",
            "Order",
            now + timedelta(days=7),
        )
    )
    with pytest.raises(errors.HoldNotExpired):
        today.execute(c.ExpireOutboundTransfer(transfer, bank["ada"]))
    next_week.execute(c.ExpireOutboundTransfer(transfer, bank["ada"]))
    assert state(today, bank["ada"]).available_balance == 1_000_00


def test_inbound_transfer_is_credited_or_returned(handler, store, bank, unique):
    handler.execute(
        c.ReceiveInboundTransfer(f"in1{unique}", bank["bob"], 75_00, "EUR", "NL91ABNA0417164300", "Jo", "Gift")
    )
    assert state(handler, bank["bob"]).ledger_balance == 75_00
    before = store.read_stream(account_stream(bank["ada_gbp"]))
    handler.execute(
        c.ReceiveInboundTransfer(f"in2{unique}", bank["ada_gbp"], 75_00, "EUR", "NL91ABNA0417164300", "Jo", "Gift")
    )
    returned = store.read_stream(transfer_stream(f"in2{unique}"))
    assert [e.event_type for e in returned] == ["InboundTransferReceived", "InboundTransferReturned"]
    assert returned[-1].payload["reason_code"] == "currency_mismatch"
    assert store.read_stream(account_stream(bank["ada_gbp"])) == before


def test_idempotency_key_replays_the_original_result(handler, store, bank, unique):
    command = c.TransferInternal(f"t{unique}", bank["ada"], bank["bob"], 10_00, "EUR")
    first = handler.execute(command, idempotency_key=f"key{unique}")
    before = event_count(store)
    again = handler.execute(command, idempotency_key=f"key{unique}")
    assert again.replayed and again.global_positions == first.global_positions
    assert event_count(store) == before
    with pytest.raises(IdempotencyConflict):
        handler.execute(
            c.TransferInternal(f"t{unique}", bank["ada"], bank["bob"], 99_00, "EUR"),
            idempotency_key=f"key{unique}",
        )
    assert state(handler, bank["ada"]).ledger_balance == 990_00


def test_events_carry_who_why_and_which_command(handler, store, bank, unique):
    result = handler.execute(
        c.CreditAccount(bank["bob"], 5_00, "EUR", f"dep{unique}"),
        actor="operator:alice",
        correlation_id=f"corr{unique}",
        idempotency_key=f"k{unique}",
    )
    metadata = store.read_stream(account_stream(bank["bob"]))[-1].metadata
    assert metadata["actor"] == "operator:alice"
    assert metadata["correlation_id"] == f"corr{unique}"
    assert metadata["command_id"] == str(result.command_id) == metadata["causation_id"]
    assert metadata["command_type"] == "CreditAccount"


def test_cached_snapshots_equal_a_fold_of_the_events(handler, store, bank, unique):
    handler.execute(c.TransferInternal(f"t{unique}", bank["ada"], bank["bob"], 10_00, "EUR"))
    handler.execute(
        c.PlaceHold(bank["ada"], f"h{unique}", 20_00, "EUR", datetime.now(UTC) + timedelta(days=1), "card auth")
    )
    for account_id in bank.values():
        assert state(handler, account_id) == handler.fold_stream(account_stream(account_id))


def test_a_stale_snapshot_is_ignored_and_the_stream_folded(handler, store, bank):
    stream = account_stream(bank["ada"])
    with store.pool.connection() as conn:
        conn.execute(
            "UPDATE event_store.streams SET snapshot_version = -1, snapshot = '{}' WHERE stream_id = %s",
            (stream,),
        )
    assert state(handler, bank["ada"]).ledger_balance == 1_000_00


def test_a_command_records_the_business_time_it_is_given(handler, store, bank, unique):
    booked = datetime(2026, 2, 27, 17, 45, tzinfo=UTC)
    handler.execute(c.DebitAccount(bank["ada"], 5_00, "EUR", f"card{unique}"), occurred_at=booked)
    assert store.read_stream(account_stream(bank["ada"]))[-1].occurred_at == booked
