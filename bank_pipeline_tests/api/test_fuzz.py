"""The whole API fuzzed from its own OpenAPI document (schemathesis): every operation, valid and invalid input, as
Alice (a customer) and as an operator, against a real PostgreSQL holding a small bank.

For every response: never a server error (a 503 is allowed only when a read waited for a position the read model
has not reached: documented, with Retry-After), every 4xx is an RFC 9457 problem document, and what the document
promises (status codes, content types, response schemas) holds. Generic over whatever paths the document has.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import hypothesis.strategies as st
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bank_pipeline.api.app import create_app
from bank_pipeline.api.identity import Identity
from bank_pipeline.api.problems import MEDIA_TYPE
from bank_pipeline.api.tokens import mint_token
from bank_pipeline.db.databases import create_database, drop_database
from bank_pipeline.projections.catching_up import catch_up_with_committed_events
from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings
from bank_pipeline_tests.api.conftest import (
    ALICE,
    ALICE_CURRENT,
    ALICE_SAVINGS,
    BOB,
    BOB_CURRENT,
    SIGNING_KEY,
    build_small_bank,
)
from bank_pipeline_tests.conftest import RUN_ID

# The document FastAPI serves at /openapi.json, built without starting the app (no database needed to collect).
API = schemathesis.openapi.from_dict(create_app().openapi())
API.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])

# Real values mixed into the generated ones (path, query and body fields), so the fuzzer reaches past "not found"
# and "invalid" into the endpoints' real work: reads of real accounts, transfers that go through, freezes.
ACCOUNTS, CUSTOMERS = (ALICE_CURRENT, ALICE_SAVINGS, BOB_CURRENT), (ALICE, BOB)
KNOWN_BY_NAME = {
    "stream_id": (f"account-{ALICE_CURRENT}", f"customer-{ALICE}", f"account-{BOB_CURRENT}"),
    "currency": ("EUR",),  # every account of the small bank is in euros
    "amount": (1, 150, 2_500),
}
PAYEE_IBANS = ("GB82WEST12345698765432", "NL91ABNA0417164300")  # valid check digits, not the bank's


def known_values(name: str) -> tuple:
    if name.endswith("account_id"):
        return ACCOUNTS
    if name.endswith("customer_id"):
        return CUSTOMERS
    if name.endswith("iban"):
        return PAYEE_IBANS
    return KNOWN_BY_NAME.get(name, ())


def _sometimes_known(generated):
    names = [name for name in generated if known_values(name)] if isinstance(generated, dict) else []
    if not names:
        return st.just(generated)
    known = st.fixed_dictionaries({name: st.sampled_from(known_values(name)) for name in names})
    return st.one_of(st.just(generated), known.map(lambda values: {**generated, **values}))


@API.hook
def flatmap_path_parameters(context, path_parameters):
    return _sometimes_known(path_parameters)


@API.hook
def flatmap_query(context, query):
    return _sometimes_known(query)


@API.hook
def flatmap_body(context, body):
    return _sometimes_known(body)


@dataclass
class FuzzedApi:
    app: object
    headers: dict[str, dict[str, str]]  # by role


@pytest.fixture(scope="module")
def fuzzed_api(server_url: str, template_database: str) -> Iterator[FuzzedApi]:
    name = f"{RUN_ID}_fuzz"
    url = create_database(server_url, name, template=template_database, replace=True)
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("BANK_PIPELINE_API_SIGNING_KEY", SIGNING_KEY)
        # A read that names a position no one has written would otherwise wait the full default for it.
        environment.setenv("BANK_PIPELINE_API_READ_WAIT_SECONDS", "0.05")
        get_settings.cache_clear()
        with Runtime.open(url=url, pool_size=2) as runtime:
            build_small_bank(runtime)
            assert catch_up_with_committed_events(runtime.pool).complete
        app = create_app(lambda: Runtime.open(url=url, pool_size=4))
        tokens = {
            "customer": mint_token(Identity(ALICE, "customer", ALICE), key=SIGNING_KEY),
            "operator": mint_token(Identity("fuzzing-operator", "operator"), key=SIGNING_KEY),
        }
        try:
            yield FuzzedApi(app, {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()})
        finally:
            shutdown_lifespans()  # schemathesis keeps the app's lifespan (and so its pool) running until told
            get_settings.cache_clear()
            drop_database(server_url, name)


def no_server_error(ctx, response, case) -> None:
    """No 5xx, except a read-your-writes wait that ran out (503 read_model_behind with Retry-After)."""
    if response.status_code < 500:
        return
    body = _json(response)
    waited = response.status_code == 503 and body.get("code") == "read_model_behind"
    assert waited and _header(response, "Retry-After"), f"{response.status_code} server error: {response.text[:500]}"


def errors_are_problem_documents(ctx, response, case) -> None:
    if response.status_code < 400:
        return
    content_type = _header(response, "Content-Type")
    assert content_type.startswith(MEDIA_TYPE), f"a {response.status_code} as {content_type!r}, not {MEDIA_TYPE}"
    body = _json(response)
    assert body.get("status") == response.status_code, f"problem status {body.get('status')!r}"
    assert isinstance(body.get("title"), str) and body["title"], "a problem without a title"
    assert isinstance(body.get("type"), str) and body["type"], "a problem without a type"


def _header(response, name: str) -> str:
    values = next((values for key, values in response.headers.items() if key.lower() == name.lower()), [""])
    return values[0]


def _json(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


CHECKS = [
    no_server_error,
    errors_are_problem_documents,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("role", ["customer", "operator"])
@API.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
def test_no_input_breaks_the_api(case, role, fuzzed_api):
    headers = fuzzed_api.headers[role]
    response = case.call(app=fuzzed_api.app, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": fuzzed_api.app})


def test_the_fuzzed_document_is_the_one_the_api_serves(fuzzed_api):
    served = TestClient(fuzzed_api.app).get("/openapi.json")  # no lifespan: the document needs no database
    assert served.json() == API.raw_schema
