"""For operators and auditors: the audit trail of any stream, the fraud alerts, and (operators only) freezing and
unfreezing accounts through the command path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from bank_pipeline.api.command_results import (
    COMMAND_PROBLEMS,
    CommandAccepted,
    IdempotencyKey,
    Reason,
    RequestId,
    accepted_fields,
    run_command,
)
from bank_pipeline.api.dependencies import RuntimeDep, require, show_position
from bank_pipeline.api.identity import Identity
from bank_pipeline.api.problems import ApiProblem, documented, not_found
from bank_pipeline.archive.errors import ArchiveError
from bank_pipeline.archive.reading import read_archived_stream
from bank_pipeline.domain.commands import FreezeAccount, UnfreezeAccount
from bank_pipeline.domain.streams import ID_PATTERN
from bank_pipeline.personal_data.reveal import reveal_payloads
from bank_pipeline.store.records import EVENT_COLUMNS, Checkpoint, RecordedEvent

router = APIRouter(prefix="/v1", tags=["operators and auditors"])

Staff = Annotated[Identity, Depends(require("operator", "auditor"))]
Operator = Annotated[Identity, Depends(require("operator"))]
BIGINT_MAX = 2**63 - 1
READ_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: documented("No valid bearer token."),
    403: documented("Only operators and auditors may read this."),
    422: documented("Invalid parameters: `errors` names each."),
    503: documented("The database is unreachable."),
}
STREAM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
StreamId = Annotated[
    str, Path(pattern=STREAM_ID_PATTERN, description="e.g. account-<IBAN>, customer-<id>, transfer-<id>")
]
AccountIdPath = Annotated[str, Path(pattern=ID_PATTERN)]


class AuditedEvent(BaseModel):
    stream_version: int
    global_position: int
    transaction_id: int
    position: str = Field(description="'<transaction_id>:<global_position>': the event's place in delivery order.")
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    occurred_at: datetime = Field(description="Business time.")
    recorded_at: datetime = Field(description="When the store committed it.")
    payload: dict[str, Any]
    metadata: dict[str, Any] = Field(description="command_id, command_type, correlation_id, causation_id, actor.")
    previous_hash: str = Field(description="Hex SHA-256 of the stream's previous event (the hash chain).")
    hash: str = Field(description="Hex SHA-256 of this event, chained to previous_hash.")


class StreamEvents(BaseModel):
    stream_id: str
    version: int = Field(description="The stream's current version (its number of events).")
    events: list[AuditedEvent]
    next_after_version: int | None = Field(description="Pass as `after_version` for the next page; null at the end.")


class FraudAlert(BaseModel):
    alert_id: int
    rule: str
    severity: Literal["low", "medium", "high"]
    score: float
    account_id: str
    transaction_id: int
    global_position: int
    position: str = Field(description="The event that raised the alert: '<transaction_id>:<global_position>'.")
    occurred_at: datetime
    recorded_at: datetime
    detected_at: datetime
    evidence: dict[str, Any]
    action: str | None = Field(description="What the detector did: 'frozen', or why not; null: not acted on.")
    action_position: int | None
    acted_at: datetime | None
    verdict: Literal["fraud", "legitimate"] | None = Field(description="The newest investigator's review, if any.")
    reviewed_by: str | None
    reviewed_at: datetime | None


class StatusChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class AccountStatusChanged(CommandAccepted):
    account_id: str


@router.get(
    "/streams/{stream_id}/events", response_model=StreamEvents, summary="The audit trail of a stream",
    responses={404: {**READ_PROBLEMS[403], "description": "No such stream."}, **READ_PROBLEMS},
)  # fmt: skip
def stream_events(
    stream_id: StreamId,
    who: Staff,
    rt: RuntimeDep,
    after_version: Annotated[int, Query(ge=0, le=BIGINT_MAX, description="Events after this version.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> StreamEvents:
    """Every event of the stream in version order, with who caused it and its hash chain."""
    with rt.pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # the head and the page agree
        head = conn.execute("SELECT version FROM event_store.streams WHERE stream_id = %s", (stream_id,)).fetchone()
        if head is None:
            raise not_found(f"stream {stream_id}")
        rows = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM event_store.events WHERE stream_id = %s AND stream_version > %s "
            "ORDER BY stream_version LIMIT %s",
            (stream_id, after_version, limit + 1),
        ).fetchall()
        events = [recorded(row) for row in rows]
        first_hot = events[0].stream_version if events else head[0] + 1
        if first_hot > after_version + 1:  # the page starts in months moved to the archive
            events = _archived_events(conn, stream_id, after_version, first_hot) + events
        more, events = len(events) > limit, events[:limit]
        # Personal fields are sealed in the store: shown revealed (or "[erased]"), never as ciphertext. The hashes
        # are over the stored (sealed) payloads: `bank-pipeline audit verify` checks them without any key.
        payloads = reveal_payloads(conn, [(event.event_type, event.payload) for event in events])
    page = [audited(replace(event, payload=payload)) for event, payload in zip(events, payloads, strict=True)]
    return StreamEvents(
        stream_id=stream_id, version=head[0], events=page, next_after_version=page[-1].stream_version if more else None
    )


def _archived_events(conn, stream_id: str, after_version: int, before_version: int) -> list:
    """The stream's archived events after `after_version` and before `before_version` (the first hot one); purged
    events are gone from the archive too, so a purged stream has none."""
    try:
        archived = read_archived_stream(conn, stream_id, after_version=after_version)
    except ArchiveError as error:
        raise ApiProblem(
            503, "archive_unavailable", "Archive unavailable",
            f"the archived events of {stream_id} could not be read: {error}; run `bank-pipeline audit verify`",
        ) from error  # fmt: skip
    return [event for event in archived if event.stream_version < before_version]


ALERT_COLUMNS = """
    a.alert_id, a.rule, a.severity, a.score, a.account_id, a.transaction_id, a.global_position, a.occurred_at,
    a.recorded_at, a.detected_at, a.evidence, a.action, a.action_position, a.acted_at,
    r.verdict, r.reviewed_by, r.reviewed_at"""
# The newest review is the verdict, as in the view fraud.alert_verdicts (sql/014).
NEWEST_REVIEW = """
    LEFT JOIN LATERAL (SELECT verdict, reviewed_by, reviewed_at FROM fraud.alert_reviews
                        WHERE alert_id = a.alert_id ORDER BY review_id DESC LIMIT 1) r ON true"""


@router.get(
    "/fraud/alerts", response_model=list[FraudAlert], summary="Fraud alerts", responses=READ_PROBLEMS,
)  # fmt: skip
def fraud_alerts(
    who: Staff,
    rt: RuntimeDep,
    account_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="Only this account's alerts.")] = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=BIGINT_MAX, description="An alert_id: the alerts raised after it, oldest first (a cursor "
              "to follow new alerts). Without it: the newest alerts first."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[FraudAlert]:  # fmt: skip
    order = "DESC" if after is None else "ASC"
    with rt.pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {ALERT_COLUMNS} FROM fraud.alerts a {NEWEST_REVIEW} "
            "WHERE (%(account)s::text IS NULL OR a.account_id = %(account)s) "
            "AND (%(after)s::bigint IS NULL OR a.alert_id > %(after)s) "
            f"ORDER BY a.alert_id {order} LIMIT %(limit)s",
            {"account": account_id, "after": after, "limit": limit},
        ).fetchall()
    return [fraud_alert(row) for row in rows]


@router.post(
    "/accounts/{account_id}/freeze", response_model=AccountStatusChanged, summary="Freeze an account",
    responses=COMMAND_PROBLEMS,
)  # fmt: skip
def freeze_account(
    account_id: AccountIdPath,
    body: StatusChangeRequest,
    who: Operator,
    rt: RuntimeDep,
    idempotency_key: IdempotencyKey,
    x_request_id: RequestId = None,
) -> AccountStatusChanged:
    """Stop every movement of money from and to the account (operators only); 409 if it is frozen already."""
    result = run_command(rt, who, FreezeAccount(account_id, body.reason), idempotency_key, x_request_id)
    return AccountStatusChanged(**accepted_fields(result), account_id=account_id)


@router.post(
    "/accounts/{account_id}/unfreeze", response_model=AccountStatusChanged, summary="Unfreeze an account",
    responses=COMMAND_PROBLEMS,
)  # fmt: skip
def unfreeze_account(
    account_id: AccountIdPath,
    body: StatusChangeRequest,
    who: Operator,
    rt: RuntimeDep,
    idempotency_key: IdempotencyKey,
    x_request_id: RequestId = None,
) -> AccountStatusChanged:
    """Let money move again (operators only); 409 if the account is not frozen."""
    result = run_command(rt, who, UnfreezeAccount(account_id, body.reason), idempotency_key, x_request_id)
    return AccountStatusChanged(**accepted_fields(result), account_id=account_id)


def recorded(row: Sequence[Any]) -> RecordedEvent:
    return RecordedEvent(*row[:11], bytes(row[11]), bytes(row[12]))


def audited(event: RecordedEvent) -> AuditedEvent:
    return AuditedEvent(
        stream_version=event.stream_version,
        global_position=event.global_position,
        transaction_id=event.transaction_id,
        position=show_position(event.checkpoint),
        event_id=event.event_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        payload=event.payload,
        metadata=event.metadata,
        previous_hash=event.previous_hash.hex(),
        hash=event.hash.hex(),
    )


def fraud_alert(row: Sequence[Any]) -> FraudAlert:
    (alert_id, rule, severity, score, account_id, transaction_id, global_position, occurred_at, recorded_at,
     detected_at, evidence, action, action_position, acted_at, verdict, reviewed_by, reviewed_at) = row  # fmt: skip
    return FraudAlert(
        alert_id=alert_id, rule=rule, severity=severity, score=float(score), account_id=account_id,
        transaction_id=transaction_id, global_position=global_position,
        position=show_position(Checkpoint(transaction_id, global_position)), occurred_at=occurred_at,
        recorded_at=recorded_at, detected_at=detected_at, evidence=evidence, action=action,
        action_position=action_position, acted_at=acted_at, verdict=verdict, reviewed_by=reviewed_by,
        reviewed_at=reviewed_at,
    )  # fmt: skip
