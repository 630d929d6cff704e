"""The write side of personal data: the personal fields of CustomerRegistered and CustomerDetailsUpdated are
sealed with the customer's data key after the domain decided and before the events evolve the states, so the
stored payloads and the cached snapshots hold ciphertext only. Both write paths (CommandHandler, CommandBus)
seal through `PersonalDataVault.seal`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from psycopg_pool import ConnectionPool

from bank_pipeline.domain import errors
from bank_pipeline.domain.commands import RegisterCustomer, UpdateCustomerDetails
from bank_pipeline.domain.events import CustomerDetailsUpdated, CustomerRegistered, DomainEvent
from bank_pipeline.domain.personal_data import PERSONAL_FIELDS
from bank_pipeline.domain.streams import validate_id
from bank_pipeline.personal_data.keys import destroy_keys, get_or_create_keys
from bank_pipeline.personal_data.master_key import master_key
from bank_pipeline.personal_data.sealing import seal_value

#: Data keys kept in memory for sealing (the customers active now); ~100 bytes each.
MAX_CACHED_KEYS = 100_000
_SEALED_EVENTS = (CustomerRegistered, CustomerDetailsUpdated)
#: The commands that carry personal fields.
SEALING_COMMANDS = (RegisterCustomer, UpdateCustomerDetails)


class PersonalDataVault:
    """Thread-safe. Keeps the data keys it sealed with in memory: that is safe after an erasure because the
    domain refuses every command that records personal data for an erased customer, on a state the append's
    version check confirms, and a destroyed key is never made again (keys.py)."""

    def __init__(self, pool: ConnectionPool, *, max_cached_keys: int = MAX_CACHED_KEYS):
        self.pool = pool
        self.max_cached_keys = max_cached_keys
        self._keys: OrderedDict[str, bytes | None] = OrderedDict()
        self._lock = threading.Lock()

    def prepare(self, commands: Iterable[Any]) -> None:
        """Fetch (or make) in one round trip the keys the commands' events will be sealed with: what the
        command bus does before deciding a group."""
        wanted = []
        for command in commands:
            if isinstance(command, SEALING_COMMANDS):
                try:
                    wanted.append(validate_id(command.customer_id, "customer_id"))
                except errors.InvalidCommand:
                    continue  # the domain refuses it
        with self._lock:
            missing = [customer_id for customer_id in dict.fromkeys(wanted) if customer_id not in self._keys]
        if missing:
            self._fetch(missing)

    def seal(self, event: DomainEvent) -> DomainEvent:
        """`event` with its personal fields sealed; any other event as it is. Raises the domain's CustomerErased
        when the customer's key was destroyed (a writer deciding on a stale state)."""
        if not isinstance(event, _SEALED_EVENTS):
            return event
        customer_id = event.customer_id
        key = self._key(customer_id)
        if key is None:
            raise errors.CustomerErased(f"customer {customer_id} is erased: their personal data cannot be recorded")
        sealed = {
            field: seal_value(key, customer_id, field, getattr(event, field))
            for field in PERSONAL_FIELDS
            if getattr(event, field) is not None
        }
        return replace(event, **sealed)

    def fingerprint_key(self, command: Any) -> bytes | None:
        """The data key that fingerprints `command`'s personal fields (application/handler.py request_hash):
        the key its events will be sealed with, made now for a new customer. None when the customer's key was
        destroyed, when the customer id is invalid (the domain refuses the command), or for a command without
        personal fields."""
        if not isinstance(command, SEALING_COMMANDS):
            return None
        try:
            customer_id = validate_id(command.customer_id, "customer_id")
        except errors.InvalidCommand:
            return None
        return self._key(customer_id)

    def forget(self, customer_ids: Sequence[str]) -> None:
        with self._lock:
            for customer_id in customer_ids:
                self._keys.pop(customer_id, None)

    def destroy(self, customer_ids: Sequence[str]) -> None:
        """Destroy the customers' keys in a transaction of its own (the bus, after its append; the sweep)."""
        with self.pool.connection() as conn, conn.transaction():
            destroy_keys(conn, customer_ids)
        self.forget(customer_ids)

    def _key(self, customer_id: str) -> bytes | None:
        with self._lock:
            if customer_id in self._keys:
                self._keys.move_to_end(customer_id)
                return self._keys[customer_id]
        return self._fetch([customer_id])[customer_id]

    def _fetch(self, customer_ids: list[str]) -> dict[str, bytes | None]:
        with self.pool.connection() as conn:
            keys = get_or_create_keys(conn, customer_ids, master_key())
        with self._lock:
            self._keys.update(keys)
            while len(self._keys) > self.max_cached_keys:
                self._keys.popitem(last=False)
        return keys
