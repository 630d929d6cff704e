"""What each validated landing record asks the bank to do: the commands, in order, with their idempotency
keys and business times.

A record's keys derive from its kind and record id (its content identity upstream), so a redelivered row or
file replays instead of applying twice, and the same record id with other content is refused
(IdempotencyConflict) rather than silently applied.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bank_pipeline.domain import commands as c
from bank_pipeline.ingest.landing import LandingFile

#: An outbound transfer's funds stay held this long after its requested execution date, then expire.
OUTBOUND_HOLD_DAYS = 7


class UnmappableRecord(ValueError):
    """A record that passed validation but still cannot become a command (a gap in validation)."""


@dataclass(frozen=True)
class RecordCommand:
    idempotency_key: str
    command: Any
    occurred_at: datetime | None  # business time; None = when it is decided


def commands_for(landing: LandingFile, record: Mapping[str, str | None]) -> list[RecordCommand]:
    """The commands a validated record of `landing` becomes, in the order they must be decided."""
    try:
        return _MAPPERS[landing.kind](landing, record)
    except (KeyError, ValueError, TypeError, ArithmeticError) as error:  # e.g. a date past year 9999 + 7 days
        record_id = record.get("record_id") or record.get("account_id") or record.get("customer_id")
        raise UnmappableRecord(f"{landing.kind} record {record_id!r}: {error}") from error


def _customer(landing: LandingFile, record: Mapping[str, str | None]) -> list[RecordCommand]:
    """Registration happens once per customer; a KYC status is a fact of the day it is delivered, so the
    same status delivered again on a later day (after a change in between) applies again."""
    customer_id = record["customer_id"]
    register = c.RegisterCustomer(customer_id, record["name"], record["email"], record["address"])
    commands = [RecordCommand(f"customers:{customer_id}:register", register, _start_of(landing.day))]
    if record["kyc_status"] != "pending":  # registered customers start pending
        kyc = c.ChangeKycStatus(customer_id, record["kyc_status"])
        key = f"customers:{customer_id}:kyc:{landing.day.isoformat()}:{record['kyc_status']}"
        commands.append(RecordCommand(key, kyc, _start_of(landing.day)))
    return commands


def _account(landing: LandingFile, record: Mapping[str, str | None]) -> list[RecordCommand]:
    account_id = record["account_id"]
    command = c.OpenAccount(
        account_id, record["customer_id"], record["currency"], record["product"], int(record["overdraft_limit"])
    )
    # Opened on the business day the file describes, so by business time it exists before that day's entries.
    return [RecordCommand(f"accounts:{account_id}:open", command, _start_of(landing.day))]


def _transaction(landing: LandingFile, record: Mapping[str, str | None]) -> list[RecordCommand]:
    record_id, kind = record["record_id"], record["type"]
    amount, currency, reference = int(record["amount"]), record["currency"], record["reference"]
    account_id, counterparty = record["account_id"], record["counterparty_name"]
    if kind == "salary":
        command: Any = c.CreditAccount(account_id, amount, currency, record_id, counterparty, reference)
    elif kind in ("card_payment", "bill_payment"):
        command = c.DebitAccount(account_id, amount, currency, record_id, counterparty, reference)
    elif kind == "p2p_transfer":
        command = c.TransferInternal(record_id, account_id, record["counterparty_account"], amount, currency, reference)
    else:
        raise ValueError(f"unknown transaction type {kind!r}")
    return [RecordCommand(f"transactions:{record_id}", command, _instant(record["booked_at"]))]


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def outbound_transfer_id(debtor_account: str, end_to_end_id: str) -> str:
    """A SEPA EndToEndId is unique only per debtor: our transfer id joins the two."""
    return f"{debtor_account}-{end_to_end_id}"


def _outbound_request(landing: LandingFile, record: Mapping[str, str | None]) -> list[RecordCommand]:
    """A customer's SEPA credit transfer: hold the funds, then hand it to the clearing house (the file's
    message id is the submission reference)."""
    transfer_id = outbound_transfer_id(record["account_id"], record["record_id"])
    requested = datetime.combine(date.fromisoformat(record["requested_execution_date"]), time(), UTC)
    request = c.RequestOutboundTransfer(
        transfer_id, record["account_id"], int(record["amount"]), record["currency"], record["creditor_iban"],
        record["creditor_name"], record["reference"], requested + timedelta(days=OUTBOUND_HOLD_DAYS),
    )  # fmt: skip
    submit = c.SubmitOutboundTransfer(transfer_id, record["message_id"])
    return [
        RecordCommand(f"pain001:{transfer_id}:request", request, requested),
        RecordCommand(f"pain001:{transfer_id}:submit", submit, requested),
    ]


def _notification(landing: LandingFile, record: Mapping[str, str | None]) -> list[RecordCommand]:
    """camt.054: CRDT = money in from another bank; DBIT = the clearing house's outcome for one of our
    outbound transfers (booked = settled, with a return reason = rejected)."""
    record_id, booked = record["record_id"], _instant(record["booked_at"])
    if record["direction"] == "CRDT":
        command: Any = c.ReceiveInboundTransfer(
            record_id, record["account_id"], int(record["amount"]), record["currency"], record["counterparty_iban"],
            record["counterparty_name"], record["reference"],
        )  # fmt: skip
        return [RecordCommand(f"camt054:{record_id}", command, booked)]
    transfer_id = outbound_transfer_id(record["account_id"], record["end_to_end_id"])
    if record["return_reason"]:
        command = c.RejectOutboundTransfer(transfer_id, record["account_id"], f"returned: {record['return_reason']}")
    else:
        command = c.SettleOutboundTransfer(transfer_id, record["account_id"])
    return [RecordCommand(f"camt054:{record_id}", command, booked)]


def _instant(text: str | None) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no zone")
    return moment.astimezone(UTC)


_MAPPERS = {
    "customers": _customer,
    "accounts": _account,
    "transactions": _transaction,
    "pain001": _outbound_request,
    "camt054": _notification,
}
