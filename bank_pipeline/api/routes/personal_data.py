"""For operators and auditors: legal holds (place, release, list) and GDPR erasure of a customer. Erasure and
holds are audited commands on the customer stream; erasure is refused (409 legal_hold_applies) while a hold is
active. The API never returns personal data as ciphertext: reads reveal it, or show "[erased]"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bank_pipeline.api.command_results import (
    COMMAND_PROBLEMS,
    CommandAccepted,
    IdempotencyKey,
    Reason,
    RequestId,
    accepted_fields,
    answer_created,
    run_command,
    scoped_key,
)
from bank_pipeline.api.dependencies import RuntimeDep, show_position
from bank_pipeline.api.routes.operators import READ_PROBLEMS, Operator, Staff
from bank_pipeline.domain.commands import PlaceLegalHold, ReleaseLegalHold
from bank_pipeline.domain.streams import ID_PATTERN
from bank_pipeline.personal_data.erasure import erase_customer
from bank_pipeline.personal_data.legal_holds import legal_holds
from bank_pipeline.settings import get_settings
from bank_pipeline.statements.store import StatementStore

router = APIRouter(prefix="/v1", tags=["operators and auditors"])

CustomerIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="The customer's id.")]
HoldIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="The legal hold's id.")]
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class LegalHoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hold_id: Id = Field(description="Unique for the customer; a released hold's id is not reused.")
    account_id: Id | None = Field(None, description="Only this account of the customer; null: all their accounts.")
    reason: Reason
    case_reference: Reason = Field(description="The legal case or order the hold is for.")


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class LegalHoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: str
    hold_id: str
    account_id: str | None
    reason: str
    case_reference: str
    placed_at: datetime
    released_at: datetime | None
    release_reason: str | None


class LegalHoldChanged(CommandAccepted):
    customer_id: str
    hold_id: str


class CustomerErasedOut(BaseModel):
    customer_id: str
    erased_now: bool = Field(description="False: the customer was erased already (this finished the erasure).")
    position: str | None = Field(description="Where the CustomerErased event landed (null when erased already).")
    statements_rerendered: int = Field(description="Stored statements re-rendered with the name erased.")


@router.get(
    "/customers/{customer_id}/legal-holds", response_model=list[LegalHoldOut], summary="A customer's legal holds",
    responses=READ_PROBLEMS,
)  # fmt: skip
def list_legal_holds(customer_id: CustomerIdPath, who: Staff, rt: RuntimeDep) -> list[LegalHoldOut]:
    """Every legal hold of the customer in the read model, released ones included."""
    with rt.pool.connection() as conn:
        holds = legal_holds(conn, customer_id=customer_id, include_released=True)
    return [LegalHoldOut.model_validate(hold) for hold in holds]


@router.post(
    "/customers/{customer_id}/legal-holds", response_model=LegalHoldChanged, status_code=201,
    summary="Place a legal hold", responses=COMMAND_PROBLEMS,
)  # fmt: skip
def place_legal_hold(
    customer_id: CustomerIdPath,
    body: LegalHoldRequest,
    who: Operator,
    rt: RuntimeDep,
    response: Response,
    idempotency_key: IdempotencyKey,
    x_request_id: RequestId = None,
) -> LegalHoldChanged:
    """Keep the customer's events (or one account's) past retention and refuse their erasure until released
    (operators only). 409 if the hold id is taken, or the account is another customer's."""
    command = PlaceLegalHold(customer_id, body.hold_id, body.reason, body.case_reference, body.account_id)
    result = run_command(rt, who, command, idempotency_key, x_request_id)
    answer_created(response, result, f"/v1/customers/{customer_id}/legal-holds")
    return LegalHoldChanged(**accepted_fields(result), customer_id=customer_id, hold_id=body.hold_id)


@router.post(
    "/customers/{customer_id}/legal-holds/{hold_id}/release", response_model=LegalHoldChanged,
    summary="Release a legal hold", responses=COMMAND_PROBLEMS,
)  # fmt: skip
def release_legal_hold(
    customer_id: CustomerIdPath,
    hold_id: HoldIdPath,
    body: ReleaseRequest,
    who: Operator,
    rt: RuntimeDep,
    idempotency_key: IdempotencyKey,
    x_request_id: RequestId = None,
) -> LegalHoldChanged:
    """Release an active legal hold (operators only); 404 if there is no such active hold."""
    result = run_command(rt, who, ReleaseLegalHold(customer_id, hold_id, body.reason), idempotency_key, x_request_id)
    return LegalHoldChanged(**accepted_fields(result), customer_id=customer_id, hold_id=hold_id)


@router.post(
    "/customers/{customer_id}/erasure", response_model=CustomerErasedOut, summary="Erase a customer (GDPR)",
    responses=COMMAND_PROBLEMS,
)  # fmt: skip
def erase(
    customer_id: CustomerIdPath,
    body: ErasureRequest,
    who: Operator,
    rt: RuntimeDep,
    idempotency_key: IdempotencyKey,
    x_request_id: RequestId = None,
) -> CustomerErasedOut:
    """Record CustomerErased and destroy the customer's data key in one transaction, then re-render their stored
    statements (operators only). Their events stay; their name, email and address read "[erased]" everywhere.
    409 `legal_hold_applies` while a legal hold is active; 409 `personal_data_not_sealed` for a customer whose
    personal data was recorded in plain text. Repeating it finishes an interrupted erasure."""
    report = erase_customer(
        rt.handler, customer_id, body.reason, actor=who.actor,
        statement_store=StatementStore(get_settings().statement_path),
        idempotency_key=scoped_key(who, idempotency_key), correlation_id=x_request_id,
    )  # fmt: skip
    return CustomerErasedOut(
        customer_id=customer_id,
        erased_now=report.erased_now,
        position=show_position(report.result.checkpoint) if report.result is not None else None,
        statements_rerendered=report.statements.statements if report.statements else 0,
    )
