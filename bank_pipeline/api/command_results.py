"""What every command endpoint shares: the Idempotency-Key header, keys scoped to the caller, running a command as
the caller, and the response that tells where the write landed (so reads can wait for it)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import BaseModel, Field, StringConstraints

from bank_pipeline.api.dependencies import show_position
from bank_pipeline.api.identity import Identity
from bank_pipeline.api.problems import documented
from bank_pipeline.application.handler import CommandResult
from bank_pipeline.domain.streams import ID_PATTERN
from bank_pipeline.runtime import Runtime

# Visible ASCII with inner spaces: what survives HTTP header parsing unchanged (outer whitespace is stripped).
_HEADER_TOKEN = r"^[!-~]([ -~]*[!-~])?$"
# Text stored in events: no control characters (jsonb refuses NUL; the others have no business in a reference).
_NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
_NOT_BLANK_WITHOUT_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"

# Header parameters named idempotency_key and x_request_id: FastAPI reads Idempotency-Key and X-Request-Id.
IdempotencyKey = Annotated[
    str,
    Header(
        min_length=1,
        max_length=200,
        pattern=_HEADER_TOKEN,
        description="Makes retries safe: the same key with the same body answers with the first result "
        "(`replayed: true`) and applies nothing again; with another body it is a 409. Keys are yours alone.",
    ),
]
RequestId = Annotated[
    str | None,
    Header(
        max_length=200,
        pattern=_HEADER_TOKEN,
        description="Recorded as the correlation id of the events the command appends.",
    ),
]
AccountId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


# Free text that goes into events: bounded, without control characters; names and reasons must not be blank.
Reference = Annotated[str, StringConstraints(max_length=140, pattern=_NO_CONTROL_CHARACTERS)]  # SEPA's limit
Name = Annotated[str, StringConstraints(min_length=1, max_length=70, pattern=_NOT_BLANK_WITHOUT_CONTROL_CHARACTERS)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=_NOT_BLANK_WITHOUT_CONTROL_CHARACTERS)]


class CommandAccepted(BaseModel):
    """Where the command's events landed. Pass `position` as `?min_position=` to a read to see your own write."""

    command_id: uuid.UUID = Field(description="The same for every retry with the same Idempotency-Key.")
    global_position: int = Field(description="The global position of the last event the command appended.")
    position: str = Field(description="'<transaction_id>:<global_position>': a read's `min_position`.")
    replayed: bool = Field(description="True when this answers a retry: nothing was applied again.")


COMMAND_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: documented("The body is not JSON."),
    401: documented("No valid bearer token."),
    403: documented("Your role may not do this."),
    404: documented("An unknown account or customer, or one that is not yours."),
    409: documented("Refused by the account's state, or the Idempotency-Key was used for another request."),
    422: documented("Invalid input: `errors` names each field."),
    503: documented("The database is unreachable."),
}


def scoped_key(who: Identity, idempotency_key: str) -> str:
    """The caller's key as the store keeps it: two callers choosing the same key never share a result. The caller
    is hashed (role, subject, customer), so no choice of subject and key can spell another caller's scope."""
    caller = hashlib.sha256("\x1f".join((who.role, who.subject, who.customer_id or "")).encode()).hexdigest()[:32]
    return f"api:{caller}:{idempotency_key}"


def derived_id(prefix: str, *parts: str) -> str:
    """A domain id that the same parts (a caller and their key) always give: a retry names the same resource."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{prefix}-{digest}"


def run_command(
    rt: Runtime, who: Identity, command: Any, idempotency_key: str, request_id: str | None
) -> CommandResult:
    """Execute `command` with the caller as actor of its events and the caller's scoped key."""
    return rt.bus.execute(
        command, idempotency_key=scoped_key(who, idempotency_key), actor=who.actor, correlation_id=request_id
    )


def accepted_fields(result: CommandResult) -> dict[str, Any]:
    return {
        "command_id": result.command_id,
        "global_position": result.global_positions[-1],
        "position": show_position(result.checkpoint),
        "replayed": result.replayed,
    }


def answer_created(response: Response, result: CommandResult, location: str | None = None) -> None:
    """201 (with Location) for a first request; 200 for a replay, which creates nothing."""
    if result.replayed:
        response.status_code = 200
    if location is not None:
        response.headers["Location"] = location
