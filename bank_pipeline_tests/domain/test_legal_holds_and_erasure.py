"""The domain's rules for legal holds and erasure (pure: no keys, no sealing)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bank_pipeline.domain import commands as c
from bank_pipeline.domain import errors
from bank_pipeline.domain.customer import LegalHold
from bank_pipeline.domain.events import CustomerErased, LegalHoldPlaced, LegalHoldReleased
from bank_pipeline_tests.domain.harness import Bank

SEALED = "pii:v1:AAAA"  # what the application layer stores; the domain only tells it from plain text


def sealed_customer(customer_id: str = "C1") -> Bank:
    bank = Bank()
    bank.execute(c.RegisterCustomer(customer_id, "Ada", "ada@example.com", "1 Main St"))
    # As the application stores them: replace the plain state by a sealed one.
    state = bank.state(f"customer-{customer_id}")
    bank.states[f"customer-{customer_id}"] = replace(state, name=SEALED, email=SEALED, address=SEALED,
                                                     plain_personal_data=False)  # fmt: skip
    return bank


def test_holds_are_tracked_and_block_erasure_until_released() -> None:
    bank = sealed_customer()
    assert bank.execute(c.PlaceLegalHold("C1", "h1", "inquiry", "CASE-1")) == [
        ("customer-C1", LegalHoldPlaced("C1", "h1", None, "inquiry", "CASE-1"))
    ]
    assert bank.state("customer-C1").legal_holds == (LegalHold("h1", None, "inquiry", "CASE-1"),)
    with pytest.raises(errors.LegalHoldApplies):
        bank.decide(c.EraseCustomer("C1", "request"))
    assert bank.execute(c.ReleaseLegalHold("C1", "h1", "closed")) == [
        ("customer-C1", LegalHoldReleased("C1", "h1", "closed"))
    ]
    with pytest.raises(errors.LegalHoldAlreadyExists):  # a released hold's id is not reused
        bank.decide(c.PlaceLegalHold("C1", "h1", "again", "CASE-1"))
    assert bank.execute(c.EraseCustomer("C1", "request")) == [("customer-C1", CustomerErased("C1", "request"))]
    assert bank.state("customer-C1").erased


def test_refusals_have_their_codes() -> None:
    bank = sealed_customer()
    with pytest.raises(errors.UnknownLegalHold):
        bank.decide(c.ReleaseLegalHold("C1", "nope", "x"))
    with pytest.raises(errors.UnknownAccount):
        bank.decide(c.PlaceLegalHold("C1", "h1", "inquiry", "CASE-1", "NO-SUCH-ACCOUNT"))
    with pytest.raises(errors.UnknownCustomer):
        bank.decide(c.EraseCustomer("C2", "request"))
    with pytest.raises(errors.InvalidCommand):
        bank.decide(c.PlaceLegalHold("C1", "h1", " ", "CASE-1"))
    with pytest.raises(errors.InvalidCommand, match="must not start with 'pii:'"):
        bank.decide(c.RegisterCustomer("C3", "pii:v1:forged", "a@b.c", "x"))


def test_plain_personal_data_makes_erasure_refused() -> None:
    bank = Bank()
    bank.execute(c.RegisterCustomer("C1", "Ada", "ada@example.com", "1 Main St"))
    with pytest.raises(errors.PersonalDataNotSealed):
        bank.decide(c.EraseCustomer("C1", "request"))
