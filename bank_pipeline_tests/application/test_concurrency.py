"""Eight writers race through the real command paths: conflicting transfers on a few hot accounts,
external money in and out, two-phase transfers, and retries of the same idempotency key, some of them
concurrent. Afterwards the bank must balance to the cent.

The writers use CommandHandler.execute, one shared CommandBus (group commit), or both at once: the bus's
cached states then go stale under the other writers, which its version checks must catch."""

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bank_pipeline.application import CommandBus, CommandHandler, RetriesExhausted
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import DomainError
from bank_pipeline_tests.application.bank import account, customer
from bank_pipeline_tests.application.invariants import check_bank_invariants

WRITERS = 8
OPERATIONS_PER_WRITER = 60
EUR_ACCOUNTS = [f"eur{i}" for i in range(6)]
GBP_ACCOUNTS = [f"gbp{i}" for i in range(2)]


def random_command(rng: random.Random, tag: str):
    kind = rng.choices(["transfer", "credit", "debit", "outbound", "inbound"], [6, 1, 1, 1, 1])[0]
    currency, pool = rng.choice([("EUR", EUR_ACCOUNTS), ("EUR", EUR_ACCOUNTS), ("GBP", GBP_ACCOUNTS)])
    amount = rng.choice([1, 99, 1_000, 25_000, 80_000])
    if kind == "transfer":
        source, target = rng.sample(pool, 2)
        return c.TransferInternal(tag, source, target, amount, currency)
    if kind == "credit":
        return c.CreditAccount(rng.choice(pool), amount, currency, tag, "Employer", "Salary")
    if kind == "debit":
        return c.DebitAccount(rng.choice(pool), amount, currency, tag, "Shop", "Card")
    if kind == "inbound":
        target = rng.choice(pool + ["missing-account"])
        return c.ReceiveInboundTransfer(tag, target, amount, currency, "NL91ABNA0417164300", "Jo", "Gift")
    return c.RequestOutboundTransfer(
        tag,
        rng.choice(pool),
        amount,
        currency,
        "DE89370400440532013000",
        "Shop",
        "Order",
        datetime.now(UTC) + timedelta(days=1),
    )


@pytest.mark.parametrize("path", ["handler", "bus", "mixed"])
def test_eight_concurrent_writers_keep_the_bank_balanced(fresh_store, path):
    handler = CommandHandler(fresh_store, max_attempts=50)
    bus = CommandBus(handler)
    customer(handler, "owner")
    for account_id in EUR_ACCOUNTS:
        account(handler, "owner", account_id, overdraft=10_000, funds=100_000)
    for account_id in GBP_ACCOUNTS:
        account(handler, "owner", account_id, currency="GBP", funds=100_000)

    expected_external: Counter = Counter({"EUR": 6 * 100_000, "GBP": 2 * 100_000})
    applied_keys: Counter = Counter()
    outcomes: Counter = Counter()
    lock = threading.Lock()
    # Every writer also executes these, at the same time: exactly one may apply each.
    contested = [(f"contested-{i}", random_command(random.Random(i), f"contested-{i}")) for i in range(20)]

    def record(key, command, result) -> None:
        with lock:
            outcomes["replayed" if result.replayed else "applied"] += 1
            if result.replayed:
                return
            applied_keys[key] += 1
            types = {event.event_type for _, event in result.events}
            if isinstance(command, c.CreditAccount) or "InboundTransferCredited" in types:
                expected_external[command.currency] += command.amount
            if isinstance(command, c.DebitAccount):
                expected_external[command.currency] -= command.amount

    def run(execute, key, command) -> None:
        try:
            result = execute(command, idempotency_key=key, actor="test")
        except DomainError as refused:
            with lock:
                outcomes[refused.code] += 1
            return
        record(key, command, result)
        follow_up = None
        if isinstance(command, c.RequestOutboundTransfer) and not result.replayed:
            follow_up = c.SubmitOutboundTransfer(command.transfer_id, f"sub-{command.transfer_id}")
        if follow_up:
            execute(follow_up)
            final = random.choice([c.SettleOutboundTransfer, c.RejectOutboundTransfer])
            if final is c.SettleOutboundTransfer:
                execute(final(command.transfer_id, command.account_id))
                with lock:
                    expected_external[command.currency] -= command.amount
            else:
                execute(final(command.transfer_id, command.account_id, "returned by creditor bank"))

    failures: list[BaseException] = []

    def writer(seed: int) -> None:
        try:
            write(seed)
        except BaseException as error:  # noqa: BLE001 - a writer that dies must fail the test
            failures.append(error)

    def write(seed: int) -> None:
        rng = random.Random(seed)
        on_bus = path == "bus" or (path == "mixed" and seed % 2 == 0)
        execute = bus.execute if on_bus else handler.execute
        work = [(f"w{seed}-{i}", random_command(rng, f"w{seed}-{i}")) for i in range(OPERATIONS_PER_WRITER)]
        work += contested
        rng.shuffle(work)
        for key, command in work:
            run(execute, key, command)
            if rng.random() < 0.2:  # a client retry after a lost response
                run(execute, key, command)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bus.close()

    assert not failures, failures
    assert all(count == 1 for count in applied_keys.values()), "an idempotency key applied twice"
    assert outcomes["applied"] > 100 and outcomes["replayed"] > 20, outcomes
    assert outcomes["insufficient_funds"] > 0, "the workload should push accounts to their limits"
    totals = check_bank_invariants(fresh_store)
    assert totals == {k: v for k, v in expected_external.items() if v}


def test_a_command_that_keeps_losing_the_race_gives_up_with_a_clear_error(fresh_store):
    setup = CommandHandler(fresh_store)
    customer(setup, "owner")
    account(setup, "owner", "hot", funds=100_000)
    interference = iter(range(1000))

    def clock_that_lets_another_writer_in() -> datetime:
        # Called between loading state and appending: another writer moves the stream on each time.
        setup.execute(c.CreditAccount("hot", 1, "EUR", f"interloper-{next(interference)}"))
        return datetime.now(UTC)

    racing = CommandHandler(fresh_store, clock=clock_that_lets_another_writer_in, max_attempts=3)
    with pytest.raises(RetriesExhausted, match="lost 3 races"):
        racing.execute(c.DebitAccount("hot", 5, "EUR", "loser"))
    assert all(e.payload.get("transfer_id") != "loser" for e in fresh_store.read_stream("account-hot"))
