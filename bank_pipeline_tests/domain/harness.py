"""An in-memory event store for driving the domain the way the command handlers do."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, settings

from bank_pipeline.domain.aggregates import AccountState, State, TransferState, evolve
from bank_pipeline.domain.commands import ChangeKycStatus, Command, OpenAccount, RegisterCustomer
from bank_pipeline.domain.decide import decide
from bank_pipeline.domain.events import DomainEvent
from bank_pipeline.domain.streams import account_stream, transfer_stream

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# No example database: the tests must leave no files behind.
FAST = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Bank:
    def __init__(self) -> None:
        self.streams: dict[str, list[DomainEvent]] = {}
        # The state of each stream, kept up to date as events are appended (as the store's snapshots are).
        self.states: dict[str, State] = {}

    def state(self, stream_id: str) -> State | None:
        return self.states.get(stream_id)

    def states_for(self, command: Command) -> dict[str, State | None]:
        return {stream_id: self.state(stream_id) for stream_id in command.stream_ids()}

    def decide(self, command: Command, now: datetime = NOW) -> list[tuple[str, DomainEvent]]:
        return decide(command, self.states_for(command), now)

    def execute(self, command: Command, now: datetime = NOW) -> list[tuple[str, DomainEvent]]:
        appended = self.decide(command, now)
        for stream_id, event in appended:
            self.streams.setdefault(stream_id, []).append(event)
            self.states[stream_id] = evolve(self.states.get(stream_id), event)
        return appended

    def account(self, account_id: str) -> AccountState:
        state = self.state(account_stream(account_id))
        assert isinstance(state, AccountState)
        return state

    def transfer(self, transfer_id: str) -> TransferState:
        state = self.state(transfer_stream(transfer_id))
        assert isinstance(state, TransferState)
        return state


def bank_with_accounts(*accounts: tuple[str, str, int]) -> Bank:
    """A verified customer C1 owning the given (account id, currency, overdraft limit) accounts."""
    bank = Bank()
    bank.execute(RegisterCustomer("C1", "Ada Lovelace", "ada@example.com", "1 Analytical St"))
    bank.execute(ChangeKycStatus("C1", "verified"))
    for account_id, currency, overdraft_limit in accounts:
        bank.execute(OpenAccount(account_id, "C1", currency, overdraft_limit=overdraft_limit))
    return bank
