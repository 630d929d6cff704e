"""Account checks and ledger entries shared by account and transfer decisions."""

from __future__ import annotations

from bank_pipeline.domain import events
from bank_pipeline.domain.account import AccountState, Hold
from bank_pipeline.domain.errors import (
    AccountClosed,
    AccountFrozen,
    CurrencyMismatch,
    DomainError,
    InsufficientFunds,
    UnknownAccount,
    UnknownHold,
)
from bank_pipeline.domain.events import EntryFlow
from bank_pipeline.domain.money import Money
from bank_pipeline.domain.states import StreamStates
from bank_pipeline.domain.streams import account_stream


def require_account(states: StreamStates, account_id: str) -> AccountState:
    account = states[account_stream(account_id)]
    if account is None:
        raise _about(UnknownAccount(f"unknown account {account_id}"), account_id)
    assert isinstance(account, AccountState)
    return account


def require_not_closed(account: AccountState) -> None:
    if account.status == "closed":
        raise _about(AccountClosed(f"account {account.account_id} is closed"), account.account_id)


def require_usable(account: AccountState, currency: str) -> None:
    """Money can move in or out: the account is open and holds `currency`."""
    require_not_closed(account)
    if account.status == "frozen":
        raise _about(AccountFrozen(f"account {account.account_id} is frozen"), account.account_id)
    if currency != account.currency:
        raise _about(
            CurrencyMismatch(f"account {account.account_id} holds {account.currency}, not {currency}"),
            account.account_id,
        )


def require_funds(account: AccountState, amount: int) -> None:
    if account.available_balance - amount < -account.overdraft_limit:
        raise InsufficientFunds(
            f"insufficient funds on account {account.account_id}:"
            f" available {Money(account.available_balance, account.currency)}"
            f" + overdraft {Money(account.overdraft_limit, account.currency)},"
            f" requested {Money(amount, account.currency)}"
        )


def require_hold(account: AccountState, hold_id: str) -> Hold:
    hold = account.find_hold(hold_id)
    if hold is None:
        raise UnknownHold(f"account {account.account_id} has no hold {hold_id}")
    return hold


def credit_entry(
    account: AccountState,
    amount: int,
    transfer_id: str,
    flow: EntryFlow,
    counterparty: str | None,
    reference: str | None,
) -> tuple[str, events.AccountCredited]:
    return account_stream(account.account_id), events.AccountCredited(
        account_id=account.account_id,
        transfer_id=transfer_id,
        amount=amount,
        currency=account.currency,
        balance_after=account.ledger_balance + amount,
        flow=flow,
        counterparty=counterparty,
        reference=reference,
    )


def debit_entry(
    account: AccountState,
    amount: int,
    transfer_id: str,
    flow: EntryFlow,
    counterparty: str | None,
    reference: str | None,
) -> tuple[str, events.AccountDebited]:
    return account_stream(account.account_id), events.AccountDebited(
        account_id=account.account_id,
        transfer_id=transfer_id,
        amount=amount,
        currency=account.currency,
        balance_after=account.ledger_balance - amount,
        flow=flow,
        counterparty=counterparty,
        reference=reference,
    )


def release_hold_entry(
    account: AccountState, hold: Hold, reason: events.HoldReleaseReason
) -> tuple[str, events.HoldReleased]:
    return account_stream(account.account_id), events.HoldReleased(
        account_id=account.account_id, hold_id=hold.hold_id, amount=hold.amount, reason=reason
    )


def _about(error: DomainError, account_id: str) -> DomainError:
    """Name the account a refusal is about, so a caller can tell its own account's state from another's (the API
    must not show a customer another customer's account state)."""
    error.account_id = account_id
    return error
