"""Every error the API returns is RFC 9457 problem+json: `type`, `title`, `status`, `detail`, `instance`, and
for 422 the path and message of every invalid field. Domain refusals keep their stable `code`.

401 missing or bad token · 403 a role that may not · 404 unknown, or not yours (the same answer) · 409 a
conflict (idempotency key reused for another request, a concurrent change, a state the command cannot apply to)
· 422 invalid input · 503 database unreachable or read model behind (with Retry-After).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from bank_pipeline.application.handler import RetriesExhausted
from bank_pipeline.db.connection import DatabaseUnavailable
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.projections.waiting import ProjectionBehind
from bank_pipeline.store.errors import ConcurrencyError, IdempotencyConflict, KeyTakenMeanwhile

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://bank-pipeline.example/problems/"
RETRY_AFTER_SECONDS = 2
log = logging.getLogger(__name__)

NOT_FOUND_CODES = {"unknown_customer", "unknown_account", "unknown_hold", "unknown_transfer", "unknown_legal_hold"}
#: Refusals that mean the stored data or this code is wrong, not the request: a server fault.
SERVER_FAULT_CODES = {"inconsistent_statement", "unknown_event_type", "unknown_schema_version"}
INVALID_CODES = {
    "invalid_command", "unsupported_currency", "malformed_amount", "non_positive_amount", "currency_mismatch",
    "same_account_transfer", "invalid_statement_period", "unknown_statement_format",
}  # fmt: skip
# Everything else a domain refusal says is a conflict with the current state (409).


class ApiProblem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self, status: int, code: str, title: str, detail: str | None = None, *,
        headers: dict[str, str] | None = None, **extra: Any,
    ):  # fmt: skip
        super().__init__(detail or title)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers, self.extra = headers or {}, extra


def documented(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for a problem document (for a route's `responses=`)."""
    return {"description": description, "content": {MEDIA_TYPE: {"schema": {"type": "object"}}}}


def not_found(what: str) -> ApiProblem:
    """The answer for anything unknown *or not the caller's*: the two must be indistinguishable."""
    return ApiProblem(404, "not_found", "Not found", f"no {what}")


def problem_response(
    request: Request, status: int, code: str, title: str, detail: str | None = None,
    headers: dict[str, str] | None = None, **extra: Any,
) -> JSONResponse:  # fmt: skip
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "code": code, "instance": request.url.path}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def domain_status(error: DomainError) -> int:
    if error.code in SERVER_FAULT_CODES:
        return 500
    if error.code in NOT_FOUND_CODES:
        return 404
    return 422 if error.code in INVALID_CODES else 409


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem document."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, error: ApiProblem) -> JSONResponse:
        return problem_response(
            request, error.status, error.code, error.title, error.detail, error.headers, **error.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"path": "/" + "/".join(str(part) for part in e.get("loc", ())), "message": e.get("msg", "invalid")}
            for e in error.errors()
        ]
        detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
        return problem_response(request, 422, "invalid_request", "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "http_error"
        )
        detail = error.detail if isinstance(error.detail, str) else None
        return problem_response(request, error.status_code, code, _title(error.status_code), detail, error.headers)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, error: DomainError) -> JSONResponse:
        status = domain_status(error)
        if status == 500:
            log.error("server fault on %s %s: %s", request.method, request.url.path, error)
            return problem_response(request, 500, "internal_error", "Internal Server Error", "an unexpected error")
        return problem_response(request, status, error.code, _title(status), str(error))

    @app.exception_handler(IdempotencyConflict)
    async def _idempotency(request: Request, error: IdempotencyConflict) -> JSONResponse:
        detail = "this Idempotency-Key was already used for a different request: use a new key for a new request"
        return problem_response(request, 409, "idempotency_conflict", "Conflict", detail)

    for conflict in (ConcurrencyError, KeyTakenMeanwhile, RetriesExhausted):

        @app.exception_handler(conflict)
        async def _conflict(request: Request, error: Exception) -> JSONResponse:
            return problem_response(request, 409, "concurrent_change", "Conflict", f"{error}; retry the request")

    @app.exception_handler(ProjectionBehind)
    async def _behind(request: Request, error: ProjectionBehind) -> JSONResponse:
        return problem_response(
            request, 503, "read_model_behind", "Service Unavailable", str(error),
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )  # fmt: skip

    for unavailable in (DatabaseUnavailable, PoolTimeout, psycopg.OperationalError):

        @app.exception_handler(unavailable)
        async def _unavailable(request: Request, error: Exception) -> JSONResponse:
            log.warning("database unavailable: %s", error)
            return problem_response(
                request, 503, "database_unavailable", "Service Unavailable",
                "the database cannot be reached right now; retry later",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )  # fmt: skip

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        # Starlette answers this one outside the middleware that sets X-Request-Id: set it here for the log search.
        request_id = getattr(request.state, "request_id", None)
        return problem_response(
            request, 500, "internal_error", "Internal Server Error", "an unexpected error",
            {"X-Request-Id": request_id} if request_id else None,
        )  # fmt: skip


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
