"""The probes (liveness, readiness: no token, so orchestrators can call them) and the Prometheus metrics (an
operator's or auditor's token), and `instrument(app)`: the middleware that times every request."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field

from bank_pipeline.api.dependencies import RuntimeDep, require, show_position
from bank_pipeline.api.identity import Identity
from bank_pipeline.api.metrics import ApiMetrics, RequestMetricsMiddleware, projection_lag, quick_read
from bank_pipeline.api.problems import MEDIA_TYPE, RETRY_AFTER_SECONDS, ApiProblem
from bank_pipeline.settings import get_settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


class HealthProblem(BaseModel):
    """An RFC 9457 problem document (every error of the API has this shape)."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None


_PROBLEM = {"content": {MEDIA_TYPE: {"schema": HealthProblem.model_json_schema()}}}
_NOT_READY = {**_PROBLEM, "description": "The database is unreachable or the read model lags too far (Retry-After)"}


class Liveness(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"])
    database: str = Field(examples=["ok"])
    projection_lag_seconds: float = Field(
        description="How long the oldest committed event the read model has not applied has waited (0: caught up)"
    )
    projection_lag_events: int = Field(description="How many committed events the read model has not applied")
    max_projection_lag_seconds: float = Field(description="Above this lag the API reports itself not ready")
    checkpoint: str = Field(description="The read model's position, '<transaction_id>:<global_position>'")


@router.get("/healthz", summary="Liveness: the process answers (no token, no database)")
def liveness() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: the database answers and the read model is recent enough (no token)",
    responses={503: _NOT_READY},
)
def readiness(rt: RuntimeDep) -> Readiness:
    allowed = get_settings().max_projection_lag_seconds
    try:
        with quick_read(rt.pool) as conn:
            lag = projection_lag(conn)
    except (PoolTimeout, psycopg.OperationalError) as error:
        log.warning("readiness: the database did not answer: %s", error)
        raise _not_ready(
            "database_unavailable", "the database did not answer in time", database="unavailable"
        ) from error
    figures = {
        "projection_lag_seconds": round(lag.seconds, 3),
        "projection_lag_events": lag.events,
        "max_projection_lag_seconds": allowed,
        "checkpoint": show_position(lag.checkpoint),
    }
    if lag.seconds > allowed:
        detail = (
            f"the read model is {lag.seconds:.1f}s ({lag.events:,} committed events) behind; at most {allowed:g}s "
            "is allowed: is `bank-pipeline worker` running?"
        )
        raise _not_ready("read_model_behind", detail, database="ok", **figures)
    return Readiness(status="ready", database="ok", **figures)


def _not_ready(code: str, detail: str, **figures: Any) -> ApiProblem:
    return ApiProblem(
        503, code, "Service Unavailable", detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, **figures
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (an operator's or auditor's token)",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
              "description": "The Prometheus text exposition format"},
        401: {**_PROBLEM, "description": "No valid bearer token"},
        403: {**_PROBLEM, "description": "Not an operator or auditor"},
    },
)  # fmt: skip
def metrics(request: Request, _: Annotated[Identity, Depends(require("operator", "auditor"))]) -> Response:
    # A sync endpoint on purpose: the scrape reads the database, so FastAPI runs it in a worker thread.
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def instrument(app: FastAPI) -> None:
    """Give the app its own metrics registry and the middleware that times every request."""

    def pool_of():
        runtime = getattr(app.state, "runtime", None)
        return None if runtime is None else runtime.pool

    app.state.metrics = ApiMetrics(pool_of)
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.metrics)
