"""The single entry point for commands: what to append, or why not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bank_pipeline.domain import commands
from bank_pipeline.domain.account_decisions import (
    close_account,
    credit_account,
    debit_account,
    freeze_account,
    open_account,
    place_hold,
    release_hold,
    transfer_internal,
    unfreeze_account,
)
from bank_pipeline.domain.customer_decisions import (
    change_kyc_status,
    close_customer,
    erase_customer,
    place_legal_hold,
    register_customer,
    release_legal_hold,
    update_customer_details,
)
from bank_pipeline.domain.states import Decision, StreamStates
from bank_pipeline.domain.transfer_decisions import (
    expire_outbound_transfer,
    receive_inbound_transfer,
    reject_outbound_transfer,
    request_outbound_transfer,
    settle_outbound_transfer,
    submit_outbound_transfer,
)
from bank_pipeline.domain.validation import require_utc

_DECIDERS: dict[type, Callable[[Any, StreamStates, datetime], Decision]] = {
    commands.RegisterCustomer: register_customer,
    commands.UpdateCustomerDetails: update_customer_details,
    commands.ChangeKycStatus: change_kyc_status,
    commands.CloseCustomer: close_customer,
    commands.PlaceLegalHold: place_legal_hold,
    commands.ReleaseLegalHold: release_legal_hold,
    commands.EraseCustomer: erase_customer,
    commands.OpenAccount: open_account,
    commands.CreditAccount: credit_account,
    commands.DebitAccount: debit_account,
    commands.PlaceHold: place_hold,
    commands.ReleaseHold: release_hold,
    commands.FreezeAccount: freeze_account,
    commands.UnfreezeAccount: unfreeze_account,
    commands.CloseAccount: close_account,
    commands.TransferInternal: transfer_internal,
    commands.RequestOutboundTransfer: request_outbound_transfer,
    commands.SubmitOutboundTransfer: submit_outbound_transfer,
    commands.SettleOutboundTransfer: settle_outbound_transfer,
    commands.RejectOutboundTransfer: reject_outbound_transfer,
    commands.ExpireOutboundTransfer: expire_outbound_transfer,
    commands.ReceiveInboundTransfer: receive_inbound_transfer,
}


def decide(command: commands.Command, states: StreamStates, now: datetime) -> Decision:
    """The (stream id, event) pairs the command appends, in order; raises a DomainError to refuse it.

    `states` must hold the state (None if empty) of every stream in `command.stream_ids()`.
    """
    decider = _DECIDERS.get(type(command))
    if decider is None:
        raise TypeError(f"not a command: {command!r}")
    return decider(command, states, require_utc(now, "now"))
