-- Positions are handed out before commit, so "everything up to the highest position I have seen"
-- is not safe: a lower position may still commit. A transaction id below the snapshot's xmin
-- belongs to a finished transaction, and every transaction that writes later gets a higher id.
-- So events whose transaction_id < read_horizon() are final, and reading them in
-- (transaction_id, global_position) order never skips one that commits late.
CREATE FUNCTION event_store.read_horizon() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
RETURN pg_snapshot_xmin(pg_current_snapshot())::text::bigint;

-- The hash chain link of one event: sha256 over the previous hash and everything that identifies and
-- describes the event. Fixed-width fields in PostgreSQL's binary send format (big-endian integers,
-- timestamps as microseconds since 2000-01-01 UTC, uuid as 16 bytes), then each text field prefixed by its
-- byte length, jsonb as its canonical text (keys sorted, fixed spacing). docs/design.md spells it out for
-- auditors who recompute it elsewhere.
-- STABLE, not IMMUTABLE, because convert_to is: a function may only be inlined into its caller's
-- query (instead of being run as a nested query per row) if it claims no more than its body is.
CREATE FUNCTION event_store.length_prefixed(value text) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN int4send(octet_length(value)) || convert_to(value, 'UTF8');

CREATE FUNCTION event_store.event_hash(
    previous_hash bytea, global_position bigint, stream_id text, stream_version bigint,
    event_type text, schema_version integer, event_id uuid, occurred_at timestamptz,
    recorded_at timestamptz, payload jsonb, metadata jsonb
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN sha256(previous_hash || int8send(global_position) || int8send(stream_version) || int4send(schema_version)
    || uuid_send(event_id) || timestamptz_send(occurred_at) || timestamptz_send(recorded_at)
    || event_store.length_prefixed(stream_id) || event_store.length_prefixed(event_type)
    || event_store.length_prefixed(payload::text) || event_store.length_prefixed(metadata::text));
