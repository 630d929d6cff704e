"""The customers' data keys in personal_data.customer_keys (sql/017), wrapped with the master key.

A destroyed key leaves its row as a tombstone (wrapped_key NULL): no key is ever made again for that customer,
so nothing can be sealed for them after their erasure, even by a writer whose view of them is stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg

from bank_pipeline.domain.personal_data import ERASED_MARKER, PERSONAL_FIELDS
from bank_pipeline.personal_data.master_key import MasterKey, MasterKeyError
from bank_pipeline.personal_data.sealing import new_data_key, unwrap_key, wrap_key

_GET_OR_CREATE = """
WITH made AS (
    INSERT INTO personal_data.customer_keys (customer_id, wrapped_key, master_key_id)
    SELECT * FROM unnest(%(ids)s::text[], %(wrapped)s::bytea[], %(master_ids)s::text[])
    ON CONFLICT (customer_id) DO NOTHING
    RETURNING customer_id, wrapped_key, master_key_id
)
SELECT customer_id, wrapped_key, master_key_id FROM made
UNION ALL
SELECT customer_id, wrapped_key, master_key_id FROM personal_data.customer_keys
 WHERE customer_id = ANY(%(ids)s) AND customer_id NOT IN (SELECT customer_id FROM made)
"""

_READ = """
SELECT customer_id, wrapped_key, master_key_id FROM personal_data.customer_keys WHERE customer_id = ANY(%s)
"""

# Destroy the keys (a tombstone for a customer who never had one), and record each erasure once.
_DESTROY = """
INSERT INTO personal_data.customer_keys (customer_id, wrapped_key, master_key_id, destroyed_at)
SELECT customer_id, NULL, '-', now() FROM unnest(%(ids)s::text[]) AS ids(customer_id)
ON CONFLICT (customer_id) DO UPDATE
   SET wrapped_key = NULL, destroyed_at = coalesce(customer_keys.destroyed_at, now())
"""
_RECORD_ERASURES = """
INSERT INTO personal_data.erasures (customer_id, key_destroyed_at)
SELECT customer_id, now() FROM unnest(%(ids)s::text[]) AS ids(customer_id)
ON CONFLICT (customer_id) DO NOTHING
"""

# ingest.quarantine keeps a landing row as received, for a fix and a replay: for a customers row that is the
# customer's name, email and address in plain text. An erasure overwrites them with the marker; the table is
# not append-only (no trigger forbids UPDATE, sql/009), and this is the one update made to a quarantined row.
# The reason text never quotes a personal value (ingest/validation_rules.py, domain/customer_decisions.py).
SCRUB_QUARANTINE = """
UPDATE ingest.quarantine q
   SET record = q.record || (SELECT jsonb_object_agg(f, %(marker)s::text) FROM unnest(%(fields)s::text[]) AS f
                              WHERE q.record ? f AND q.record ->> f IS DISTINCT FROM %(marker)s)
 WHERE q.record ->> 'customer_id' = ANY(%(ids)s)
   AND EXISTS (SELECT 1 FROM unnest(%(fields)s::text[]) AS f
                WHERE q.record ? f AND q.record ->> f IS DISTINCT FROM %(marker)s)
"""


def scrub_quarantine(conn: psycopg.Connection, customer_ids: Sequence[str]) -> int:
    """Overwrite the personal fields of the customers' quarantined landing rows with ERASED_MARKER; returns the
    rows changed. Idempotent."""
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return 0
    params = {"ids": ids, "fields": list(PERSONAL_FIELDS), "marker": ERASED_MARKER}
    return conn.execute(SCRUB_QUARANTINE, params).rowcount


def get_or_create_keys(
    conn: psycopg.Connection, customer_ids: Sequence[str], master: MasterKey
) -> dict[str, bytes | None]:
    """Each customer's data key, made for those without a row; None for a customer whose key was destroyed.
    Two writers making one customer's key at once both get the one stored first."""
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return {}
    wrapped = [wrap_key(master.key, customer_id, new_data_key()) for customer_id in ids]
    params = {"ids": ids, "wrapped": wrapped, "master_ids": [master.key_id] * len(ids)}
    rows = conn.execute(_GET_OR_CREATE, params).fetchall()
    missing = set(ids) - {row[0] for row in rows}
    if missing:  # made by a concurrent writer after this statement's snapshot: read it now
        rows += conn.execute(_READ, (list(missing),)).fetchall()
    return _unwrapped(rows, master)


def read_keys(conn: psycopg.Connection, customer_ids: Iterable[str], master: MasterKey) -> dict[str, bytes | None]:
    """The data keys of the customers that have a row: None for a destroyed one. A customer without a row is
    left out (a customer whose personal data was never sealed)."""
    rows = conn.execute(_READ, (list(dict.fromkeys(customer_ids)),)).fetchall()
    return _unwrapped(rows, master)


def destroy_keys(conn: psycopg.Connection, customer_ids: Sequence[str]) -> None:
    """Destroy the customers' keys, record their erasures and scrub their quarantined landing rows, on the
    caller's connection (and transaction). Destroying a destroyed key changes nothing."""
    ids = list(dict.fromkeys(customer_ids))
    if ids:
        conn.execute(_DESTROY, {"ids": ids})
        conn.execute(_RECORD_ERASURES, {"ids": ids})
        scrub_quarantine(conn, ids)


def _unwrapped(rows: list[tuple], master: MasterKey) -> dict[str, bytes | None]:
    keys: dict[str, bytes | None] = {}
    for customer_id, wrapped, master_key_id in rows:
        if wrapped is None:
            keys[customer_id] = None
            continue
        if master_key_id != master.key_id:
            raise MasterKeyError(
                f"the data key of customer {customer_id} was wrapped with master key {master_key_id}, this process "
                f"has {master.key_id}: set BANK_PIPELINE_PERSONAL_DATA_MASTER_KEY to the bank's master key"
            )
        keys[customer_id] = unwrap_key(master.key, customer_id, bytes(wrapped))
    return keys
