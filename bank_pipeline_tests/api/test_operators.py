"""Operators and auditors: the audit trail of any stream with who caused each event and its hash chain, the fraud
alerts with their verdicts, and freezing accounts, which only operators may do."""

from datetime import UTC, datetime, timedelta

from bank_pipeline.archive.months import add_months, month_of
from bank_pipeline.archive.retire import archive_month
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.domain import commands as c
from bank_pipeline.fraud.detector import FraudDetector
from bank_pipeline_tests.api.conftest import ALICE, ALICE_CURRENT, BOB, BOB_CURRENT, START, Bank, assert_problem, post

OPERATOR = {"role": "operator", "customer": None, "subject": "olga"}
AUDITOR = {"role": "auditor", "customer": None, "subject": "audrey"}
CUSTOMER = {"role": "customer", "customer": ALICE}


def get(bank: Bank, path: str, *, role: str, customer: str | None, subject: str | None = None, **params):
    return bank.client.get(path, params=params, headers=bank.headers(role, customer, subject))


def test_customers_may_not_read_the_audit_trail_or_alerts_nor_freeze(bank: Bank) -> None:
    assert_problem(get(bank, f"/v1/streams/account-{ALICE_CURRENT}/events", **CUSTOMER), 403, "forbidden")
    assert_problem(get(bank, "/v1/fraud/alerts", **CUSTOMER), 403, "forbidden")
    freeze = post(bank, f"/v1/accounts/{BOB_CURRENT}/freeze", {"reason": "x"}, "f", **CUSTOMER)
    assert_problem(freeze, 403, "forbidden")
    assert bank.client.get("/v1/fraud/alerts").status_code == 401


def test_an_auditor_reads_a_stream_page_by_page_with_actors_and_an_unbroken_hash_chain(bank: Bank) -> None:
    sent = bank.client.post(
        "/v1/transfers",
        json={"from_account_id": ALICE_CURRENT, "to_account_id": BOB_CURRENT, "amount": 99, "currency": "EUR"},
        headers={**bank.headers("customer", ALICE), "Idempotency-Key": "audited"},
    )
    assert sent.status_code == 201

    events, after_version = [], 0
    while after_version is not None:
        page = get(bank, f"/v1/streams/account-{ALICE_CURRENT}/events", **AUDITOR, after_version=after_version,
                   limit=10).json()  # fmt: skip
        assert len(page["events"]) <= 10 and page["version"] == 33
        events += page["events"]
        after_version = page["next_after_version"]

    assert [e["stream_version"] for e in events] == list(range(1, 34))
    assert all(later["previous_hash"] == earlier["hash"] for earlier, later in zip(events, events[1:], strict=False))
    opened, newest = events[0], events[-1]
    assert opened["event_type"] == "AccountOpened" and opened["metadata"]["actor"] == "test-setup"
    assert newest["event_type"] == "AccountDebited" and newest["payload"]["amount"] == 99
    assert newest["metadata"]["actor"] == "api:customer:cust-alice"
    assert newest["metadata"]["command_id"] == sent.json()["command_id"]
    assert newest["position"] == f"{newest['transaction_id']}:{newest['global_position']}"
    assert {"occurred_at", "recorded_at", "schema_version", "event_id"} <= newest.keys()


def test_stream_reads_name_unknown_streams_and_bad_pages(bank: Bank) -> None:
    assert_problem(get(bank, "/v1/streams/account-NOPE/events", **OPERATOR), 404, "not_found")
    end = get(bank, f"/v1/streams/customer-{BOB}/events", **OPERATOR, after_version=99).json()
    assert (end["events"], end["next_after_version"], end["version"]) == ([], None, 2)
    for params in ({"limit": 0}, {"limit": 1001}, {"after_version": -1}):
        problem = assert_problem(get(bank, f"/v1/streams/customer-{BOB}/events", **OPERATOR, **params), 422,
                                 "invalid_request")  # fmt: skip
        assert problem["errors"][0]["path"] == f"/query/{next(iter(params))}"


def test_an_operator_freezes_an_account_and_money_stops_moving_until_it_is_unfrozen(bank: Bank) -> None:
    bob = {"role": "customer", "customer": BOB}
    bobs_transfer = {"from_account_id": BOB_CURRENT, "to_account_id": ALICE_CURRENT, "amount": 10, "currency": "EUR"}

    frozen = post(bank, f"/v1/accounts/{BOB_CURRENT}/freeze", {"reason": "suspected mule"}, "freeze-1", **OPERATOR)
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["account_id"] == BOB_CURRENT and frozen.json()["replayed"] is False
    again = post(bank, f"/v1/accounts/{BOB_CURRENT}/freeze", {"reason": "suspected mule"}, "freeze-1", **OPERATOR)
    assert again.json() == {**frozen.json(), "replayed": True}
    assert_problem(post(bank, f"/v1/accounts/{BOB_CURRENT}/freeze", {"reason": "again"}, "freeze-2", **OPERATOR),
                   409, "account_frozen")  # fmt: skip
    assert_problem(post(bank, "/v1/transfers", bobs_transfer, "t-1", **bob), 409, "account_frozen")
    event = bank.runtime.store.read_stream(f"account-{BOB_CURRENT}")[-1]
    assert (event.event_type, event.payload["reason"]) == ("AccountFrozen", "suspected mule")
    assert event.metadata["actor"] == "api:operator:olga"

    unfrozen = post(bank, f"/v1/accounts/{BOB_CURRENT}/unfreeze", {"reason": "cleared"}, "unfreeze-1", **OPERATOR)
    assert unfrozen.status_code == 200, unfrozen.text
    assert post(bank, "/v1/transfers", bobs_transfer, "t-2", **bob).status_code == 201
    assert_problem(post(bank, f"/v1/accounts/{BOB_CURRENT}/unfreeze", {"reason": "x"}, "unfreeze-2", **OPERATOR),
                   409, "account_not_frozen")  # fmt: skip


def test_only_operators_freeze_and_only_with_a_key_a_reason_and_an_account(bank: Bank) -> None:
    path = f"/v1/accounts/{BOB_CURRENT}/freeze"
    assert_problem(post(bank, path, {"reason": "curious"}, "f-1", **AUDITOR), 403, "forbidden")
    missing_key = assert_problem(post(bank, path, {"reason": "x"}, None, **OPERATOR), 422, "invalid_request")
    assert [e["path"] for e in missing_key["errors"]] == ["/header/idempotency-key"]
    blank = assert_problem(post(bank, path, {"reason": " "}, "f-2", **OPERATOR), 422, "invalid_request")
    assert [e["path"] for e in blank["errors"]] == ["/body/reason"]
    unknown = post(bank, "/v1/accounts/DE00000000000000000000/freeze", {"reason": "x"}, "f-3", **OPERATOR)
    assert_problem(unknown, 404, "unknown_account")
    assert bank.runtime.store.read_stream(f"account-{BOB_CURRENT}")[-1].event_type != "AccountFrozen"


def make_card_testing_burst(bank: Bank) -> None:
    """Many small card payments within minutes on an account that never paid by card: what card_testing flags."""

    def at(minutes: float, command) -> None:
        bank.runtime.handler.execute(command, occurred_at=START + timedelta(minutes=minutes), actor="test-setup")

    at(1, c.OpenAccount("tested-acct", ALICE, "EUR", "current", 0))
    at(2, c.CreditAccount("tested-acct", 50_000, "EUR", "salary-9", "Employer", "salary"))
    for n in range(12):
        at(60 + n * 0.5, c.DebitAccount("tested-acct", 50 + n, "EUR", f"card-{n}", f"Web shop {n}", "card"))


def test_alerts_come_newest_first_or_after_a_cursor_with_their_evidence_and_verdict(bank: Bank) -> None:
    assert get(bank, "/v1/fraud/alerts", **AUDITOR).json() == []

    make_card_testing_burst(bank)
    with bank.runtime.pool.connection() as conn:
        FraudDetector().catch_up(conn)
        first_id = conn.execute("SELECT min(alert_id) FROM fraud.alerts WHERE account_id = 'tested-acct'").fetchone()[0]
        conn.execute(
            "INSERT INTO fraud.alert_reviews (alert_id, verdict, reviewed_by) VALUES (%s, 'fraud', 'ivy')", (first_id,)
        )

    newest_first = get(bank, "/v1/fraud/alerts", **AUDITOR).json()
    ids = [alert["alert_id"] for alert in newest_first]
    assert ids == sorted(ids, reverse=True) and first_id in ids
    testing = get(bank, "/v1/fraud/alerts", **OPERATOR, account_id="tested-acct").json()
    assert testing and {alert["account_id"] for alert in testing} == {"tested-acct"}
    assert "card_testing" in {alert["rule"] for alert in testing}
    reviewed = next(alert for alert in testing if alert["alert_id"] == first_id)
    assert (reviewed["verdict"], reviewed["reviewed_by"]) == ("fraud", "ivy")
    assert reviewed["severity"] in ("low", "medium", "high") and 0 <= reviewed["score"] <= 1
    assert isinstance(reviewed["evidence"], dict) and reviewed["evidence"]
    assert reviewed["position"] == f"{reviewed['transaction_id']}:{reviewed['global_position']}"
    assert {"occurred_at", "detected_at", "action"} <= reviewed.keys()

    following = get(bank, "/v1/fraud/alerts", **AUDITOR, after=first_id, limit=2).json()
    assert [alert["alert_id"] for alert in following] == sorted(i for i in ids if i > first_id)[:2]
    assert get(bank, "/v1/fraud/alerts", **AUDITOR, account_id="nobody").json() == []
    assert_problem(get(bank, "/v1/fraud/alerts", **AUDITOR, limit=0), 422, "invalid_request")


def test_the_audit_trail_reads_through_the_archive_as_if_nothing_moved(bank: Bank, tmp_path) -> None:
    def trail() -> list[dict]:
        events, after_version = [], 0
        while after_version is not None:
            page = get(bank, f"/v1/streams/account-{ALICE_CURRENT}/events", **AUDITOR, after_version=after_version,
                       limit=7).json()  # fmt: skip
            events += page["events"]
            after_version = page["next_after_version"]
        return events

    before = trail()
    this_month = month_of(datetime.now(UTC))
    later = datetime.combine(add_months(this_month, 15), datetime.min.time(), UTC) + timedelta(days=1)
    with bank.runtime.pool.connection() as conn:
        archive_month(conn, ArchiveStore(str(tmp_path / "archive")), this_month, now=later, hot_months=13)
        conn.execute("SELECT event_store.ensure_partitions()")
    bank.runtime.handler.execute(c.CreditAccount(ALICE_CURRENT, 7, "EUR", "after-archive"))  # a hot event after them

    after = trail()
    assert after[: len(before)] == before
    assert [e["stream_version"] for e in after] == list(range(1, len(before) + 2))
    assert after[-1]["previous_hash"] == before[-1]["hash"] and after[-1]["payload"]["transfer_id"] == "after-archive"
