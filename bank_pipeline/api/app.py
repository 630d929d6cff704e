"""The FastAPI application: one pool for the process, the routers, the problem handlers, the metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from bank_pipeline.api import problems
from bank_pipeline.api.authentication import AuthenticateFirst, declare_bearer_scheme
from bank_pipeline.api.routes import accounts, commands, health, operators, personal_data
from bank_pipeline.api.tokens import signing_key
from bank_pipeline.runtime import Runtime

API_VERSION = "1.0.0"
POOL_TIMEOUT_SECONDS = 5.0


def create_app(open_runtime: Callable[[], Runtime] | None = None) -> FastAPI:
    """The API over the configured database (or the runtime `open_runtime` gives: tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A caller waits at most POOL_TIMEOUT_SECONDS for a connection: an unreachable database is a quick 503.
        runtime = (open_runtime or (lambda: Runtime.open(pool_size=16, pool_timeout=POOL_TIMEOUT_SECONDS)))()
        app.state.runtime = runtime
        signing_key()  # a missing or too short key fails the start, not every request
        # The hot reads (balance now, history pages) run on the event loop with this pool; the rest on threads.
        async_pool = AsyncConnectionPool(
            runtime.url, min_size=2, max_size=runtime.pool_size, timeout=POOL_TIMEOUT_SECONDS,
            kwargs={"autocommit": True}, open=False,
        )  # fmt: skip
        await async_pool.open()
        app.state.async_pool = async_pool
        try:
            yield
        finally:
            await async_pool.close()
            runtime.close()

    app = FastAPI(
        title="bank-pipeline API",
        version=API_VERSION,
        description=(
            "Customers' balances, transactions and statements from the read model; commands with idempotency "
            "keys; the audit trail and fraud alerts for operators and auditors. Every request needs a bearer "
            "token; every error is application/problem+json (RFC 9457)."
        ),
        lifespan=lifespan,
        redirect_slashes=False,  # a redirect would answer before authentication, to any Host
        # The API's figures are Prometheus metrics (/metrics). FastAPI's OpenTelemetry hooks, never configured here,
        # cost a provider lookup on every request (~11 µs, measured).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    problems.install(app)
    for module in (health, accounts, commands, operators, personal_data):
        app.include_router(module.router)
    app.add_middleware(AuthenticateFirst)
    _document_bearer_scheme(app)
    health.instrument(app)  # added last, so outermost: it times and counts the 401s too
    return app


def _document_bearer_scheme(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = declare_bearer_scheme(generate())
        return app.openapi_schema

    app.openapi = openapi
