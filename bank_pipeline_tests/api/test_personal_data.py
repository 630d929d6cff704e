"""Legal holds and erasure through the API: operators only, problem+json refusals, never ciphertext."""

from __future__ import annotations

from bank_pipeline.domain.personal_data import ERASED_MARKER
from bank_pipeline_tests.api.conftest import ALICE, ALICE_CURRENT, BOB, BOB_CURRENT, assert_problem, post


def _no_ciphertext(response) -> dict | list:
    assert response.status_code in (200, 201), response.text
    assert "pii:" not in response.text
    return response.json()


def test_a_customer_record_and_audit_trail_are_revealed_never_ciphertext(bank):
    customer = _no_ciphertext(bank.client.get(f"/v1/customers/{ALICE}", headers=bank.headers()))
    assert customer["name"] == "Alice Liddell" and customer["erased_at"] is None
    trail = _no_ciphertext(
        bank.client.get(f"/v1/streams/customer-{ALICE}/events", headers=bank.headers("auditor", None))
    )
    assert trail["events"][0]["payload"]["name"] == "Alice Liddell"


def test_erasure_is_refused_under_a_hold_and_erases_everywhere_once_released(bank):
    holds = f"/v1/customers/{ALICE}/legal-holds"
    hold = {"hold_id": "h1", "reason": "fraud inquiry", "case_reference": "CASE-7"}
    assert_problem(post(bank, holds, hold, "k1", role="customer"), 403, "forbidden")
    placed = post(bank, holds, hold, "k1", role="operator", customer=None)
    assert placed.status_code == 201, placed.text
    assert_problem(
        post(bank, holds, {**hold, "hold_id": "h2", "account_id": BOB_CURRENT}, "k2", role="operator", customer=None),
        409, "account_of_another_customer",
    )  # fmt: skip
    erasure = f"/v1/customers/{ALICE}/erasure"
    assert_problem(post(bank, erasure, {"reason": "request"}, "e1", role="operator", customer=None), 409,
                   "legal_hold_applies")  # fmt: skip
    assert_problem(
        post(bank, f"{holds}/nope/release", {"reason": "x"}, "r0", role="operator", customer=None), 404,
        "unknown_legal_hold",
    )  # fmt: skip
    released = post(bank, f"{holds}/h1/release", {"reason": "case closed"}, "r1", role="operator", customer=None)
    assert released.status_code == 200, released.text
    erased = post(bank, erasure, {"reason": "customer request"}, "e2", role="operator", customer=None)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased_now"] is True
    bank.project()
    customer = _no_ciphertext(bank.client.get(f"/v1/customers/{ALICE}", headers=bank.headers("operator", None)))
    assert (customer["name"], customer["email"], customer["address"]) == (ERASED_MARKER,) * 3
    assert customer["erased_at"] is not None
    trail = _no_ciphertext(
        bank.client.get(f"/v1/streams/customer-{ALICE}/events", headers=bank.headers("auditor", None))
    )
    assert trail["events"][0]["payload"]["name"] == ERASED_MARKER
    assert trail["events"][-1]["event_type"] == "CustomerErased"
    statement = bank.client.get(
        f"/v1/accounts/{ALICE_CURRENT}/statement", params={"from": "2026-03-01", "to": "2026-03-31", "format": "csv"},
        headers=bank.headers("operator", None),
    )  # fmt: skip
    assert statement.status_code == 200, statement.text
    assert "Alice" not in statement.text and ERASED_MARKER in statement.text
    listed = _no_ciphertext(bank.client.get(holds, headers=bank.headers("auditor", None)))
    assert [(h["hold_id"], h["released_at"] is not None) for h in listed] == [("h1", True)]
    bob = _no_ciphertext(bank.client.get(f"/v1/customers/{BOB}", headers=bank.headers("operator", None)))
    assert bob["name"] == "Bob Builder"
