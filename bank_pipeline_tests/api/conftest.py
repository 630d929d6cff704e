"""The API against a real PostgreSQL: a fresh database holding a small bank, a TestClient over the real app, and
tokens for each role. Alice has two accounts, Bob one; an operator and an auditor exist only as tokens."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from bank_pipeline.api.app import create_app
from bank_pipeline.api.identity import Identity
from bank_pipeline.api.tokens import mint_token
from bank_pipeline.domain import commands as c
from bank_pipeline.projections.catching_up import catch_up_with_committed_events
from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings

SIGNING_KEY = "test-only-signing-key-0123456789abcdef-0123456789"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ALICE, BOB = "cust-alice", "cust-bob"
ALICE_CURRENT, ALICE_SAVINGS, BOB_CURRENT = "DE89370400440532013000", "DE89370400440532013001", "DE02120300000000202051"


@dataclass
class Bank:
    client: TestClient
    runtime: Runtime

    def headers(self, role: str = "customer", customer_id: str | None = ALICE, subject: str | None = None) -> dict:
        who = Identity(subject or customer_id or f"{role}-1", role, customer_id if role == "customer" else None)
        return {"Authorization": f"Bearer {mint_token(who, key=SIGNING_KEY)}"}

    def project(self) -> None:
        """Bring the read model up to every committed event (what `bank-pipeline worker` does continuously)."""
        assert catch_up_with_committed_events(self.runtime.pool).complete


def post(bank: Bank, path: str, body: dict, key: str | None, *, role: str = "customer", customer: str | None = ALICE,
         subject: str | None = None, extra_headers: dict | None = None):  # fmt: skip
    """A command request: JSON body, the caller's token, and the Idempotency-Key when `key` is given."""
    headers = {**bank.headers(role, customer, subject), **(extra_headers or {})}
    if key is not None:
        headers["Idempotency-Key"] = key
    return bank.client.post(path, json=body, headers=headers)


def assert_problem(response, status: int, code: str) -> dict:
    """The response is an RFC 9457 problem with this status and code; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    return problem


def build_small_bank(runtime: Runtime) -> None:
    handler = runtime.handler

    def at(minutes: float, command) -> None:
        handler.execute(command, occurred_at=START + timedelta(minutes=minutes), actor="test-setup")

    for customer, name in ((ALICE, "Alice Liddell"), (BOB, "Bob Builder")):
        at(0, c.RegisterCustomer(customer, name, f"{customer}@example.org", "1 Main St"))
        at(0, c.ChangeKycStatus(customer, "verified"))
    at(1, c.OpenAccount(ALICE_CURRENT, ALICE, "EUR", "current", 0))
    at(1, c.OpenAccount(ALICE_SAVINGS, ALICE, "EUR", "savings", 0))
    at(1, c.OpenAccount(BOB_CURRENT, BOB, "EUR", "current", 0))
    at(2, c.CreditAccount(ALICE_CURRENT, 500_000, "EUR", "salary-1", "Employer GmbH", "salary"))
    at(2, c.CreditAccount(BOB_CURRENT, 100_000, "EUR", "salary-2", "Builder Ltd", "salary"))
    for n in range(30):  # a history long enough to page through
        at(10 + n, c.TransferInternal(f"t-{n}", ALICE_CURRENT, BOB_CURRENT, 1_000 + n, "EUR", f"payment {n}"))


@pytest.fixture
def bank(fresh_database_url, monkeypatch) -> Iterator[Bank]:
    monkeypatch.setenv("BANK_PIPELINE_API_SIGNING_KEY", SIGNING_KEY)
    get_settings.cache_clear()
    runtime = Runtime.open(url=fresh_database_url, pool_size=4)
    try:
        build_small_bank(runtime)
        assert catch_up_with_committed_events(runtime.pool).complete
        with TestClient(create_app(lambda: Runtime.open(url=fresh_database_url, pool_size=4))) as client:
            yield Bank(client, runtime)
    finally:
        runtime.close()
        get_settings.cache_clear()
