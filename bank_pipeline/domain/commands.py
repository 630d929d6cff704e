"""What callers ask the bank to do. Each command names the streams its decision reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bank_pipeline.domain.streams import account_stream, customer_stream, transfer_stream

# Customers


@dataclass(frozen=True)
class RegisterCustomer:
    customer_id: str
    name: str
    email: str
    address: str

    def stream_ids(self) -> list[str]:
        return [customer_stream(self.customer_id)]


@dataclass(frozen=True)
class UpdateCustomerDetails:
    """None leaves a detail unchanged."""

    customer_id: str
    name: str | None = None
    email: str | None = None
    address: str | None = None

    def stream_ids(self) -> list[str]:
        return [customer_stream(self.customer_id)]


@dataclass(frozen=True)
class ChangeKycStatus:
    customer_id: str
    status: str

    def stream_ids(self) -> list[str]:
        return [customer_stream(self.customer_id)]


@dataclass(frozen=True)
class CloseCustomer:
    customer_id: str
    reason: str

    def stream_ids(self) -> list[str]:
        return [customer_stream(self.customer_id)]


@dataclass(frozen=True)
class PlaceLegalHold:
    """Keep the customer's events (or one account's: `account_id`) past retention and block erasure."""

    customer_id: str
    hold_id: str
    reason: str
    case_reference: str
    account_id: str | None = None

    def stream_ids(self) -> list[str]:
        # The account's stream tells whose account it is.
        accounts = [] if self.account_id is None else [account_stream(self.account_id)]
        return [customer_stream(self.customer_id), *accounts]


@dataclass(frozen=True)
class ReleaseLegalHold:
    customer_id: str
    hold_id: str
    reason: str

    def stream_ids(self) -> list[str]:
        return [customer_stream(self.customer_id)]


@dataclass(frozen=True)
class EraseCustomer:
    """GDPR erasure: the customer's data key is destroyed, so their personal fields read as erased."""

    customer_id: str
    reason: str

    def stream_ids(self) -> list[str]:
        return [customer_stream(self.customer_id)]


# Accounts


@dataclass(frozen=True)
class OpenAccount:
    account_id: str
    customer_id: str
    currency: str
    product: str = "current"
    overdraft_limit: int = 0

    def stream_ids(self) -> list[str]:
        return [customer_stream(self.customer_id), account_stream(self.account_id)]


@dataclass(frozen=True)
class CreditAccount:
    """Money entering the bank into this account: a deposit, a refund."""

    account_id: str
    amount: int
    currency: str
    transfer_id: str
    counterparty: str | None = None
    reference: str | None = None

    def stream_ids(self) -> list[str]:
        return [account_stream(self.account_id)]


@dataclass(frozen=True)
class DebitAccount:
    """Money leaving the bank from this account: a card payment, a bill."""

    account_id: str
    amount: int
    currency: str
    transfer_id: str
    counterparty: str | None = None
    reference: str | None = None

    def stream_ids(self) -> list[str]:
        return [account_stream(self.account_id)]


@dataclass(frozen=True)
class PlaceHold:
    account_id: str
    hold_id: str
    amount: int
    currency: str
    expires_at: datetime
    reason: str

    def stream_ids(self) -> list[str]:
        return [account_stream(self.account_id)]


@dataclass(frozen=True)
class ReleaseHold:
    account_id: str
    hold_id: str

    def stream_ids(self) -> list[str]:
        return [account_stream(self.account_id)]


@dataclass(frozen=True)
class FreezeAccount:
    account_id: str
    reason: str

    def stream_ids(self) -> list[str]:
        return [account_stream(self.account_id)]


@dataclass(frozen=True)
class UnfreezeAccount:
    account_id: str
    reason: str

    def stream_ids(self) -> list[str]:
        return [account_stream(self.account_id)]


@dataclass(frozen=True)
class CloseAccount:
    account_id: str
    reason: str

    def stream_ids(self) -> list[str]:
        return [account_stream(self.account_id)]


@dataclass(frozen=True)
class TransferInternal:
    transfer_id: str
    from_account_id: str
    to_account_id: str
    amount: int
    currency: str
    reference: str | None = None

    def stream_ids(self) -> list[str]:
        # A transfer to the same account is refused, but must not list its stream twice.
        return list(dict.fromkeys([account_stream(self.from_account_id), account_stream(self.to_account_id)]))


# Transfers to and from other banks


@dataclass(frozen=True)
class RequestOutboundTransfer:
    transfer_id: str
    account_id: str
    amount: int
    currency: str
    creditor_iban: str
    creditor_name: str
    reference: str | None
    hold_expires_at: datetime

    def stream_ids(self) -> list[str]:
        return [transfer_stream(self.transfer_id), account_stream(self.account_id)]


@dataclass(frozen=True)
class SubmitOutboundTransfer:
    transfer_id: str
    submission_reference: str

    def stream_ids(self) -> list[str]:
        return [transfer_stream(self.transfer_id)]


@dataclass(frozen=True)
class SettleOutboundTransfer:
    transfer_id: str
    account_id: str

    def stream_ids(self) -> list[str]:
        return [transfer_stream(self.transfer_id), account_stream(self.account_id)]


@dataclass(frozen=True)
class RejectOutboundTransfer:
    transfer_id: str
    account_id: str
    reason: str

    def stream_ids(self) -> list[str]:
        return [transfer_stream(self.transfer_id), account_stream(self.account_id)]


@dataclass(frozen=True)
class ExpireOutboundTransfer:
    transfer_id: str
    account_id: str

    def stream_ids(self) -> list[str]:
        return [transfer_stream(self.transfer_id), account_stream(self.account_id)]


@dataclass(frozen=True)
class ReceiveInboundTransfer:
    transfer_id: str
    account_id: str
    amount: int
    currency: str
    debtor_iban: str
    debtor_name: str
    reference: str | None

    def stream_ids(self) -> list[str]:
        return [transfer_stream(self.transfer_id), account_stream(self.account_id)]


Command = (
    RegisterCustomer
    | UpdateCustomerDetails
    | ChangeKycStatus
    | CloseCustomer
    | PlaceLegalHold
    | ReleaseLegalHold
    | EraseCustomer
    | OpenAccount
    | CreditAccount
    | DebitAccount
    | PlaceHold
    | ReleaseHold
    | FreezeAccount
    | UnfreezeAccount
    | CloseAccount
    | TransferInternal
    | RequestOutboundTransfer
    | SubmitOutboundTransfer
    | SettleOutboundTransfer
    | RejectOutboundTransfer
    | ExpireOutboundTransfer
    | ReceiveInboundTransfer
)
