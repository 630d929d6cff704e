"""Helpers that set up a small bank through the real command path."""

from bank_pipeline.application import CommandHandler
from bank_pipeline.domain import commands as c
from bank_pipeline.store import EventStore


def customer(handler: CommandHandler, customer_id: str) -> str:
    handler.execute(c.RegisterCustomer(customer_id, "Test Customer", f"{customer_id}@example.org", "1 Test St"))
    handler.execute(c.ChangeKycStatus(customer_id, "verified"))
    return customer_id


def account(
    handler: CommandHandler,
    customer_id: str,
    account_id: str,
    *,
    currency: str = "EUR",
    overdraft: int = 0,
    funds: int = 0,
) -> str:
    handler.execute(c.OpenAccount(account_id, customer_id, currency, "current", overdraft))
    if funds:
        handler.execute(c.CreditAccount(account_id, funds, currency, f"fund-{account_id}", "Employer", "Salary"))
    return account_id


def event_count(store: EventStore) -> int:
    with store.pool.connection() as conn:
        return conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]
