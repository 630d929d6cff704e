"""A small bank with a seeded random history, built through the real command path: every kind of account
event, two currencies, refusals, and entries booked out of business-time order (back-dated)."""

import random
from datetime import UTC, datetime, timedelta

from bank_pipeline.application import CommandHandler
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import DomainError

BASE_TIME = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def build_random_bank(handler: CommandHandler, *, seed: int, accounts: int = 6, operations: int = 120) -> list[str]:
    """Returns the account ids. Business times wander over five days, sometimes backwards."""
    rng = random.Random(seed)
    prefix = f"s{seed}"
    customers = [f"{prefix}-cust-{i}" for i in range(max(2, accounts // 2))]
    clock = BASE_TIME

    def at() -> datetime:
        nonlocal clock
        clock += timedelta(minutes=rng.randint(1, 180))
        if rng.random() < 0.15:  # back-dated: booked with an earlier business time
            return clock - timedelta(hours=rng.randint(1, 48))
        return clock

    def run(command, **kwargs) -> bool:
        try:
            handler.execute(command, occurred_at=at(), **kwargs)
            return True
        except DomainError:
            return False

    for customer in customers:
        run(c.RegisterCustomer(customer, f"Customer {customer}", f"{customer}@example.org", "1 Test St"))
        run(c.ChangeKycStatus(customer, "verified"))
    account_ids = []
    for i in range(accounts):
        account_id = f"{prefix}-acct-{i}"
        currency = "USD" if i % 5 == 4 else "EUR"
        run(c.OpenAccount(account_id, rng.choice(customers), currency, "current", rng.choice([0, 0, 5_000])))
        account_ids.append(account_id)
    currency_of = {a: ("USD" if i % 5 == 4 else "EUR") for i, a in enumerate(account_ids)}
    holds: dict[str, list[str]] = {a: [] for a in account_ids}
    transfers: list[tuple[str, str]] = []

    for n in range(operations):
        account = rng.choice(account_ids)
        currency = currency_of[account]
        amount = rng.choice([1, 99, 1_000, 2_500, 10_000, 125_000])
        roll = rng.random()
        if roll < 0.30:
            run(c.CreditAccount(account, amount, currency, f"{prefix}-in-{n}", "Employer", f"ref {n}"))
        elif roll < 0.45:
            run(c.DebitAccount(account, amount, currency, f"{prefix}-out-{n}", "Shop", None))
        elif roll < 0.65:
            other = rng.choice([a for a in account_ids if currency_of[a] == currency])
            run(c.TransferInternal(f"{prefix}-tr-{n}", account, other, amount, currency, f"transfer {n}"))
        elif roll < 0.72:
            hold_id = f"{prefix}-hold-{n}"
            if run(c.PlaceHold(account, hold_id, amount, currency, BASE_TIME + timedelta(days=30), "card")):
                holds[account].append(hold_id)
        elif roll < 0.78 and holds[account]:
            run(c.ReleaseHold(account, holds[account].pop(rng.randrange(len(holds[account])))))
        elif roll < 0.85:
            transfer_id = f"{prefix}-sepa-{n}"
            if run(
                c.RequestOutboundTransfer(
                    transfer_id,
                    account,
                    amount,
                    currency,
                    "DE89370400440532013000",
                    "Creditor",
                    None,
                    BASE_TIME + timedelta(days=30),
                )
            ):
                transfers.append((transfer_id, account))
        elif roll < 0.90 and transfers:
            transfer_id, owner = transfers.pop(rng.randrange(len(transfers)))
            run(c.SubmitOutboundTransfer(transfer_id, f"sub-{transfer_id}"))
            if rng.random() < 0.7:
                run(c.SettleOutboundTransfer(transfer_id, owner))
            else:
                run(c.RejectOutboundTransfer(transfer_id, owner, "AC04"))
        elif roll < 0.93:
            run(c.FreezeAccount(account, "review"))
        elif roll < 0.97:
            run(c.UnfreezeAccount(account, "cleared"))
        elif roll < 0.98:
            run(c.UpdateCustomerDetails(rng.choice(customers), email=f"new{n}@example.org"))
        else:
            run(c.ChangeKycStatus(rng.choice(customers), rng.choice(["pending", "verified"])))
    return account_ids


AWKWARD = "awkward-acct"
CLOSED = "awkward-closed"


def build_awkward_accounts(handler: CommandHandler) -> None:
    """What random histories rarely hold, on purpose: entries back-dated before the account's opening, an
    unfreeze back-dated before the freeze it lifts, a release back-dated before its hold's placement, and a
    closed account."""
    base = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

    def at(hours: float, command) -> None:
        handler.execute(command, occurred_at=base + timedelta(hours=hours))

    at(-1, c.RegisterCustomer("awkward-cust", "Awkward", "awkward@example.org", "1 Test St"))
    at(-1, c.ChangeKycStatus("awkward-cust", "verified"))
    at(1, c.OpenAccount(AWKWARD, "awkward-cust", "EUR", "current", 0))
    at(0, c.CreditAccount(AWKWARD, 50_000, "EUR", "awk-in-1", "Employer", "back-dated before the opening"))
    at(3, c.FreezeAccount(AWKWARD, "review"))
    at(2, c.UnfreezeAccount(AWKWARD, "cleared, back-dated before the freeze"))
    at(5, c.PlaceHold(AWKWARD, "awk-hold-1", 10_000, "EUR", base + timedelta(days=30), "card"))
    at(4, c.ReleaseHold(AWKWARD, "awk-hold-1"))  # back-dated before its placement
    at(6, c.PlaceHold(AWKWARD, "awk-hold-2", 2_500, "EUR", base + timedelta(days=30), "card"))
    at(7, c.DebitAccount(AWKWARD, 1_000, "EUR", "awk-out-1", "Shop"))
    at(0.5, c.CreditAccount(AWKWARD, 7, "EUR", "awk-in-2", "Refund", "back-dated again"))
    at(1, c.OpenAccount(CLOSED, "awkward-cust", "EUR", "current", 0))
    at(2, c.CreditAccount(CLOSED, 100, "EUR", "awk-in-3", "Employer"))
    at(3, c.DebitAccount(CLOSED, 100, "EUR", "awk-out-2", "Shop"))
    at(4, c.CloseAccount(CLOSED, "customer left"))
