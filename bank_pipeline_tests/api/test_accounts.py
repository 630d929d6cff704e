"""The customer-facing read endpoints against a real PostgreSQL: the figures the small bank's set-up wrote, paging,
balances as of any instant, statements in every format, read-your-writes, and who may see what."""

import base64
import csv
import io
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from bank_pipeline.api.app import create_app
from bank_pipeline.api.identity import Identity
from bank_pipeline.api.routes.accounts import BalanceOut, TransactionsPage
from bank_pipeline.api.tokens import mint_token
from bank_pipeline.db.databases import create_database, drop_database
from bank_pipeline.domain import commands as c
from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings
from bank_pipeline_tests.api.conftest import (
    ALICE,
    ALICE_CURRENT,
    ALICE_SAVINGS,
    BOB,
    BOB_CURRENT,
    SIGNING_KEY,
    START,
    Bank,
    build_small_bank,
)
from bank_pipeline_tests.conftest import RUN_ID

TRANSFERRED = [1_000 + n for n in range(30)]  # Alice → Bob, one a minute from START + 10 min
ALICE_BALANCE = 500_000 - sum(TRANSFERRED)
BOB_BALANCE = 100_000 + sum(TRANSFERRED)
ALICE_CURRENT_ENTRIES = 31  # the salary and the 30 transfers
NOBODY, NO_ACCOUNT = "cust-nobody", "DE00000000000000000000"
FORMATS = {"pdf": "application/pdf", "csv": "text/csv", "camt053": "application/xml", "mt940": "text/plain"}


@pytest.fixture(scope="module")
def small_bank(server_url: str, template_database: str) -> Iterator[Bank]:
    """The conftest's `bank`, built once for the tests that only read: building it is most of a test's time. The
    tests that write (read-your-writes) take their own `bank`."""
    name = f"{RUN_ID}_reads_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=template_database)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("BANK_PIPELINE_API_SIGNING_KEY", SIGNING_KEY)
            get_settings.cache_clear()
            with Runtime.open(url=url, pool_size=4) as runtime:
                build_small_bank(runtime)
                reads = Bank(None, runtime)
                reads.project()
                with TestClient(create_app(lambda: Runtime.open(url=url, pool_size=4))) as client:
                    reads.client = client
                    yield reads
    finally:
        get_settings.cache_clear()
        drop_database(server_url, name)


def get(bank, url: str, *, role: str = "customer", as_customer: str | None = ALICE, **params):
    """GET as a customer (Alice unless told), or as staff: `role="operator"` or `"auditor"`."""
    return bank.client.get(url, params=params, headers=bank.headers(role, as_customer if role == "customer" else None))


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    return body


def invalid_paths(response) -> set[str]:
    return {error["path"] for error in problem(response, 422)["errors"]}


def all_entries(bank, account_id: str, limit: int, **params) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        following = {"cursor": cursor} if cursor is not None else {}
        page = ok(get(bank, f"/v1/accounts/{account_id}/transactions", limit=limit, **params, **following))
        pages.append(page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not advance"


# Customers and their accounts


def test_a_customer_reads_their_record(small_bank):
    customer = ok(get(small_bank, f"/v1/customers/{ALICE}"))
    assert customer == {
        "customer_id": ALICE, "name": "Alice Liddell", "email": "cust-alice@example.org", "address": "1 Main St",
        "kyc_status": "verified", "status": "active", "registered_at": "2026-03-02T08:00:00Z", "version": 2,
        "erased_at": None,
    }  # fmt: skip


def test_a_customer_lists_their_accounts_both_ways(small_bank):
    listed = ok(get(small_bank, "/v1/accounts"))
    assert listed == ok(get(small_bank, f"/v1/customers/{ALICE}/accounts"))
    assert listed == ok(get(small_bank, "/v1/accounts", customer_id=ALICE))
    assert listed["customer_id"] == ALICE
    balances = {account["account_id"]: account["ledger_balance"] for account in listed["accounts"]}
    assert balances == {ALICE_CURRENT: ALICE_BALANCE, ALICE_SAVINGS: 0}
    assert [account["product"] for account in listed["accounts"]] == ["current", "savings"]
    assert _is_position(listed["position"])


def test_staff_must_name_the_customer_whose_accounts_they_list(small_bank):
    for role in ("operator", "auditor"):
        assert invalid_paths(get(small_bank, "/v1/accounts", role=role)) == {"/query/customer_id"}
        bobs = ok(get(small_bank, "/v1/accounts", role=role, customer_id=BOB))
        assert [(a["account_id"], a["ledger_balance"]) for a in bobs["accounts"]] == [(BOB_CURRENT, BOB_BALANCE)]


def test_an_account_with_its_balances(small_bank):
    account = ok(get(small_bank, f"/v1/accounts/{ALICE_CURRENT}"))
    position = account.pop("position")
    assert _is_position(position)
    assert account == {
        "account_id": ALICE_CURRENT, "customer_id": ALICE, "currency": "EUR", "product": "current", "status": "open",
        "overdraft_limit": 0, "ledger_balance": ALICE_BALANCE, "held_amount": 0, "available_balance": ALICE_BALANCE,
        "opened_at": "2026-03-02T08:01:00Z", "version": 32,
    }  # fmt: skip


# Balances


def test_the_balance_now_is_what_the_transfers_left(small_bank):
    alice = ok(get(small_bank, f"/v1/accounts/{ALICE_CURRENT}/balance"))
    bob = ok(get(small_bank, f"/v1/accounts/{BOB_CURRENT}/balance", as_customer=BOB))
    assert _figures(alice) == (ALICE_BALANCE, 0, ALICE_BALANCE)
    assert _figures(bob) == (BOB_BALANCE, 0, BOB_BALANCE)
    assert alice["currency"] == bob["currency"] == "EUR"
    assert alice["existed"] and alice["as_of"] is None
    assert alice["position"] == bob["position"] and _is_position(alice["position"])


def test_the_hot_reads_answer_exactly_their_documented_models(small_bank):
    """The balance and history routes write their JSON themselves (orjson; PostgreSQL for the entries), not through
    their pydantic response models: each body must say exactly what the declared model would have written."""
    balance = get(small_bank, f"/v1/accounts/{ALICE_CURRENT}/balance")
    page = get(small_bank, f"/v1/accounts/{ALICE_CURRENT}/transactions", limit=7)
    last_page = get(small_bank, f"/v1/accounts/{ALICE_CURRENT}/transactions", limit=500)
    for response, model in ((balance, BalanceOut), (page, TransactionsPage), (last_page, TransactionsPage)):
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        as_the_model_writes_it = model.model_validate_json(response.content).model_dump_json()
        # every field, in the model's order, every value and every instant's spelling (Z, microseconds or none)
        assert json.dumps(response.json()) == json.dumps(json.loads(as_the_model_writes_it))
    instants = [entry[field] for entry in last_page.json()["entries"] for field in ("occurred_at", "recorded_at")]
    assert any("." in instant for instant in instants) and any("." not in instant for instant in instants)
    assert page.json()["next_cursor"] and last_page.json()["next_cursor"] is None


def _figures(balance: dict) -> tuple[int, int, int]:
    return balance["ledger_balance"], balance["held_amount"], balance["available_balance"]


def test_the_balance_as_of_an_instant_counts_exactly_the_entries_before_it(small_bank):
    def balance_at(account_id: str, instant, as_customer: str = ALICE) -> dict:
        return ok(
            get(small_bank, f"/v1/accounts/{account_id}/balance", as_customer=as_customer, as_of=instant.isoformat())
        )

    before_opening = balance_at(ALICE_CURRENT, START)
    assert (before_opening["existed"], before_opening["ledger_balance"]) == (False, 0)
    for done in (0, 1, 5, 17, 30):  # transfers 0..done-1 have happened (each at START + 10 + n minutes)
        instant = START + timedelta(minutes=10 + done - 1, seconds=30)
        alice, bob = balance_at(ALICE_CURRENT, instant), balance_at(BOB_CURRENT, instant, BOB)
        assert alice["existed"] and alice["ledger_balance"] == 500_000 - sum(TRANSFERRED[:done])
        assert bob["ledger_balance"] == 100_000 + sum(TRANSFERRED[:done])
        assert alice["as_of"] == instant.isoformat().replace("+00:00", "Z")
    exactly_at_the_first_transfer = balance_at(ALICE_CURRENT, START + timedelta(minutes=10))
    assert exactly_at_the_first_transfer["ledger_balance"] == 500_000 - TRANSFERRED[0]
    with_an_offset = ok(get(small_bank, f"/v1/accounts/{ALICE_CURRENT}/balance", as_of="2026-03-02T10:14:30+02:00"))
    assert with_an_offset["ledger_balance"] == 500_000 - sum(TRANSFERRED[:5])


def test_a_hold_lowers_the_available_balance_from_when_it_was_placed(bank):
    placed = bank.runtime.handler.execute(
        c.PlaceHold(ALICE_CURRENT, "card-1", 20_000, "EUR", datetime.now(UTC) + timedelta(days=7), "card"),
        actor="test",
    )
    bank.project()
    url = f"/v1/accounts/{ALICE_CURRENT}/balance"
    now = ok(get(bank, url))
    assert _figures(now) == (ALICE_BALANCE, 20_000, ALICE_BALANCE - 20_000)
    account = ok(get(bank, f"/v1/accounts/{ALICE_CURRENT}"))
    assert (account["held_amount"], account["available_balance"]) == (20_000, ALICE_BALANCE - 20_000)
    assert _as_pair(now["position"]) >= tuple(placed.checkpoint)
    before_the_hold = ok(get(bank, url, as_of=(START + timedelta(hours=1)).isoformat()))
    assert _figures(before_the_hold) == (ALICE_BALANCE, 0, ALICE_BALANCE)
    since_the_hold = ok(get(bank, url, as_of=(datetime.now(UTC) + timedelta(seconds=1)).isoformat()))
    assert _figures(since_the_hold) == (ALICE_BALANCE, 20_000, ALICE_BALANCE - 20_000)


def test_an_instant_without_an_offset_is_invalid(small_bank):
    url = f"/v1/accounts/{ALICE_CURRENT}/balance"
    for as_of in ("2026-03-02T08:14:30", "yesterday", "0001-01-01T00:00:00+05:00"):
        assert invalid_paths(get(small_bank, url, as_of=as_of)) == {"/query/as_of"}


# Transaction history


def test_paging_through_the_history_yields_every_entry_once_newest_first(small_bank):
    pages = all_entries(small_bank, ALICE_CURRENT, limit=7)
    assert [len(page) for page in pages] == [7, 7, 7, 7, 3]
    entries = [entry for page in pages for entry in page]
    assert entries == ok(get(small_bank, f"/v1/accounts/{ALICE_CURRENT}/transactions", limit=500))["entries"]
    assert [entry["stream_version"] for entry in entries] == list(range(32, 1, -1))
    keys = [(entry["occurred_at"], entry["stream_version"]) for entry in entries]
    assert keys == sorted(keys, reverse=True)
    newest, salary = entries[0], entries[-1]
    assert newest == {
        "stream_version": 32, "occurred_at": "2026-03-02T08:39:00Z", "recorded_at": newest["recorded_at"],
        "direction": "debit", "amount": 1_029, "currency": "EUR", "balance_after": ALICE_BALANCE,
        "counterparty": BOB_CURRENT, "reference": "payment 29", "transfer_id": "t-29",
    }  # fmt: skip
    assert (salary["direction"], salary["amount"], salary["balance_after"]) == ("credit", 500_000, 500_000)
    assert [entry["amount"] for entry in entries[:-1]] == TRANSFERRED[::-1]


def test_a_page_size_that_divides_the_history_ends_with_a_null_cursor(small_bank):
    pages = all_entries(small_bank, BOB_CURRENT, limit=31, as_customer=BOB)  # Bob: the salary and 30 transfers in
    assert [len(page) for page in pages] == [31]
    assert sum(entry["amount"] for entry in pages[0]) == BOB_BALANCE


def test_the_history_of_a_date_range(small_bank):
    url = f"/v1/accounts/{ALICE_CURRENT}/transactions"
    that_day = ok(get(small_bank, url, **{"from": "2026-03-02", "to": "2026-03-02", "limit": 500}))
    assert len(that_day["entries"]) == ALICE_CURRENT_ENTRIES and that_day["next_cursor"] is None
    paged = all_entries(small_bank, ALICE_CURRENT, limit=4, **{"from": "2026-03-02", "to": "2026-03-02"})
    assert [entry for page in paged for entry in page] == that_day["entries"]
    assert ok(get(small_bank, url, **{"to": "2026-03-01"})) == {"entries": [], "next_cursor": None}
    assert ok(get(small_bank, url, **{"from": "2026-03-03"})) == {"entries": [], "next_cursor": None}
    assert ok(get(small_bank, f"/v1/accounts/{ALICE_SAVINGS}/transactions")) == {"entries": [], "next_cursor": None}
    assert invalid_paths(get(small_bank, url, **{"from": "2026-03-03", "to": "2026-03-02"})) == {"/query/to"}


def test_a_cursor_works_only_unchanged_and_for_the_query_it_came_from(small_bank):
    url = f"/v1/accounts/{ALICE_CURRENT}/transactions"
    cursor = ok(get(small_bank, url, limit=7))["next_cursor"]
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[3] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    refused = [
        get(small_bank, url, limit=7, cursor=tampered),
        get(small_bank, url, limit=7, cursor=cursor[:-2]),
        get(small_bank, url, limit=7, cursor="not a cursor!"),
        get(small_bank, url, limit=7, cursor=""),
        get(small_bank, url, limit=7, cursor=cursor, **{"from": "2026-03-02"}),  # another range
        get(small_bank, f"/v1/accounts/{ALICE_SAVINGS}/transactions", limit=7, cursor=cursor),  # another account
    ]
    for response in refused:
        assert invalid_paths(response) == {"/query/cursor"}
    assert len(ok(get(small_bank, url, limit=50, cursor=cursor))["entries"]) == ALICE_CURRENT_ENTRIES - 7


def test_history_parameters_are_validated(small_bank):
    url = f"/v1/accounts/{ALICE_CURRENT}/transactions"
    assert invalid_paths(get(small_bank, url, limit=0)) == {"/query/limit"}
    assert invalid_paths(get(small_bank, url, limit=501)) == {"/query/limit"}
    assert invalid_paths(get(small_bank, url, limit="many")) == {"/query/limit"}
    assert invalid_paths(get(small_bank, url, **{"from": "2026-02-30"})) == {"/query/from"}
    assert invalid_paths(get(small_bank, url, **{"to": "9999-12-31"})) == {"/query/to"}
    assert invalid_paths(get(small_bank, url, cursor="x" * 300)) == {"/query/cursor"}
    assert invalid_paths(get(small_bank, "/v1/accounts/bad%20id/transactions")) == {"/path/account_id"}


# Statements


@pytest.mark.parametrize("format_name", FORMATS)
def test_a_statement_in_each_format(small_bank, format_name):
    response = get(
        small_bank, f"/v1/accounts/{ALICE_CURRENT}/statement", **{"from": "2026-03-01", "to": "2026-03-31"},
        format=format_name,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == FORMATS[format_name]
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=") and f"{ALICE_CURRENT}_2026-03" in disposition
    document = response.content
    if format_name == "pdf":
        assert document.startswith(b"%PDF")
        return
    text = document.decode()
    if format_name == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][:5] == ["record", "date", "value_date", "direction", "amount"]
        assert sum(1 for row in rows if row[0] == "entry") == ALICE_CURRENT_ENTRIES
    elif format_name == "camt053":
        root = ElementTree.fromstring(document)
        assert root.tag.endswith("Document") and "camt.053" in root.tag
        assert len([element for element in root.iter() if element.tag.endswith("}Ntry")]) == ALICE_CURRENT_ENTRIES
    assert _euros(ALICE_BALANCE, "," if format_name == "mt940" else ".") in text  # the closing balance


def _euros(minor_units: int, separator: str) -> str:
    return f"{minor_units // 100}{separator}{minor_units % 100:02d}"


def test_statement_parameters_are_validated(small_bank):
    url = f"/v1/accounts/{ALICE_CURRENT}/statement"
    assert invalid_paths(get(small_bank, url, **{"from": "2026-03-31", "to": "2026-03-01"})) == {"/query/to"}
    assert invalid_paths(get(small_bank, url, **{"to": "2026-03-01"})) == {"/query/from"}
    assert invalid_paths(get(small_bank, url, **{"from": "2026-03-01", "to": "2026-03-31", "format": "docx"})) == {
        "/query/format"
    }


# Read your writes


def _credit_alice_without_projecting(bank, amount: int) -> str:
    result = bank.runtime.handler.execute(
        c.CreditAccount(ALICE_CURRENT, amount, "EUR", f"late-{amount}", "Employer GmbH", "bonus"), actor="test"
    )
    return f"{result.checkpoint.transaction_id}:{result.checkpoint.global_position}"


def test_a_read_naming_a_position_waits_until_the_read_model_has_it(bank):
    position = _credit_alice_without_projecting(bank, 7_000)
    url = f"/v1/accounts/{ALICE_CURRENT}/balance"
    assert ok(get(bank, url))["ledger_balance"] == ALICE_BALANCE  # the read model is behind
    projector = threading.Timer(0.3, bank.project)
    projector.start()
    try:
        started = time.monotonic()
        balance = ok(get(bank, url, min_position=position))
        waited = time.monotonic() - started
    finally:
        projector.join()
    assert balance["ledger_balance"] == ALICE_BALANCE + 7_000
    assert waited >= 0.2
    assert _as_pair(balance["position"]) >= _as_pair(position)
    entries = ok(get(bank, f"/v1/accounts/{ALICE_CURRENT}/transactions", limit=1, min_position=position))
    assert entries["entries"][0]["amount"] == 7_000


def test_a_read_naming_a_position_the_read_model_does_not_reach_is_a_503(bank, monkeypatch):
    monkeypatch.setenv("BANK_PIPELINE_API_READ_WAIT_SECONDS", "0.2")
    get_settings.cache_clear()
    position = _credit_alice_without_projecting(bank, 8_000)
    response = get(bank, f"/v1/accounts/{ALICE_CURRENT}/balance", min_position=position)
    assert problem(response, 503)["code"] == "read_model_behind"
    assert int(response.headers["retry-after"]) > 0
    assert invalid_paths(get(bank, f"/v1/accounts/{ALICE_CURRENT}", min_position="12")) == {"/query/min_position"}


def _as_pair(position: str) -> tuple[int, int]:
    transaction_id, global_position = position.split(":")
    return int(transaction_id), int(global_position)


def _is_position(text: str) -> bool:
    return all(part.isdigit() for part in text.split(":")) and text.count(":") == 1


# Who may see what

STATEMENT = {"from": "2026-03-01", "to": "2026-03-31", "format": "csv"}
AS_OF = {"as_of": "2026-03-02T08:30:00Z"}
# (path with {customer} or {account}, query): every read endpoint.
READS = [
    ("/v1/customers/{customer}", {}),
    ("/v1/customers/{customer}/accounts", {}),
    ("/v1/accounts", {"customer_id": "{customer}"}),
    ("/v1/accounts/{account}", {}),
    ("/v1/accounts/{account}/balance", {}),
    ("/v1/accounts/{account}/balance", AS_OF),
    ("/v1/accounts/{account}/transactions", {"limit": 5}),
    ("/v1/accounts/{account}/statement", STATEMENT),
]


def _request(template: tuple[str, dict], customer: str, account: str) -> tuple[str, dict]:
    path, query = template
    params = {
        name: value.format(customer=customer) if isinstance(value, str) else value for name, value in query.items()
    }
    return path.format(customer=customer, account=account), params


def _read(bank, template: tuple[str, dict], customer: str, account: str, **who):
    url, params = _request(template, customer, account)
    return get(bank, url, **who, **params)


@pytest.mark.parametrize("template", READS, ids=[f"{path}{sorted(query)}" for path, query in READS])
def test_another_customers_data_answers_exactly_like_a_nonexistent_id(small_bank, template):
    bobs = problem(_read(small_bank, template, BOB, BOB_CURRENT), 404)
    nobodys = problem(_read(small_bank, template, NOBODY, NO_ACCOUNT), 404)
    del bobs["instance"], nobodys["instance"]
    assert bobs == nobodys
    assert bobs["code"] == "not_found"
    assert _read(small_bank, template, BOB, BOB_CURRENT, as_customer=BOB).status_code == 200  # Bob's own: readable


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_staff_read_any_customers_data(small_bank, role):
    for template in READS:
        response = _read(small_bank, template, BOB, BOB_CURRENT, role=role)
        assert response.status_code == 200, (template, response.text)
    assert ok(get(small_bank, f"/v1/customers/{BOB}", role=role))["name"] == "Bob Builder"
    balance = ok(get(small_bank, f"/v1/accounts/{BOB_CURRENT}/balance", role=role))
    assert balance["ledger_balance"] == BOB_BALANCE
    for template in READS:
        assert problem(_read(small_bank, template, NOBODY, NO_ACCOUNT, role=role), 404)


def _token(identity: Identity, **options) -> dict:
    return {"Authorization": f"Bearer {mint_token(identity, **options)}"}


ALICE_IDENTITY = Identity(ALICE, "customer", ALICE)
BAD_CREDENTIALS = {
    "no token": {},
    "not bearer": {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    "garbage": {"Authorization": "Bearer not.a.jwt"},
    "another key": _token(ALICE_IDENTITY, key="another-signing-key-0123456789abcdef-0123456789"),
    "expired": _token(ALICE_IDENTITY, key=SIGNING_KEY, ttl_seconds=-60),
}


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS, ids=list(BAD_CREDENTIALS))
def test_every_read_needs_a_valid_token(small_bank, credentials):
    for template in READS:
        url, params = _request(template, ALICE, ALICE_CURRENT)
        response = small_bank.client.get(url, params=params, headers=BAD_CREDENTIALS[credentials])
        assert problem(response, 401)["code"] == "unauthenticated"
        assert response.headers["www-authenticate"].startswith("Bearer")
