"""The command endpoints against the real app and database: idempotency keys scoped to their caller, the caller as
actor of every event, customers confined to their own accounts, refusals as problem documents, and money that
neither doubles under concurrent retries nor overdraws under concurrent transfers."""

from concurrent.futures import ThreadPoolExecutor

import schwifty

from bank_pipeline.domain.streams import account_stream
from bank_pipeline_tests.api.conftest import (
    ALICE,
    ALICE_CURRENT,
    ALICE_SAVINGS,
    BOB,
    BOB_CURRENT,
    Bank,
    assert_problem,
    post,
)

ALICE_OPENING_BALANCE = 500_000 - sum(1_000 + n for n in range(30))
FRENCH_IBAN = "FR14 2004 1010 0505 0001 3M02 606"


def transfer(amount: int = 2_500, source: str = ALICE_CURRENT, target: str = BOB_CURRENT, **fields) -> dict:
    return {"from_account_id": source, "to_account_id": target, "amount": amount, "currency": "EUR", **fields}


def balances(bank: Bank) -> dict[str, tuple[int, int]]:
    """(ledger, available) balance of every account, once the read model has caught up."""
    bank.project()
    with bank.runtime.pool.connection() as conn:
        rows = conn.execute("SELECT account_id, ledger_balance, available_balance FROM projections.account_balances")
        return {account: (ledger, available) for account, ledger, available in rows}


def events_of(bank: Bank, account_id: str) -> list:
    return bank.runtime.store.read_stream(account_stream(account_id))


# Opening accounts


def test_a_customer_opens_an_account_with_an_iban_of_the_bank_and_a_retry_gets_the_same_one(bank: Bank) -> None:
    first = post(bank, "/v1/accounts", {"currency": "EUR", "product": "savings"}, "open-1")

    assert first.status_code == 201, first.text
    opened = first.json()
    iban = schwifty.IBAN(opened["account_id"])
    assert (iban.country_code, iban.bank_code, iban.bic) == ("DE", "37040044", "COBADEFFXXX")
    assert first.headers["location"] == f"/v1/accounts/{opened['account_id']}"
    assert opened["customer_id"] == ALICE and opened["replayed"] is False
    transaction_id, position = map(int, opened["position"].split(":"))
    assert position == opened["global_position"] and transaction_id > 0

    again = post(bank, "/v1/accounts", {"currency": "EUR", "product": "savings"}, "open-1")
    assert again.status_code == 200
    assert again.json() == {**opened, "replayed": True}
    assert again.headers["location"] == first.headers["location"]
    [event] = events_of(bank, opened["account_id"])
    assert event.event_type == "AccountOpened" and event.payload["customer_id"] == ALICE
    assert event.metadata["actor"] == "api:customer:cust-alice"
    assert event.metadata["command_id"] == opened["command_id"]


def test_a_key_reused_for_another_request_is_a_conflict_and_keys_are_per_caller(bank: Bank) -> None:
    assert post(bank, "/v1/accounts", {"currency": "EUR"}, "same-key").status_code == 201

    assert_problem(post(bank, "/v1/accounts", {"currency": "USD"}, "same-key"), 409, "idempotency_conflict")
    assert_problem(post(bank, "/v1/transfers", transfer(), "same-key"), 409, "idempotency_conflict")
    bobs = post(bank, "/v1/accounts", {"currency": "USD"}, "same-key", customer=BOB)
    assert bobs.status_code == 201 and bobs.json()["customer_id"] == BOB


def test_every_command_needs_an_idempotency_key(bank: Bank) -> None:
    for path, body in (("/v1/accounts", {"currency": "EUR"}), ("/v1/transfers", transfer())):
        problem = assert_problem(post(bank, path, body, None), 422, "invalid_request")
        assert [e["path"] for e in problem["errors"]] == ["/header/idempotency-key"]
    assert_problem(post(bank, "/v1/accounts", {"currency": "EUR"}, "x" * 201), 422, "invalid_request")


def test_operators_open_for_any_customer_auditors_for_none_and_customers_for_themselves_only(bank: Bank) -> None:
    by_operator = post(bank, "/v1/accounts", {"customer_id": BOB, "currency": "EUR", "overdraft_limit": 10_000}, "o-1",
                       role="operator", customer=None, subject="olga")  # fmt: skip
    assert by_operator.status_code == 201 and by_operator.json()["customer_id"] == BOB
    [event] = events_of(bank, by_operator.json()["account_id"])
    assert event.metadata["actor"] == "api:operator:olga" and event.payload["overdraft_limit"] == 10_000

    problem = assert_problem(post(bank, "/v1/accounts", {"currency": "EUR"}, "o-2", role="operator", customer=None),
                             422, "invalid_request")  # fmt: skip
    assert problem["errors"][0]["path"] == "/body/customer_id"
    unknown = post(bank, "/v1/accounts", {"customer_id": "nobody", "currency": "EUR"}, "o-3", role="operator",
                   customer=None)  # fmt: skip
    assert_problem(unknown, 404, "unknown_customer")
    assert_problem(post(bank, "/v1/accounts", {"customer_id": BOB, "currency": "EUR"}, "a-1", role="auditor",
                        customer=None), 403, "forbidden")  # fmt: skip
    assert_problem(post(bank, "/v1/accounts", {"customer_id": BOB, "currency": "EUR"}, "c-1"), 404, "not_found")
    assert_problem(post(bank, "/v1/accounts", {"currency": "EUR", "overdraft_limit": 1}, "c-2"), 403, "forbidden")


# Transfers inside the bank


def test_a_transfer_moves_the_money_once_and_records_who_asked(bank: Bank) -> None:
    before = balances(bank)
    response = post(bank, "/v1/transfers", transfer(2_500, reference="rent"), "pay-bob",
                    extra_headers={"X-Request-Id": "req-123"})  # fmt: skip
    assert response.status_code == 201, response.text
    accepted = response.json()
    assert accepted["transfer_id"].startswith("api-") and accepted["replayed"] is False
    assert post(bank, "/v1/transfers", transfer(2_500, reference="rent"), "pay-bob").json() == {
        **accepted,
        "replayed": True,
    }

    after = balances(bank)
    assert after[ALICE_CURRENT][0] == before[ALICE_CURRENT][0] - 2_500
    assert after[BOB_CURRENT][0] == before[BOB_CURRENT][0] + 2_500
    debit = events_of(bank, ALICE_CURRENT)[-1]
    assert (debit.event_type, debit.payload["transfer_id"]) == ("AccountDebited", accepted["transfer_id"])
    assert debit.global_position == accepted["global_position"] - 1  # the credit to Bob comes last
    assert debit.metadata["actor"] == "api:customer:cust-alice"
    assert debit.metadata["correlation_id"] == "req-123"
    assert debit.metadata["command_id"] == accepted["command_id"]


def test_a_customer_may_send_to_anyone_but_only_from_their_own_accounts(bank: Bank) -> None:
    assert post(bank, "/v1/transfers", transfer(100, ALICE_CURRENT, ALICE_SAVINGS), "own").status_code == 201
    from_bobs = post(bank, "/v1/transfers", transfer(100, BOB_CURRENT, ALICE_CURRENT), "steal")
    from_nowhere = post(bank, "/v1/transfers", transfer(100, "DE00000000000000000000", ALICE_CURRENT), "nowhere")

    stolen, missing = assert_problem(from_bobs, 404, "not_found"), assert_problem(from_nowhere, 404, "not_found")
    assert stolen["detail"].replace(BOB_CURRENT, "X") == missing["detail"].replace("DE00000000000000000000", "X")
    assert stolen.keys() == missing.keys()
    by_operator = post(bank, "/v1/transfers", transfer(100, BOB_CURRENT, ALICE_CURRENT), "op", role="operator",
                       customer=None)  # fmt: skip
    assert by_operator.status_code == 201


def test_a_refused_payee_tells_the_customer_nothing_about_the_account(bank: Bank) -> None:
    """Unknown, frozen, closed or in another currency: one answer, so a sender cannot probe another customer's
    account (e.g. learn that a mule account was frozen)."""
    nowhere = post(bank, "/v1/transfers", transfer(100, target="DE00000000000000000000"), "to-nowhere")
    operator = bank.headers("operator", None, subject="ops-1")
    frozen = bank.client.post(
        f"/v1/accounts/{BOB_CURRENT}/freeze", json={"reason": "suspected mule"},
        headers={**operator, "Idempotency-Key": "freeze-bob"},
    )  # fmt: skip
    assert frozen.status_code == 200, frozen.text
    to_frozen = post(bank, "/v1/transfers", transfer(100, target=BOB_CURRENT), "to-frozen")
    in_dollars = post(bank, "/v1/transfers", {**transfer(100, target=ALICE_SAVINGS), "currency": "USD"}, "usd")
    answers = [assert_problem(r, 422, "payee_refused") for r in (nowhere, to_frozen)]
    assert answers[0] | {"instance": None} == answers[1] | {"instance": None}
    assert BOB_CURRENT not in to_frozen.text and "frozen" not in to_frozen.text
    # the caller's own accounts are not "payees": refusals about the sending account keep their code
    assert in_dollars.status_code in (409, 422) and in_dollars.json()["code"] in ("currency_mismatch", "payee_refused")
    by_operator = post(bank, "/v1/transfers", transfer(100, target=BOB_CURRENT), "op-to-frozen", role="operator",
                       customer=None)  # fmt: skip
    assert_problem(by_operator, 409, "account_frozen")  # staff see the reason


def test_refusals_of_the_domain_are_problems_with_their_code(bank: Bank) -> None:
    assert_problem(post(bank, "/v1/transfers", transfer(10_000_000), "too-much"), 409, "insufficient_funds")
    assert_problem(post(bank, "/v1/transfers", transfer(target=ALICE_CURRENT), "self"), 422, "same_account_transfer")
    assert_problem(post(bank, "/v1/transfers", {**transfer(), "currency": "USD"}, "usd"), 422, "currency_mismatch")


INVALID_TRANSFERS = [
    ({"amount": 10.5}, "/body/amount"),
    ({"amount": 10.0}, "/body/amount"),
    ({"amount": "100"}, "/body/amount"),
    ({"amount": True}, "/body/amount"),
    ({"amount": -5}, "/body/amount"),
    ({"amount": 0}, "/body/amount"),
    ({"amount": 10**16}, "/body/amount"),
    ({"currency": "XYZ"}, "/body/currency"),
    ({"from_account_id": "not an id"}, "/body/from_account_id"),
    ({"reference": "nul\x00byte"}, "/body/reference"),
    ({"memo": "unknown field"}, "/body/memo"),
]


def test_invalid_transfers_are_refused_naming_the_field(bank: Bank) -> None:
    for change, path in INVALID_TRANSFERS:
        response = post(bank, "/v1/transfers", {**transfer(), **change}, "bad")
        problem = assert_problem(response, 422, "invalid_request")
        assert [e["path"] for e in problem["errors"]] == [path], change


def test_many_retries_at_once_of_one_transfer_apply_it_once(bank: Bank) -> None:
    before = balances(bank)
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: post(bank, "/v1/transfers", transfer(777), "once"), range(20)))

    assert sorted(r.status_code for r in responses) == [200] * 19 + [201], [r.text for r in responses]
    assert len({r.json()["command_id"] for r in responses}) == 1
    assert len({r.json()["position"] for r in responses}) == 1
    [transfer_id] = {r.json()["transfer_id"] for r in responses}
    debits = [e for e in events_of(bank, ALICE_CURRENT) if e.payload.get("transfer_id") == transfer_id]
    assert len(debits) == 1
    assert balances(bank)[ALICE_CURRENT][0] == before[ALICE_CURRENT][0] - 777


def test_concurrent_transfers_from_one_account_never_overdraw_it(bank: Bank) -> None:
    before = balances(bank)
    amount = 30_000  # 20 of them are more than Alice has: some must be refused

    def send(n: int):
        return post(bank, "/v1/transfers", transfer(amount), f"burst-{n}")

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(send, range(20)))

    applied = [r for r in responses if r.status_code == 201]
    refused = [r.json()["code"] for r in responses if r.status_code != 201]
    assert set(refused) <= {"insufficient_funds", "concurrent_change"}, [r.text for r in responses]
    # The handler retries a lost race a few times, then answers 409 concurrent_change: also never an overdraft.
    assert len(applied) <= ALICE_OPENING_BALANCE // amount and len(applied) + len(refused) == 20
    after = balances(bank)
    assert after[ALICE_CURRENT][0] == before[ALICE_CURRENT][0] - amount * len(applied) >= 0
    assert sum(ledger for ledger, _ in after.values()) == sum(ledger for ledger, _ in before.values())


# Transfers to other banks


def test_an_external_transfer_holds_the_money_and_a_later_retry_replays_it(bank: Bank) -> None:
    body = {"from_account_id": ALICE_CURRENT, "amount": 12_345, "currency": "EUR", "creditor_iban": FRENCH_IBAN,
            "creditor_name": "Zoé Martin", "reference": "invoice 7"}  # fmt: skip
    first = post(bank, "/v1/external-transfers", body, "sepa-1")
    assert first.status_code == 201, first.text
    # A retry comes later: its hold expiry from the clock differs, yet it is the same request.
    again = post(bank, "/v1/external-transfers", body, "sepa-1")
    assert again.status_code == 200 and again.json() == {**first.json(), "replayed": True}
    changed = post(bank, "/v1/external-transfers", {**body, "amount": 12_346}, "sepa-1")
    assert_problem(changed, 409, "idempotency_conflict")

    transfer_id = first.json()["transfer_id"]
    [requested] = bank.runtime.store.read_stream(f"transfer-{transfer_id}")
    assert requested.payload["creditor_iban"] == FRENCH_IBAN.replace(" ", "")
    assert requested.metadata["actor"] == "api:customer:cust-alice"
    ledger, available = balances(bank)[ALICE_CURRENT]
    assert ledger - available == 12_345


INVALID_EXTERNAL_TRANSFERS = [
    ({"creditor_iban": "DE02120300000000202052"}, "/body/creditor_iban"),  # a wrong check digit
    ({"creditor_iban": "not an iban"}, "/body/creditor_iban"),
    ({"creditor_iban": "XX00123"}, "/body/creditor_iban"),
    ({"creditor_name": "   "}, "/body/creditor_name"),
    ({"creditor_name": None}, "/body/creditor_name"),
    ({"amount": 1.5}, "/body/amount"),
]


def test_external_transfers_need_a_valid_iban_and_name(bank: Bank) -> None:
    body = {"from_account_id": ALICE_CURRENT, "amount": 100, "currency": "EUR", "creditor_iban": BOB_CURRENT,
            "creditor_name": "Bob"}  # fmt: skip
    for change, path in INVALID_EXTERNAL_TRANSFERS:
        problem = assert_problem(
            post(bank, "/v1/external-transfers", {**body, **change}, "sepa"), 422, "invalid_request"
        )
        assert [e["path"] for e in problem["errors"]] == [path], change
    assert post(bank, "/v1/external-transfers", body, "sepa").status_code == 201


def test_external_transfers_from_another_customers_account_are_not_found(bank: Bank) -> None:
    body = {"from_account_id": BOB_CURRENT, "amount": 100, "currency": "EUR", "creditor_iban": FRENCH_IBAN,
            "creditor_name": "Zoé"}  # fmt: skip
    assert_problem(post(bank, "/v1/external-transfers", body, "sepa"), 404, "not_found")
    assert post(bank, "/v1/external-transfers", body, "sepa", customer=BOB).status_code == 201
