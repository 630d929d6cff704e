"""Group commit: many concurrent callers, one committer, one append per group of commands.

CommandHandler.execute costs two round trips and one transaction per command, and most of that is fixed
cost (protocol, plan execution, commit). A process serving many requests at once (the API, ingestion)
hands its commands to a CommandBus instead:

- The committer thread takes whatever commands are waiting (a group), decides them one after another,
  in arrival order, against the same in-memory states, as if they ran serially.
- It appends the whole group's events in one atomic call (event_store.append_commands, in
  sql/008_event_store_append_and_group_commit.sql) that checks the version of every stream the group
  read, and stores each command's idempotency key.
- Stream states stay cached between groups. A stream another process changed meanwhile fails the
  version check: nothing is written, the cache is dropped, and the group is decided again on fresh state.
- Idempotency keys are not looked up before deciding: a key already stored fails the append, and the
  group is decided again with its keys looked up, so a repeated request replays its first result.
- Appends run on an appender thread with its own connection. While one group is being written, the
  committer keeps deciding what arrives into the next, assuming the first succeeds: if it does not, the
  next one's version checks fail too and both are decided again. The next group is sent as soon as the
  slot frees, so groups grow with load. With appenders > 1 several groups are written at once, and
  PostgreSQL's stream locks order those that share a stream.

Each caller gets what CommandHandler.execute would have given it: the CommandResult, the domain's
refusal, the earlier result of a repeated idempotency key, or IdempotencyConflict. A refusal is only
reported once the state it was based on has been confirmed by an append's version check or a re-read.
The pool needs appenders + 1 connections: the committer's reads and the appenders' writes overlap.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from bank_pipeline.application.handler import (
    CommandHandler,
    CommandIdentity,
    CommandResult,
    RetriesExhausted,
    applied_result,
    carries_personal_data,
    decide_and_evolve,
    erased_customers,
    replayed_result,
    request_hash,
)
from bank_pipeline.domain.aggregates import SNAPSHOT_VERSION, state_to_snapshot
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.store import AppendResult, ConcurrencyError, IdempotencyConflict, KeyTakenMeanwhile, NewEvent

log = logging.getLogger(__name__)
MAX_CACHED_STREAMS = 200_000  # beyond this the cache is dropped between groups, and refilled on demand
MAX_RECENT_KEYS = 100_000


class BusClosed(RuntimeError):
    """The bus was closed before this command was submitted."""


class _StaleState(Exception):
    """A refusal was based on a cached state that another writer has moved on from."""


class _BrokenCommand(Exception):
    """Deciding one command raised something other than a refusal (a bug, or input the domain did not
    expect). That caller hears of it; the commands decided with it are decided again without it."""

    def __init__(self, pending: _Pending, error: Exception):
        super().__init__(str(error))
        self.pending, self.error = pending, error


@dataclass
class _Pending:
    command: Any
    idempotency_key: str | None
    fingerprint: bytes
    command_id: uuid.UUID
    metadata: dict[str, str]
    occurred_at: datetime | None = None  # business time; None = when the group is decided
    future: Future = field(default_factory=Future)
    attempts: int = 0  # failed appends this command caused (a stream it read moved on, its key was taken)
    look_up_key: bool = False  # set when a group failed: its key may have been stored meanwhile


@dataclass
class _Group:
    """One group's decisions, waiting for its append (if it has events) before its callers hear."""

    outcomes: list[tuple[_Pending, Any]]  # (pending, CommandResult | exception | _Accepted), in order
    events: list[NewEvent]
    read_versions: dict[str, int]  # every stream the group read, at the version it read

    @property
    def pendings(self) -> list[_Pending]:
        return [pending for pending, _ in self.outcomes]

    def refusals(self) -> list[_Pending]:
        return [pending for pending, outcome in self.outcomes if isinstance(outcome, DomainError)]


@dataclass
class _Accepted:
    first_event: int
    event_count: int
    decisions: list


class CommandBus:
    """Thread-safe. Use as a context manager, or call close(): it finishes what was submitted."""

    def __init__(self, handler: CommandHandler, *, max_group: int = 64, appenders: int = 1):
        self.handler = handler
        self.store = handler.store
        self.max_group = max_group
        self.groups_appended = 0  # appends made (each carries one group's events)
        self.conflicts = 0  # groups decided again because another writer changed one of their streams
        self._waiting: deque[_Pending] = deque()
        self._wakeup = threading.Condition()
        self._closed = False
        # Committer thread only: stream id -> (state, version), including the in-flight groups' events.
        self._cache: dict[str, tuple[Any, int]] = {}
        self._lock = threading.Lock()  # guards what the appender threads share with the committer:
        self._cache_is_stale = False  # an append failed: its events never happened
        self._recent_keys: OrderedDict[str, None] = OrderedDict()  # keys this bus stored: a retry is looked up
        self._keys_in_flight: set[str] = set()
        self._appending = 0  # groups sent and not yet answered (guarded by _wakeup)
        self._appenders = appenders
        self._appender = ThreadPoolExecutor(max_workers=appenders, thread_name_prefix="command-bus-append")
        self._committer = threading.Thread(target=self._commit_forever, name="command-bus", daemon=True)
        self._committer.start()

    def __enter__(self) -> CommandBus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(
        self,
        command: Any,
        *,
        idempotency_key: str | None = None,
        actor: str = "system",
        correlation_id: str | None = None,
        causation_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Future[CommandResult]:
        """Queue `command`; the future resolves to its CommandResult or raises what execute() would."""
        identity = CommandIdentity.of(command, idempotency_key, actor, correlation_id, causation_id)
        pending = _Pending(
            command, idempotency_key, identity.fingerprint, identity.command_id, identity.metadata, occurred_at
        )
        with self._wakeup:
            if self._closed:
                raise BusClosed("the command bus is closed")
            self._waiting.append(pending)
            self._wakeup.notify_all()
        return pending.future

    def execute(self, command: Any, **options: Any) -> CommandResult:
        """submit() and wait: the same contract as CommandHandler.execute."""
        return self.submit(command, **options).result()

    def close(self) -> None:
        with self._wakeup:
            self._closed = True
            self._wakeup.notify_all()
        self._committer.join()
        self._appender.shutdown()

    # -- the committer thread ---------------------------------------------------------------------

    def _commit_forever(self) -> None:
        forming: _Group | None = None  # decided, waiting for an append slot; grows with what arrives
        held: list[_Pending] = []  # repeats of a key in the forming group: they wait until it is sent
        while True:
            with self._wakeup:
                while True:
                    room = self.max_group - (len(forming.pendings) if forming else 0)
                    slot_free = self._appending < self._appenders
                    if (self._waiting and room > 0) or (forming is not None and slot_free):
                        break
                    if self._closed and forming is None and not self._waiting and not self._appending:
                        return  # everything submitted has been answered
                    self._wakeup.wait()
                pendings = [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
            with self._lock:
                stale = self._cache_is_stale
            if stale and forming is not None:
                # A group in flight failed: the forming group saw its events. Decide it all again.
                pendings, forming = forming.pendings + pendings, None
            if pendings:
                try:
                    forming, later = self._decide(pendings, forming)
                    held.extend(later)
                except _BrokenCommand as broken:
                    broken.pending.future.set_exception(broken.error)
                    everyone = {id(p): p for p in (forming.pendings if forming else []) + pendings}
                    others = [p for p in everyone.values() if p is not broken.pending]
                    with self._lock:
                        self._cache_is_stale = True
                    with self._wakeup:
                        self._waiting.extendleft(reversed(others))
                    forming = None
                except BaseException as error:  # noqa: BLE001 - e.g. the database is down: tell the callers
                    self._fail(pendings + (forming.pendings if forming else []), error)
                    with self._lock:
                        self._cache_is_stale = True
                    forming = None
                continue  # decide whatever else arrived first: the group grows while the slot is busy
            self._start(forming)
            forming = None
            if held:
                with self._wakeup:
                    self._waiting.extendleft(reversed(held))
                held = []

    def _decide(self, pendings: list[_Pending], group: _Group | None) -> tuple[_Group, list[_Pending]]:
        """Decide `pendings` on the cached states (which include the events of the groups in flight and of
        `group`), adding them to `group`, or to a new one. Also returns the pendings whose key is already
        in the group or in flight: they must wait for that request's result."""
        with self._lock:
            # Only between groups: the forming group's later commands must see its earlier ones' events.
            if group is None and (self._cache_is_stale or len(self._cache) > MAX_CACHED_STREAMS):
                self._cache.clear()
                self._cache_is_stale = False
            keys_in_flight = set(self._keys_in_flight)
            recent_keys = {p.idempotency_key for p in pendings if p.idempotency_key in self._recent_keys}
        stream_ids = list(dict.fromkeys(s for p in pendings for s in p.command.stream_ids()))
        missing = [s for s in stream_ids if s not in self._cache]
        # Keys this bus has not stored are not looked up: storing one that exists fails the append
        # (KeyTakenMeanwhile) and the group is decided again with its keys looked up. A refused command's
        # key is looked up before the refusal is reported.
        keys = list(
            dict.fromkeys(
                p.idempotency_key
                for p in pendings
                if p.idempotency_key and (p.look_up_key or p.idempotency_key in recent_keys)
            )
        )
        heads, earlier = self.store.command_context(missing, keys) if missing or keys else ({}, {})
        vault = self.handler.personal_data
        vault.prepare(p.command for p in pendings)  # the keys to seal with, in one round trip
        for pending in pendings:  # a keyed fingerprint of personal fields needs the customer's key (request_hash)
            if pending.idempotency_key and carries_personal_data(pending.command):
                pending.fingerprint = request_hash(pending.command, vault.fingerprint_key(pending.command))
        if missing:
            states, versions = self.handler.states_of(missing, heads)
            for stream_id in missing:
                self._cache[stream_id] = (states[stream_id], versions[stream_id])

        states = {s: self._cache[s][0] for s in stream_ids}
        if group is None:
            group = _Group(outcomes=[], events=[], read_versions={})
        for stream_id in stream_ids:  # the version before the group's own events
            group.read_versions.setdefault(stream_id, self._cache[stream_id][1])
        later: list[_Pending] = []
        keys_in_group: set[str | None] = {p.idempotency_key for p in group.pendings}
        first_new_event = len(group.events)
        now = self.handler.clock()
        for pending in pendings:
            key = pending.idempotency_key
            if key is not None and (key in keys_in_group or key in keys_in_flight):
                later.append(pending)  # a repeated key waits for the first request's result
                continue
            keys_in_group.add(key)
            if key in earlier:
                group.outcomes.append((pending, _replayed(pending, earlier[key])))
                continue
            try:
                decisions, new_events = decide_and_evolve(
                    pending.command, states, pending.occurred_at or now, pending.metadata,
                    self.handler.personal_data.seal,
                )  # fmt: skip
            except DomainError as refusal:
                group.outcomes.append((pending, refusal))
                continue
            except Exception as error:  # noqa: BLE001 - the group is decided again without this command
                raise _BrokenCommand(pending, error) from error
            group.outcomes.append((pending, _Accepted(len(group.events), len(new_events), decisions)))
            group.events.extend(new_events)
        for event in group.events[first_new_event:]:  # provisionally: the cache is dropped if the append fails
            state, version = states[event.stream_id], self._cache[event.stream_id][1] + 1
            self._cache[event.stream_id] = (state, version)
        return group, later

    def _start(self, group: _Group) -> None:
        """Send the group's append to an appender thread, which answers its callers when it returns."""
        if not group.events:
            # Nothing to append: the refusals are confirmed by a re-read, once the groups in flight (whose
            # events they saw) are answered.
            with self._wakeup:
                while self._appending:
                    self._wakeup.wait()
            self._answer(group, [])
            return
        snapshots = {s: state_to_snapshot(self._cache[s][0]) for s in {e.stream_id for e in group.events}}
        keyed = [
            (pending.idempotency_key, pending.fingerprint, outcome.first_event, outcome.event_count)
            for pending, outcome in group.outcomes
            if isinstance(outcome, _Accepted) and pending.idempotency_key and outcome.event_count
        ]
        with self._lock:
            self._keys_in_flight.update(p.idempotency_key for p in group.pendings if p.idempotency_key)
        with self._wakeup:
            self._appending += 1
        append = self._appender.submit(
            self.store.append_commands,
            group.events,
            group.read_versions,  # refused commands' streams too: their refusal is confirmed with the rest
            keyed,
            snapshots=snapshots,
            snapshot_version=SNAPSHOT_VERSION,
        )
        append.add_done_callback(lambda done: self._settle(group, done))

    # -- the appender threads ---------------------------------------------------------------------

    def _settle(self, group: _Group, append: Future) -> None:
        """The group's append returned: answer its callers, or send it back to be decided again."""
        try:
            try:
                rows = append.result()
            except (ConcurrencyError, KeyTakenMeanwhile) as lost:
                with self._lock:
                    self.conflicts += 1
                self._forget(group, stale=True)
                self._retry(group.pendings, blamed=partial(_caused, lost=lost))
                return
            except BaseException as error:  # noqa: BLE001 - e.g. the database is down: tell the callers
                self._forget(group, stale=True)
                self._fail(group.pendings, error)
                return
            self._forget(group, stale=False)
            self._answer(group, rows)
        finally:
            with self._wakeup:
                self._appending -= 1
                self._wakeup.notify_all()

    def _forget(self, group: _Group, *, stale: bool) -> None:
        """The group is no longer in flight; remember its keys when it was stored."""
        with self._lock:
            keys = [p.idempotency_key for p in group.pendings if p.idempotency_key]
            self._keys_in_flight.difference_update(keys)
            if stale:
                self._cache_is_stale = True
                return
            self.groups_appended += 1
            for key in keys:
                self._recent_keys[key] = None
            while len(self._recent_keys) > MAX_RECENT_KEYS:
                self._recent_keys.popitem(last=False)

    def _answer(self, group: _Group, rows: list[tuple[int, str, int, int]]) -> None:
        erased = [
            c
            for _, outcome in group.outcomes
            if isinstance(outcome, _Accepted)
            for c in erased_customers(outcome.decisions)
        ]
        if erased:
            # A group's append cannot destroy keys in its transaction: they are destroyed right after it, before
            # the callers hear. A crash in between leaves a key that `personal_data.erasure.sweep` destroys.
            try:
                self.handler.personal_data.destroy(erased)
            except Exception:  # noqa: BLE001 - the erasure is stored; the sweep finishes it
                log.exception("could not destroy the keys of erased customers %s; the erasure sweep will", erased)
        try:
            earlier = self._confirm_refusals(group, appended=bool(rows))
        except _StaleState:
            with self._lock:
                self.conflicts += 1
                self._cache_is_stale = True
            refused = group.refusals()
            self._retry(group.pendings, blamed=lambda pending: pending in refused)
            return
        for pending, outcome in group.outcomes:
            if isinstance(outcome, _Accepted):
                mine = rows[outcome.first_event : outcome.first_event + outcome.event_count]
                appended = AppendResult.of_rows(mine) if mine else AppendResult((), {}, 0, replayed=False)
                pending.future.set_result(applied_result(pending.command_id, appended, outcome.decisions))
            elif isinstance(outcome, DomainError) and pending.idempotency_key in earlier:
                replay = _replayed(pending, earlier[pending.idempotency_key])
                if isinstance(replay, IdempotencyConflict):  # the key was used for another request: raise it
                    pending.future.set_exception(replay)
                else:
                    pending.future.set_result(replay)
            elif isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    def _confirm_refusals(self, group: _Group, *, appended: bool) -> dict[str, tuple[bytes, AppendResult]]:
        """A refused command with a key may be a retry of a request that succeeded (then it replays), and
        without an append no version check has confirmed the state the refusals saw: one re-read does both."""
        refusals = group.refusals()
        refused_keys = [p.idempotency_key for p in refusals if p.idempotency_key]
        if not refusals or (appended and not refused_keys):
            return {}
        streams = [] if appended else list(dict.fromkeys(s for p in refusals for s in p.command.stream_ids()))
        heads, earlier = self.store.command_context(streams, refused_keys)
        if any((heads[s].version if s in heads else 0) != group.read_versions[s] for s in streams):
            raise _StaleState
        return earlier

    def _retry(self, pendings: list[_Pending], blamed: Callable[[_Pending], bool] = lambda pending: False) -> None:
        """Back to the front of the queue; only the commands `blamed` for the failure use up an attempt."""
        retried, exhausted = [], []
        for pending in (p for p in pendings if not p.future.done()):
            pending.attempts += blamed(pending)
            pending.look_up_key = True
            (exhausted if pending.attempts >= self.handler.max_attempts else retried).append(pending)
        self._fail(exhausted, RetriesExhausted("the command lost every race for its streams; retry later"))
        with self._wakeup:
            self._waiting.extendleft(reversed(retried))
            self._wakeup.notify_all()

    @staticmethod
    def _fail(pendings: list[_Pending], error: BaseException) -> None:
        for pending in pendings:
            if not pending.future.done():
                pending.future.set_exception(error)


def _caused(pending: _Pending, lost: ConcurrencyError | KeyTakenMeanwhile) -> bool:
    if isinstance(lost, ConcurrencyError):
        return lost.stream_id in pending.command.stream_ids()
    return pending.idempotency_key == lost.key


def _replayed(pending: _Pending, earlier: tuple[bytes, AppendResult]) -> CommandResult | IdempotencyConflict:
    """replayed_result as an outcome to hand the caller later."""
    try:
        return replayed_result(pending.idempotency_key or "?", pending.fingerprint, earlier)
    except IdempotencyConflict as conflict:
        return conflict
