-- The write side: streams, their events, idempotency keys and audit digests.
CREATE SCHEMA IF NOT EXISTS event_store;

-- Global positions are handed out before commit, so they can commit out of order.
-- Readers therefore follow (transaction_id, global_position): see 004 and docs/design.md.
CREATE SEQUENCE event_store.global_position_seq AS bigint;

-- One row per stream: its current version, the head of its hash chain, and a cached snapshot
-- of the aggregate state after that version (a cache: the events stay the truth).
CREATE TABLE event_store.streams (
    stream_id        text PRIMARY KEY,
    category         text NOT NULL,
    version          bigint NOT NULL CHECK (version > 0),
    last_hash        bytea NOT NULL,
    last_transaction_id bigint NOT NULL,  -- must only grow: see append_events
    snapshot         jsonb,
    snapshot_version integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE event_store.events (
    global_position bigint      NOT NULL,
    transaction_id  bigint      NOT NULL,  -- pg_current_xact_id() of the writer
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    event_id        uuid        NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL,  -- business time
    recorded_at     timestamptz NOT NULL,  -- system time, the partition key
    previous_hash   bytea       NOT NULL,
    hash            bytea       NOT NULL,
    PRIMARY KEY (global_position, recorded_at)
) PARTITION BY RANGE (recorded_at);

-- Streams are read by version; subscribers read in (transaction_id, global_position) order.
CREATE INDEX events_stream_idx ON event_store.events (stream_id, stream_version);
CREATE INDEX events_delivery_order_idx ON event_store.events (transaction_id, global_position);

-- Same key + same request hash -> the original result; same key + other request -> refused.
CREATE TABLE event_store.idempotency_keys (
    idempotency_key  text PRIMARY KEY,
    request_hash     bytea NOT NULL,
    global_positions bigint[] NOT NULL,
    stream_ids       text[] NOT NULL,
    stream_versions  bigint[] NOT NULL,
    transaction_id   bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Periodic digests over consecutive ranges of the delivery order; each chains to the previous one.
CREATE TABLE event_store.digests (
    digest_number        bigint PRIMARY KEY,
    after_transaction_id bigint NOT NULL,
    after_position       bigint NOT NULL,
    last_transaction_id  bigint NOT NULL,
    last_position        bigint NOT NULL,
    event_count          bigint NOT NULL CHECK (event_count > 0),
    previous_digest      bytea NOT NULL,
    digest               bytea NOT NULL,
    sealed_at            timestamptz NOT NULL DEFAULT now()
);
