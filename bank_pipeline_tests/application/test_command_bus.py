"""CommandBus (group commit) gives each caller what CommandHandler.execute would have: results, refusals,
replays and conflicts of idempotency keys, also when other writers move its cached streams on."""

from concurrent.futures import wait
from datetime import UTC, datetime

import pytest

from bank_pipeline.application import BusClosed, CommandBus, CommandHandler
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import InsufficientFunds
from bank_pipeline.store import IdempotencyConflict
from bank_pipeline_tests.application.bank import account, customer


@pytest.fixture
def bank(fresh_store):
    handler = CommandHandler(fresh_store)
    customer(handler, "owner")
    for name in ("a", "b", "c"):
        account(handler, "owner", name, funds=1_000)
    with CommandBus(handler) as bus:
        yield handler, bus


def balance(handler: CommandHandler, account_id: str) -> int:
    states, _ = handler.load([f"account-{account_id}"])
    return states[f"account-{account_id}"].ledger_balance


def test_commands_submitted_together_are_decided_in_order_and_appended_together(bank):
    handler, bus = bank
    futures = [bus.submit(c.TransferInternal(f"t{n}", "a", "b", 300, "EUR"), idempotency_key=f"k{n}") for n in range(4)]
    wait(futures)
    # 1,000 covers three transfers of 300; the fourth is refused, whichever group it landed in.
    assert [type(f.exception()) for f in futures] == [type(None)] * 3 + [InsufficientFunds]
    results = [f.result() for f in futures[:3]]
    assert [r.stream_versions["account-a"] for r in results] == [3, 4, 5]
    assert all(r.checkpoint.global_position == max(r.global_positions) for r in results)
    assert (balance(handler, "a"), balance(handler, "b")) == (100, 1_900)
    assert bus.groups_appended <= 3


def test_a_repeated_key_replays_the_first_result_even_when_it_would_now_be_refused(bank):
    handler, bus = bank
    first = bus.execute(c.TransferInternal("t1", "a", "b", 900, "EUR"), idempotency_key="once")
    again = bus.execute(c.TransferInternal("t1", "a", "b", 900, "EUR"), idempotency_key="once")
    assert again.replayed and again.global_positions == first.global_positions
    assert balance(handler, "a") == 100


def test_a_key_used_through_another_path_replays_too(bank):
    handler, bus = bank
    first = handler.execute(c.CreditAccount("a", 5, "EUR", "x1"), idempotency_key="elsewhere")
    again = bus.execute(c.CreditAccount("a", 5, "EUR", "x1"), idempotency_key="elsewhere")
    assert again.replayed and again.global_positions == first.global_positions
    assert balance(handler, "a") == 1_005


def test_the_same_key_submitted_concurrently_applies_once(bank):
    handler, bus = bank
    futures = [bus.submit(c.CreditAccount("a", 7, "EUR", "dup"), idempotency_key="dup") for _ in range(5)]
    results = [f.result() for f in futures]
    assert sum(not r.replayed for r in results) == 1
    assert len({r.global_positions for r in results}) == 1
    assert balance(handler, "a") == 1_007


def test_a_key_reused_for_another_request_is_refused(bank):
    _, bus = bank
    bus.execute(c.CreditAccount("a", 7, "EUR", "r1"), idempotency_key="reused")
    with pytest.raises(IdempotencyConflict):
        bus.execute(c.CreditAccount("a", 8, "EUR", "r2"), idempotency_key="reused")


def test_a_key_reused_for_a_request_the_domain_refuses_is_a_conflict_not_a_result(bank):
    """The refusal makes the bus look the key up; the earlier request under it differs, so the caller gets
    IdempotencyConflict raised (it used to be handed back as the result)."""
    handler, bus = bank
    handler.execute(c.TransferInternal("t-ok", "a", "b", 100, "EUR"), idempotency_key="pay")  # not this bus
    with pytest.raises(IdempotencyConflict):
        bus.execute(c.TransferInternal("t-too-much", "a", "b", 1_000_000, "EUR"), idempotency_key="pay")
    assert balance(handler, "a") == 900


def test_a_stream_changed_by_another_writer_is_reloaded(bank):
    """The bus caches states between groups; another writer's change fails its version check, and the
    command is decided again on the fresh state instead of on the stale cache."""
    handler, bus = bank
    bus.execute(c.DebitAccount("a", 100, "EUR", "d1"))  # "a" is now cached at 900
    handler.execute(c.DebitAccount("a", 850, "EUR", "elsewhere"))  # 50 left, the bus does not know
    with pytest.raises(InsufficientFunds):
        bus.execute(c.DebitAccount("a", 100, "EUR", "d2"))
    assert bus.conflicts >= 1
    handler.execute(c.CreditAccount("a", 1_000, "EUR", "refill"))  # the refusal above must not be cached
    bus.execute(c.DebitAccount("a", 100, "EUR", "d3"))
    assert balance(handler, "a") == 950


def test_close_answers_what_was_submitted_and_refuses_more(fresh_store):
    handler = CommandHandler(fresh_store)
    customer(handler, "owner")
    account(handler, "owner", "a", funds=10)
    bus = CommandBus(handler)
    futures = [bus.submit(c.CreditAccount("a", 1, "EUR", f"c{n}")) for n in range(10)]
    bus.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(BusClosed):
        bus.submit(c.CreditAccount("a", 1, "EUR", "late"))


def test_a_refusal_is_not_reported_for_a_key_that_already_succeeded_elsewhere(bank):
    handler, bus = bank
    first = handler.execute(c.TransferInternal("t9", "a", "b", 900, "EUR"), idempotency_key="paid")
    # Deciding again would refuse it (100 left): the bus must look the key up and replay instead.
    again = bus.execute(c.TransferInternal("t9", "a", "b", 900, "EUR"), idempotency_key="paid")
    assert again.replayed and again.global_positions == first.global_positions


def test_a_cache_over_its_limit_is_dropped_between_groups_only(bank, monkeypatch):
    """Dropping the cache while a group is being formed would let its later commands decide without its
    earlier ones' events, and the version check would not notice (both read the same stored version).
    Drives the committer's _decide directly, as a group grows while the append slot is busy."""
    handler, bus = bank
    monkeypatch.setattr("bank_pipeline.application.command_bus.MAX_CACHED_STREAMS", 1)
    empty_b = _pending(c.TransferInternal("m1", "b", "c", 1_000, "EUR"))
    spend_b_again = _pending(c.TransferInternal("m2", "b", "a", 500, "EUR"))  # "a" is not cached yet
    group, _ = bus._decide([empty_b], None)
    group, _ = bus._decide([spend_b_again], group)
    assert isinstance(group.outcomes[1][1], InsufficientFunds)  # "b" is empty after the first transfer


def test_a_command_whose_decision_breaks_fails_alone(bank, monkeypatch):
    """Not a refusal but a bug: that caller gets the error, and the commands decided with it in its
    group are decided again without it."""
    handler, bus = bank
    from bank_pipeline.application import command_bus

    real = command_bus.decide_and_evolve

    def breaks_on_t2(command, *args):
        if getattr(command, "transfer_id", None) == "t2":
            raise RuntimeError("bug in a decision")
        return real(command, *args)

    monkeypatch.setattr(command_bus, "decide_and_evolve", breaks_on_t2)
    futures = [bus.submit(c.TransferInternal(f"t{n}", "a", "b", 100, "EUR")) for n in range(5)]
    wait(futures)
    assert isinstance(futures[2].exception(), RuntimeError)
    assert all(f.exception() is None for n, f in enumerate(futures) if n != 2)
    assert (balance(handler, "a"), balance(handler, "b")) == (600, 1_400)


def _pending(command):
    from bank_pipeline.application.command_bus import _Pending
    from bank_pipeline.application.handler import CommandIdentity

    identity = CommandIdentity.of(command, None, "test")
    return _Pending(command, None, identity.fingerprint, identity.command_id, identity.metadata)


def test_each_command_can_carry_its_own_business_time(bank):
    """Ingestion books rows at the time the file says, not when the group happens to be decided."""
    handler, bus = bank
    booked = [datetime(2026, 3, 1, 9, n, tzinfo=UTC) for n in range(3)]
    futures = [bus.submit(c.DebitAccount("a", 10, "EUR", f"card{n}"), occurred_at=booked[n]) for n in range(3)]
    wait(futures)
    debits = [e for e in handler.store.read_stream("account-a") if e.event_type == "AccountDebited"]
    assert [e.occurred_at for e in debits] == booked
