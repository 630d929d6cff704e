"""Random command sequences against the invariants of the ledger.

Hypothesis draws one seed per step; the command for that step is derived from the seed and the
bank's current state, so commands often refer to holds and transfers that exist. (One draw per step
keeps this fast; shrinking still removes steps and simplifies seeds.)
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from hypothesis import given, note, settings
from hypothesis import strategies as st

from bank_pipeline.domain.aggregates import (
    AccountState,
    TransferState,
    fold,
    state_from_snapshot,
    state_to_snapshot,
)
from bank_pipeline.domain.commands import (
    CloseAccount,
    Command,
    CreditAccount,
    DebitAccount,
    ExpireOutboundTransfer,
    FreezeAccount,
    PlaceHold,
    ReceiveInboundTransfer,
    RejectOutboundTransfer,
    ReleaseHold,
    RequestOutboundTransfer,
    SettleOutboundTransfer,
    SubmitOutboundTransfer,
    TransferInternal,
    UnfreezeAccount,
)
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.domain.events import AccountCredited, AccountDebited
from bank_pipeline_tests.domain.harness import FAST, NOW, Bank, bank_with_accounts

# (account id, currency, overdraft limit); A1, A3 and A4 start with money deposited.
ACCOUNTS = (("A1", "EUR", 0), ("A2", "EUR", 500), ("A3", "USD", 0), ("A4", "JPY", 1000))
OPENING_DEPOSITS = {"A1": 3000, "A3": 3000, "A4": 3000}

# Weighted so that multi-step flows (request, submit, settle) complete often enough.
COMMAND_WEIGHTS = {
    CreditAccount: 3,
    DebitAccount: 3,
    PlaceHold: 2,
    ReleaseHold: 2,
    FreezeAccount: 1,
    UnfreezeAccount: 2,
    CloseAccount: 1,
    TransferInternal: 3,
    RequestOutboundTransfer: 3,
    SubmitOutboundTransfer: 3,
    SettleOutboundTransfer: 3,
    RejectOutboundTransfer: 1,
    ExpireOutboundTransfer: 2,
    ReceiveInboundTransfer: 2,
}

seed_sequences = st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=10, max_size=40)


def next_command(rng: random.Random, bank: Bank, now: datetime) -> Command:
    """A random command, mostly well-formed and mostly about what exists in the bank by now."""
    kind = rng.choices(list(COMMAND_WEIGHTS), weights=list(COMMAND_WEIGHTS.values()))[0]
    if rng.random() < 0.8:
        account_id, currency, _ = rng.choice(ACCOUNTS)
    else:
        account_id, currency = rng.choice(["A1", "A2", "A3", "A9"]), rng.choice(["EUR", "USD", "JPY", "XYZ"])
    amount = rng.randint(1, 2000) if rng.random() < 0.9 else rng.choice([0, -5, 1.5, True])
    expires_at = now + timedelta(hours=rng.randint(-1, 30))
    accounts = [state for state in bank.states.values() if isinstance(state, AccountState)]
    transfers = [state for state in bank.states.values() if isinstance(state, TransferState)]

    if kind in (CreditAccount, DebitAccount):
        return kind(account_id, amount, currency, "E1")
    if kind is PlaceHold:
        return PlaceHold(account_id, rng.choice(["H1", "H2"]), amount, currency, expires_at, "card")
    if kind is ReleaseHold:
        holds = [(account.account_id, hold.hold_id) for account in accounts for hold in account.holds]
        return ReleaseHold(*rng.choice([*holds, (account_id, "H9")]))
    if kind is UnfreezeAccount:
        frozen = [account.account_id for account in accounts if account.status == "frozen"]
        return UnfreezeAccount(rng.choice([*frozen, account_id]), "cleared")
    if kind in (FreezeAccount, CloseAccount):
        return kind(account_id, "reason")
    if kind is TransferInternal:
        other_euro_account = "A1" if account_id == "A2" else "A2"
        to_account_id = rng.choice([other_euro_account, other_euro_account, "A3", account_id, "A9"])
        return TransferInternal("X1", account_id, to_account_id, amount, currency)
    if kind is RequestOutboundTransfer:
        transfer_id = rng.choice(["T1", "T2", "T3", "T4"])
        iban, name = "DE89370400440532013000", "Bob"
        return RequestOutboundTransfer(transfer_id, account_id, amount, currency, iban, name, None, expires_at)
    if kind is ReceiveInboundTransfer:
        iban, name = "GB33BUKB20201555555555", "Carol"
        return ReceiveInboundTransfer(rng.choice(["I1", "I2", "I3"]), account_id, amount, currency, iban, name, None)

    outbound = [transfer for transfer in transfers if transfer.direction == "outbound"]
    pending = [transfer for transfer in outbound if transfer.status in ("funds_held", "submitted")]
    if outbound and rng.random() < 0.9:
        transfer = rng.choice(pending if pending and rng.random() < 0.8 else outbound)
        transfer_id = transfer.transfer_id
        account_id = transfer.account_id if rng.random() < 0.9 else account_id
    else:
        transfer_id = "T9"
    if kind is SubmitOutboundTransfer:
        return SubmitOutboundTransfer(transfer_id, "SUB-1")
    if kind is RejectOutboundTransfer:
        return RejectOutboundTransfer(transfer_id, account_id, "refused")
    return kind(transfer_id, account_id)


def run(seeds: list[int], narrate: Callable[[str], None] = note) -> tuple[Bank, Counter[str], Counter[str]]:
    """Execute one command per seed, one hour apart, checking the ledger after each one.

    `narrate` receives each command, for Hypothesis to show with a failing example.
    Returns the bank and how often each command type was accepted and refused.
    """
    bank = bank_with_accounts(*ACCOUNTS)
    external_net: Counter[str] = Counter()
    for account_id, amount in OPENING_DEPOSITS.items():
        [(_, deposit)] = bank.execute(CreditAccount(account_id, amount, bank.account(account_id).currency, "E0"))
        external_net[deposit.currency] += amount
    accepted: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for step, seed in enumerate(seeds):
        now = NOW + timedelta(hours=step)
        command = next_command(random.Random(seed), bank, now)
        narrate(f"step {step}: {command}")
        before = bank.states_for(command)
        try:
            appended = bank.execute(command, now)
        except DomainError:
            refused[type(command).__name__] += 1
            assert bank.states_for(command) == before
            continue
        accepted[type(command).__name__] += 1
        assert appended
        assert {stream_id for stream_id, _ in appended} <= set(command.stream_ids())
        for _, event in appended:
            if isinstance(event, AccountCredited | AccountDebited) and event.flow == "external":
                sign = 1 if isinstance(event, AccountCredited) else -1
                external_net[event.currency] += sign * event.amount
        check_ledger(bank, external_net)
    return bank, accepted, refused


def check_ledger(bank: Bank, external_net: Counter[str]) -> None:
    ledger_total: Counter[str] = Counter()
    for account_id, currency, _ in ACCOUNTS:
        account = bank.account(account_id)
        assert all(hold.amount > 0 for hold in account.holds)
        assert account.held_amount >= 0
        if account.status != "closed":
            assert account.available_balance >= -account.overdraft_limit
        ledger_total[currency] += account.ledger_balance
    assert ledger_total == external_net


@settings(FAST, max_examples=150)
@given(seeds=seed_sequences)
def test_accepted_commands_keep_the_ledger_consistent(seeds: list[int]) -> None:
    run(seeds)


@settings(FAST, max_examples=50)
@given(seeds=seed_sequences)
def test_snapshots_round_trip_for_random_histories(seeds: list[int]) -> None:
    bank, _, _ = run(seeds)
    for stream_id, events in bank.streams.items():
        state = fold(events)
        assert state is not None
        assert state == bank.states[stream_id]
        snapshot = json.loads(json.dumps(state_to_snapshot(state)))
        assert state_from_snapshot(snapshot) == state


def test_the_random_commands_reach_every_command_type() -> None:
    """A guard on the generator: every command type is both accepted and refused somewhere."""
    accepted: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for seed in range(40):
        seeds = [random.Random(seed * 1000 + step).getrandbits(32) for step in range(40)]
        _, accepted_here, refused_here = run(seeds, narrate=lambda _: None)
        accepted.update(accepted_here)
        refused.update(refused_here)
    command_types = {kind.__name__ for kind in COMMAND_WEIGHTS}
    assert set(accepted) == command_types, accepted
    assert set(refused) == command_types, refused
