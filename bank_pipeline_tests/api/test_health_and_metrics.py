"""The probes, the Prometheus metrics and the request ids, against a real PostgreSQL (and one that is not there)."""

import math
import re
import time
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bank_pipeline.api.app import create_app
from bank_pipeline.api.identity import Identity
from bank_pipeline.api.problems import MEDIA_TYPE
from bank_pipeline.api.tokens import mint_token
from bank_pipeline.domain import commands as c
from bank_pipeline.fraud.detector import FraudDetector
from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings
from bank_pipeline_tests.api.conftest import ALICE_CURRENT, BOB_CURRENT, SIGNING_KEY, START

NOWHERE = "postgresql://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1: connections are refused


def samples(exposition: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(exposition: str, name: str, **labels: str) -> float:
    return samples(exposition)[(name, frozenset(labels.items()))]


def is_problem(response, status: int) -> bool:
    body = response.json()
    return (
        response.status_code == status
        and response.headers["content-type"].startswith(MEDIA_TYPE)
        and body["status"] == status
        and bool(body["title"])
    )


def append_without_projecting(bank, reference: str) -> None:
    bank.runtime.handler.execute(
        c.CreditAccount(BOB_CURRENT, 1_00, "EUR", reference, "Someone", "late"),
        occurred_at=START + timedelta(hours=2),
        actor="test",
    )


@pytest.fixture
def no_lag_allowed(monkeypatch):
    monkeypatch.setenv("BANK_PIPELINE_MAX_PROJECTION_LAG_SECONDS", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_liveness_needs_no_token(bank):
    response = bank.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert uuid.UUID(response.headers["X-Request-Id"]).version == 4


def test_a_sane_request_id_is_echoed_and_anything_else_replaced(bank):
    for sane in ("trace-42.a:b_c", "a b/c", "x" * 200):
        assert bank.client.get("/healthz", headers={"X-Request-Id": sane}).headers["X-Request-Id"] == sane
    for unsafe in ("x" * 201, "tab\tinside", "caf\u00e9".encode("latin-1"), ""):
        replaced = bank.client.get("/healthz", headers={"X-Request-Id": unsafe})
        assert uuid.UUID(replaced.headers["X-Request-Id"]).version == 4
    errors_too = bank.client.get("/v1/no-such-thing", headers=bank.headers())
    assert errors_too.status_code == 404 and "X-Request-Id" in errors_too.headers


def test_ready_when_the_read_model_has_caught_up(bank):
    response = bank.client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready" and body["database"] == "ok"
    assert body["projection_lag_seconds"] == 0 and body["projection_lag_events"] == 0
    assert body["max_projection_lag_seconds"] == get_settings().max_projection_lag_seconds
    assert re.fullmatch(r"\d+:\d+", body["checkpoint"])


def test_not_ready_while_the_read_model_lags_more_than_allowed(bank, no_lag_allowed):
    append_without_projecting(bank, "late-1")
    time.sleep(0.3)  # the lag is the real age of the oldest event waiting, not a count
    response = bank.client.get("/readyz")
    assert is_problem(response, 503), response.text
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert body["code"] == "read_model_behind"
    assert body["projection_lag_seconds"] >= 0.3 and body["projection_lag_events"] >= 1
    bank.project()
    assert bank.client.get("/readyz").status_code == 200


def test_a_lag_within_the_allowed_seconds_is_ready(bank):
    append_without_projecting(bank, "late-2")
    response = bank.client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["projection_lag_events"] >= 1
    assert 0 < response.json()["projection_lag_seconds"] < get_settings().max_projection_lag_seconds


def test_metrics_are_for_operators_and_auditors(bank):
    anonymous = bank.client.get("/metrics")
    assert is_problem(anonymous, 401) and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert is_problem(bank.client.get("/metrics", headers={"Authorization": "Bearer not-a-token"}), 401)
    assert is_problem(bank.client.get("/metrics", headers=bank.headers("customer")), 403)
    for role in ("operator", "auditor"):
        response = bank.client.get("/metrics", headers=bank.headers(role))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")


def test_request_latency_is_labelled_by_route_template_never_the_raw_path(bank):
    paths = bank.client.app.openapi()["paths"]
    templated = next((path for path, operations in paths.items() if "{" in path and "get" in operations), None)
    raw_values = []
    if templated is not None:  # e.g. /v1/accounts/{account_id}: ask for two concrete ones
        for concrete in ("RAW-VALUE-ONE", "RAW-VALUE-TWO"):
            raw_values.append(concrete)
            bank.client.get(re.sub(r"\{[^}]+\}", concrete, templated), headers=bank.headers())
    bank.client.get("/healthz")
    bank.client.get("/not/a/route/RAW-VALUE-THREE")
    exposition = bank.client.get("/metrics", headers=bank.headers("operator")).text

    duration = "bank_pipeline_api_request_duration_seconds_count"
    assert value(exposition, duration, method="GET", route="/healthz", status="200") == 1
    assert value(exposition, duration, method="GET", route="unmatched", status="404") == 1
    if templated is not None:
        by_route = [
            count
            for (name, labels), count in samples(exposition).items()
            if name == duration and ("route", templated) in labels
        ]
        assert sum(by_route) == 2
    assert "RAW-VALUE" not in exposition
    assert value(exposition, "bank_pipeline_api_requests_in_flight") == 1  # the scrape itself


def test_metrics_report_the_projection_lag_from_the_database(bank):
    operator = bank.headers("operator")
    caught_up = bank.client.get("/metrics", headers=operator).text
    assert value(caught_up, "bank_pipeline_database_up") == 1
    assert value(caught_up, "bank_pipeline_projection_lag_seconds") == 0
    assert value(caught_up, "bank_pipeline_projection_lag_events") == 0

    append_without_projecting(bank, "late-3")
    append_without_projecting(bank, "late-4")
    time.sleep(0.2)
    behind = bank.client.get("/metrics", headers=operator).text
    assert value(behind, "bank_pipeline_projection_lag_events") == 2
    assert value(behind, "bank_pipeline_projection_lag_seconds") >= 0.2


def test_metrics_report_the_fraud_decision_latency_of_the_last_hour(bank):
    fraud = "bank_pipeline_fraud_decision_latency_seconds"
    before = bank.client.get("/metrics", headers=bank.headers("operator")).text
    assert value(before, fraud + "_count") == 0 and math.isnan(value(before, fraud, quantile="0.5"))

    # Structuring: three credits just under the reporting threshold within a week from several senders; the real
    # detector judges them.
    for n in range(3):
        bank.runtime.handler.execute(
            c.CreditAccount(ALICE_CURRENT, 9_500_00, "EUR", f"cash-{n}", f"Sender {n}", "deposit"),
            occurred_at=START + timedelta(days=1, hours=n),
            actor="test",
        )
    with bank.runtime.pool.connection() as conn:
        alerts = sum(len(batch.alerts) for batch in FraudDetector().catch_up(conn))
    assert alerts >= 1

    after = bank.client.get("/metrics", headers=bank.headers("auditor")).text
    assert value(after, fraud + "_count") == alerts
    p50, p99 = value(after, fraud, quantile="0.5"), value(after, fraud, quantile="0.99")
    assert 0 <= p50 <= p99 < 60
    assert value(after, fraud + "_sum") >= p50


@pytest.fixture
def app_without_database(monkeypatch):
    """The API whose database is gone after it started (Runtime.open would refuse to start without one)."""
    monkeypatch.setenv("BANK_PIPELINE_API_SIGNING_KEY", SIGNING_KEY)
    get_settings.cache_clear()
    with TestClient(create_app(lambda: Runtime(url=NOWHERE, pool_size=2))) as client:
        yield client
    get_settings.cache_clear()


def test_without_a_database_readiness_fails_fast_with_a_problem_and_liveness_holds(app_without_database):
    client = app_without_database
    assert client.get("/healthz").status_code == 200
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 5
    assert is_problem(response, 503), response.text
    assert response.json()["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert "127.0.0.1" not in response.text  # an unauthenticated probe says nothing about where the database is


def test_without_a_database_metrics_still_answer_and_say_so(app_without_database):
    client = app_without_database
    operator = mint_token(Identity("ops", "operator"), key=SIGNING_KEY)
    started = time.monotonic()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {operator}"})
    assert time.monotonic() - started < 5
    assert response.status_code == 200
    assert value(response.text, "bank_pipeline_database_up") == 0
    left_out = {name for name, _ in samples(response.text)} & {
        "bank_pipeline_projection_lag_seconds", "bank_pipeline_projection_lag_events",
        "bank_pipeline_fraud_decision_latency_seconds_count",
    }  # fmt: skip
    assert not left_out  # rather than reported stale


def test_the_openapi_document_declares_the_bearer_token_exactly_where_it_is_demanded(bank):
    document = bank.client.app.openapi()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    declared = demanded = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            response = bank.client.request(method, re.sub(r"\{[^}]+\}", "x", path))  # no token
            says_bearer = operation.get("security") == [{"HTTPBearer": []}]
            assert says_bearer == (response.status_code == 401), (method, path, response.status_code)
            declared += says_bearer
            demanded += response.status_code == 401
    assert declared == demanded >= 15  # every /v1 operation and /metrics; the probes stay open
