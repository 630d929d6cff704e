"""What endpoints ask FastAPI for: the runtime (pool, command handler), the caller's identity, role checks, and
read-your-writes waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from bank_pipeline.api.identity import Identity, Role
from bank_pipeline.api.problems import RETRY_AFTER_SECONDS, ApiProblem
from bank_pipeline.projections.waiting import ProjectionBehind, wait_until_projected
from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings
from bank_pipeline.store.records import Checkpoint

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="bank-pipeline"'}


# The dependencies are `async def` because none of them blocks (a wait for the read model goes to a thread): a
# sync dependency costs a thread-pool handoff per request, which measured as the API's largest CPU cost. And every
# dependency FastAPI solves costs per request: the two hottest reads take the `Request` and call `caller(request)`
# and read `request.app.state` instead (a quarter fewer instructions per request with the other cuts, measured).


async def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def identity(request: Request) -> Identity:
    return caller(request)


def caller(request: Request) -> Identity:
    """Who is calling: AuthenticateFirst verified the bearer token before routing (api/authentication.py)."""
    authenticated = request.scope.get("state", {}).get("identity")
    if authenticated is None:  # a route outside AuthenticateFirst's paths asked for an identity: a bug, fail closed
        raise ApiProblem(401, "unauthenticated", "Unauthorized", "send 'Authorization: Bearer <token>'",
                         headers=CHALLENGE)  # fmt: skip
    return authenticated


def require(*roles: Role) -> Callable[[Identity], Identity]:
    """A dependency admitting only these roles (403 for the others)."""

    async def check(who: Annotated[Identity, Depends(identity)]) -> Identity:
        if who.role not in roles:
            needed = " or ".join(roles)
            raise ApiProblem(403, "forbidden", "Forbidden", f"the {who.role} role may not do this; it needs {needed}")
        return who

    return check


RuntimeDep = Annotated[Runtime, Depends(runtime)]
IdentityDep = Annotated[Identity, Depends(identity)]


def parse_position(text: str) -> Checkpoint:
    """A position token as commands return it: "<transaction_id>:<global_position>"."""
    try:
        transaction_id, position = (int(part) for part in text.split(":"))
    except ValueError as error:
        raise ApiProblem(
            422, "invalid_request", "Invalid request", "min_position is '<transaction_id>:<global_position>', as a "
            "command's response gives it", errors=[{"path": "/query/min_position", "message": "malformed position"}],
        ) from error  # fmt: skip
    if transaction_id < 0 or position < 0 or transaction_id > 2**63 - 1 or position > 2**63 - 1:
        raise ApiProblem(422, "invalid_request", "Invalid request", "min_position is out of range",
                         errors=[{"path": "/query/min_position", "message": "out of range"}])  # fmt: skip
    return Checkpoint(transaction_id, position)


def show_position(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.transaction_id}:{checkpoint.global_position}"


async def read_your_writes(
    request: Request,
    min_position: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{1,19}:[0-9]{1,19}$",
              description="Wait until the read model has applied this position (a command's `position`), at most "
              "a few seconds; 503 with Retry-After if it has not."),
    ] = None,
) -> Checkpoint | None:  # fmt: skip
    if min_position is None:
        return None
    return await run_in_threadpool(wait_for_position, request.app.state.runtime, parse_position(min_position))


def wait_for_position(rt: Runtime, wanted: Checkpoint) -> Checkpoint:
    if wanted > rt.store.newest_checkpoint():  # no write has been there: waiting would only hold a connection
        raise ApiProblem(
            422, "invalid_request", "Invalid request", "no write has reached this position: pass a command's "
            "`position`", errors=[{"path": "/query/min_position", "message": "beyond the newest write"}],
        )  # fmt: skip
    try:
        return wait_until_projected(rt.pool, wanted, timeout=get_settings().api_read_wait_seconds)
    except ProjectionBehind as behind:
        raise ApiProblem(
            503, "read_model_behind", "Service Unavailable", "the read model has not reached this position yet: "
            "retry shortly", headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from behind  # fmt: skip


ReadAfter = Annotated[Checkpoint | None, Depends(read_your_writes)]
