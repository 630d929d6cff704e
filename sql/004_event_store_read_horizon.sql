-- Positions are handed out before commit, so "everything up to the highest position I have seen"
-- is not safe: a lower position may still commit. A transaction id below the snapshot's xmin
-- belongs to a finished transaction, and every transaction that writes later gets a higher id.
-- So events whose transaction_id < read_horizon() are final, and reading them in
-- (transaction_id, global_position) order never skips one that commits late.
CREATE FUNCTION event_store.read_horizon() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
RETURN pg_snapshot_xmin(pg_current_snapshot())::text::bigint;

CREATE FUNCTION event_store.epoch_micros(ts timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (extract(epoch FROM ts) * 1000000)::bigint;

-- The hash chain link of one event. Everything that identifies and describes the event is hashed,
-- in a fixed text form (jsonb's text output is canonical: keys sorted, fixed spacing).
CREATE FUNCTION event_store.event_hash(
    previous_hash bytea, global_position bigint, stream_id text, stream_version bigint,
    event_type text, schema_version integer, event_id uuid, occurred_at timestamptz,
    recorded_at timestamptz, payload jsonb, metadata jsonb
) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN sha256(previous_hash || convert_to(concat_ws(E'\n',
    global_position, stream_id, stream_version, event_type, schema_version, event_id,
    event_store.epoch_micros(occurred_at), event_store.epoch_micros(recorded_at),
    payload::text, metadata::text), 'UTF8'));
