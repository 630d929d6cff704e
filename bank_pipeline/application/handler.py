"""The one command path used by the CLI, ingestion, the API and the fraud detector."""

import hashlib
import hmac
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson

from bank_pipeline.domain.aggregates import (
    SNAPSHOT_VERSION,
    evolve,
    fold,
    state_from_snapshot,
    state_to_snapshot,
)
from bank_pipeline.domain.decide import decide
from bank_pipeline.domain.events import CustomerErased, DomainEvent, event_from_stored
from bank_pipeline.domain.personal_data import PERSONAL_FIELDS
from bank_pipeline.domain.serialization import to_json_fields
from bank_pipeline.personal_data.keys import destroy_keys
from bank_pipeline.personal_data.vault import SEALING_COMMANDS, PersonalDataVault
from bank_pipeline.store import (
    AppendResult,
    Checkpoint,
    ConcurrencyError,
    EventStore,
    EventStoreError,
    IdempotencyConflict,
)
from bank_pipeline.store.records import NewEvent, StreamHead


class IncompleteHistory(EventStoreError):
    """A stream's events, hot and archived together, do not start at version 1 without a gap: its state cannot be
    folded (and guessing it would let a command act on the wrong state)."""


class RetriesExhausted(RuntimeError):
    """Every attempt lost a race for the same streams; the command was not applied."""


@dataclass(frozen=True)
class CommandResult:
    command_id: uuid.UUID
    global_positions: tuple[int, ...]
    checkpoint: Checkpoint  # reads can wait until a projection has passed this
    stream_versions: dict[str, int]
    events: tuple[tuple[str, DomainEvent], ...]  # empty when replayed from an idempotency key
    replayed: bool


#: What stands in for the personal part of a fingerprint that cannot be computed (the customer's data key is
#: destroyed, or the command names no valid customer): no HMAC output is all zeros.
_UNVERIFIABLE = bytes(32)


def carries_personal_data(command: Any) -> bool:
    """Whether `command` holds personal fields (RegisterCustomer, UpdateCustomerDetails)."""
    return isinstance(command, SEALING_COMMANDS)


def request_hash(command: Any, data_key: bytes | None = None) -> bytes:
    """A stable fingerprint of a command: the same request always hashes the same.

    It is stored for ever with the command's idempotency key (event_store.idempotency_keys is append-only), so
    it must not confirm personal data once the customer is erased. A command with personal fields (name, email,
    address) is fingerprinted as SHA-256(the other fields) || HMAC-SHA256(a key derived from the customer's
    data key, the personal fields): 64 bytes. Once the data key is destroyed nobody can compute the HMAC
    again, so the stored value no longer tells whether a guessed name or address was the one sent. Without
    `data_key` (destroyed, or the customer id is invalid) the second half is _UNVERIFIABLE: see same_request.
    Any other command: SHA-256 over the whole command, as before."""
    if not carries_personal_data(command):
        body = {"command": type(command).__name__, "fields": to_json_fields(command)}
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()
    fields = to_json_fields(command)
    personal = {name: fields.pop(name, None) for name in PERSONAL_FIELDS}
    body = {"command": type(command).__name__, "fields": fields, "personal": "hmac-sha256/v1"}
    rest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()
    if data_key is None:
        return rest + _UNVERIFIABLE
    mac_key = hmac.new(data_key, f"bank-pipeline/request-hash/v1|{command.customer_id}".encode(), "sha256").digest()
    return rest + hmac.new(mac_key, orjson.dumps(personal, option=orjson.OPT_SORT_KEYS), "sha256").digest()


def same_request(stored: bytes, fingerprint: bytes) -> bool:
    """Whether the request stored under a key (its fingerprint `stored`) is the one fingerprinted now. When the
    personal part of `fingerprint` cannot be computed any more (the customer was erased: the data key the
    stored HMAC was made with is gone), only the rest of the command is compared: the personal fields can no
    longer be told apart, by design, and the key's earlier result stands (nothing new is written for an erased
    customer, whose personal data the domain refuses to record)."""
    if stored == fingerprint:
        return True
    return (
        len(fingerprint) == 64
        and fingerprint[32:] == _UNVERIFIABLE
        and len(stored) == 64
        and hmac.compare_digest(stored[:32], fingerprint[:32])
    )


def command_metadata(
    command: Any, command_id: uuid.UUID, actor: str, correlation_id: str | None = None, causation_id: str | None = None
) -> dict[str, str]:
    """What every event a command causes records about who asked, for what, and in reply to what."""
    command_id_text = str(command_id)
    return {
        "command_id": command_id_text,
        "command_type": type(command).__name__,
        "correlation_id": correlation_id or command_id_text,
        "causation_id": causation_id or command_id_text,
        "actor": actor,
    }


@dataclass(frozen=True)
class CommandIdentity:
    """What a command is known by: its request fingerprint, its id (stable across retries of one
    idempotency key) and the metadata every event it causes records."""

    fingerprint: bytes
    command_id: uuid.UUID
    metadata: dict[str, str]

    @classmethod
    def of(
        cls,
        command: Any,
        idempotency_key: str | None,
        actor: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        *,
        vault: PersonalDataVault | None = None,
    ) -> "CommandIdentity":
        """`vault`: where the customer's data key for the fingerprint of a command with personal fields comes
        from (one look-up, only for a keyed command). Without it such a fingerprint's personal part is left
        unverifiable: the command bus completes it when it decides the command (with the keys it fetched)."""
        command_id = command_id_for(idempotency_key) if idempotency_key else uuid.uuid4()
        metadata = command_metadata(command, command_id, actor, correlation_id, causation_id)
        data_key = None
        if vault is not None and idempotency_key and carries_personal_data(command):
            data_key = vault.fingerprint_key(command)
        return cls(request_hash(command, data_key), command_id, metadata)


def applied_result(command_id: uuid.UUID, appended: AppendResult, decisions: Sequence) -> CommandResult:
    return CommandResult(
        command_id,
        appended.global_positions,
        appended.checkpoint,
        appended.stream_versions,
        tuple(decisions),
        replayed=False,
    )


def replayed_result(key: str, fingerprint: bytes, earlier: tuple[bytes, AppendResult]) -> CommandResult:
    """The result stored under `key` by an earlier request; IdempotencyConflict if that request differed."""
    stored_hash, appended = earlier
    if not same_request(stored_hash, fingerprint):
        raise IdempotencyConflict(key)
    return CommandResult(
        command_id_for(key),
        appended.global_positions,
        appended.checkpoint,
        appended.stream_versions,
        (),
        replayed=True,
    )


def decide_and_evolve(
    command: Any,
    states: dict[str, Any],
    now: datetime,
    metadata: dict[str, str],
    seal: Callable[[DomainEvent], DomainEvent] | None = None,
) -> tuple[list[tuple[str, DomainEvent]], list[NewEvent]]:
    """Let the domain decide `command`, seal the personal fields of its events (`seal`: PersonalDataVault.seal),
    apply them to `states` (in place), and return the decisions and the events to append, sealed: the states,
    the snapshots cached from them and the stored payloads never hold personal data in plain text. Raises a
    DomainError when the command is refused."""
    decisions = decide(command, states, now)
    if seal is not None:
        decisions = [(stream_id, seal(event)) for stream_id, event in decisions]
    new_events = []
    for stream_id, event in decisions:
        states[stream_id] = evolve(states.get(stream_id), event)
        new_events.append(
            NewEvent(stream_id, event.event_type, event.to_payload(), event.schema_version, metadata, now)
        )
    return decisions, new_events


def erased_customers(decisions: Sequence[tuple[str, DomainEvent]]) -> list[str]:
    """The customers a command's events erase: their keys must be destroyed once the events are stored."""
    return [event.customer_id for _, event in decisions if isinstance(event, CustomerErased)]


def command_id_for(idempotency_key: str) -> uuid.UUID:
    """Retries of one request (same key) are one command."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"bank-pipeline:{idempotency_key}")


class CommandHandler:
    def __init__(
        self,
        store: EventStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_attempts: int = 10,
        personal_data: PersonalDataVault | None = None,
    ):
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.personal_data = personal_data or PersonalDataVault(store.pool)

    def execute(
        self,
        command: Any,
        *,
        idempotency_key: str | None = None,
        actor: str = "system",
        correlation_id: str | None = None,
        causation_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> CommandResult:
        """Decide and append `command`. Raises a DomainError when the domain refuses it (nothing written),
        IdempotencyConflict when the key was used for another request. `occurred_at`: the business time
        of what the command records (a booking time from a landing file); default now."""
        identity = CommandIdentity.of(
            command, idempotency_key, actor, correlation_id, causation_id, vault=self.personal_data
        )
        for _ in range(self.max_attempts):
            try:
                return self._attempt(
                    command, identity.command_id, identity.metadata, idempotency_key, identity.fingerprint,
                    occurred_at,
                )  # fmt: skip
            except ConcurrencyError:
                continue
        raise RetriesExhausted(f"{type(command).__name__} lost {self.max_attempts} races for its streams; retry later")

    def _attempt(self, command, command_id, metadata, idempotency_key, fingerprint, occurred_at) -> CommandResult:
        stream_ids = list(dict.fromkeys(command.stream_ids()))
        # A retried request (same key) gets the original result without deciding again.
        heads, earlier = self.store.command_context(stream_ids, [idempotency_key] if idempotency_key else [])
        if idempotency_key in earlier:
            return replayed_result(idempotency_key, fingerprint, earlier[idempotency_key])
        states, versions = self.states_of(stream_ids, heads)
        decisions, new_events = decide_and_evolve(
            command, states, occurred_at or self.clock(), metadata, self.personal_data.seal
        )
        append = partial(
            self.store.append,
            new_events,
            versions,
            snapshots={s: state_to_snapshot(states[s]) for s in {e.stream_id for e in new_events}},
            snapshot_version=SNAPSHOT_VERSION,
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
        )
        erased = erased_customers(decisions)
        if erased:
            # The erasure and the destruction of the key commit together: no crash can leave one without the other.
            with self.store.pool.connection() as conn, conn.transaction():
                result = append(conn=conn)
                if not result.replayed:
                    destroy_keys(conn, erased)
            self.personal_data.forget(erased)
        else:
            result = append()
        if result.replayed:  # a concurrent request with the same key won the race
            return replayed_result(idempotency_key, fingerprint, (fingerprint, result))
        return applied_result(command_id, result, decisions)

    def load(self, stream_ids: Sequence[str]) -> tuple[dict[str, Any], dict[str, int]]:
        """Current state and version of each stream: from the cached snapshot when it is current,
        else by folding the stream's events (upcast to their current schema)."""
        return self.states_of(stream_ids, self.store.stream_heads(stream_ids))

    def states_of(
        self, stream_ids: Sequence[str], heads: dict[str, StreamHead]
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """Each stream's state and version from its head: the cached snapshot when it is current, else a
        fold of its events."""
        states: dict[str, Any] = {}
        versions: dict[str, int] = {}
        for stream_id in stream_ids:
            head = heads.get(stream_id)
            versions[stream_id] = head.version if head else 0
            if head is None:
                states[stream_id] = None
            elif head.snapshot is not None and head.snapshot_version == SNAPSHOT_VERSION:
                states[stream_id] = state_from_snapshot(head.snapshot)
            else:
                states[stream_id] = self.fold_stream(stream_id)
        return states, versions

    def fold_stream(self, stream_id: str) -> Any:
        """The state of a stream from its events alone, ignoring any snapshot: the archived ones first when its
        early events were moved to the archive."""
        events = self.store.read_stream(stream_id)
        if not events or events[0].stream_version != 1:
            from bank_pipeline.archive.reading import read_archived_stream  # rare: only without a current snapshot

            with self.store.pool.connection() as conn:
                archived = read_archived_stream(conn, stream_id)
            first_hot = events[0].stream_version if events else None
            events = [e for e in archived if first_hot is None or e.stream_version < first_hot] + events
        if [e.stream_version for e in events] != list(range(1, len(events) + 1)):
            raise IncompleteHistory(f"{stream_id}: its events are not versions 1..{len(events)} hot or archived")
        return fold(event_from_stored(e.event_type, e.schema_version, e.payload) for e in events)
