-- Appends events to one or more streams atomically, like Message DB's write_message but for a batch.
--
-- streams: one object per stream involved, {"stream_id", "expected", "snapshot"}:
--   every stream the caller's decision read and every stream that receives events. "expected" is the
--   version the caller saw (0 = must not exist yet, null = any); a mismatch raises BP001 and writes
--   nothing. "snapshot" is the caller's new cached state for a stream that receives events.
-- events: one object per event in append order,
--   {"stream_id", "event_type", "schema_version", "event_id", "payload", "metadata", "occurred_at"}.
-- idempotency_key / request_hash: a repeated key with the same hash returns the original result
--   (replayed = true); with another hash it raises BP002.
--
-- Both arguments are single jsonb documents rather than arrays: one parameter to encode on the client,
-- one to decode here.
--
-- Stream locks are advisory and taken before the transaction writes anything, so a transaction's id
-- is assigned only once it holds every stream it appends to: per stream, transaction ids then grow with
-- versions, and readers ordering by (transaction_id, global_position) see each stream in order.
CREATE FUNCTION event_store.append_events(
    streams          jsonb,
    events           jsonb,
    snapshot_version integer DEFAULT NULL,
    idempotency_key  text DEFAULT NULL,
    request_hash     bytea DEFAULT NULL
) RETURNS TABLE (global_position bigint, stream_id text, stream_version bigint, transaction_id bigint,
                 replayed boolean)
LANGUAGE plpgsql
-- Every statement below reads by key, so one generic plan per connection serves every call (re-planning
-- per call cost about a third of the server time). Index scans are forced so a plan cached while the
-- tables were small (statistics saying "tiny, scan it") stays right as they grow.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    genesis constant bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    previous record;
    mismatch record;
    tx bigint;
    newest_tx bigint;
    event_count integer := jsonb_array_length(events);
    stream_ids text[];
    expected bigint[];
    snapshots jsonb[];
    positions bigint[];
    out_positions bigint[];
    out_streams text[];
    out_versions bigint[];
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'append_events must be the first write of its transaction'
            USING ERRCODE = 'BP004',
                  HINT = 'Append first, then write anything else in the same transaction.';
    END IF;
    IF event_count = 0 THEN
        RAISE EXCEPTION 'append_events needs at least one event' USING ERRCODE = 'BP005';
    END IF;

    IF idempotency_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('idempotency:' || idempotency_key, 0));
        SELECT * INTO previous FROM event_store.idempotency_keys k
         WHERE k.idempotency_key = append_events.idempotency_key;
        IF FOUND THEN
            IF previous.request_hash IS DISTINCT FROM append_events.request_hash THEN
                RAISE EXCEPTION 'idempotency key % was already used for a different request', idempotency_key
                    USING ERRCODE = 'BP002',
                          HINT = 'Use a new idempotency key for a new request.';
            END IF;
            RETURN QUERY SELECT p, s, v, previous.transaction_id, true
                FROM unnest(previous.global_positions, previous.stream_ids, previous.stream_versions) AS r(p, s, v);
            RETURN;
        END IF;
    END IF;

    SELECT array_agg(x->>'stream_id' ORDER BY x->>'stream_id'), array_agg((x->>'expected')::bigint ORDER BY x->>'stream_id'),
           array_agg(x->'snapshot' ORDER BY x->>'stream_id')
      INTO stream_ids, expected, snapshots
      FROM jsonb_array_elements(streams) AS x;

    PERFORM pg_advisory_xact_lock(lock_key)
       FROM (SELECT DISTINCT hashtextextended(s, 0) AS lock_key FROM unnest(stream_ids) AS s ORDER BY 1) AS keys;

    SELECT c.stream_id, c.expected, coalesce(s.version, 0) AS actual, max(s.last_transaction_id) OVER () AS newest,
           c.expected IS NOT NULL AND c.expected <> coalesce(s.version, 0) AS differs
      INTO mismatch
      FROM unnest(stream_ids, expected) AS c(stream_id, expected)
      LEFT JOIN event_store.streams s ON s.stream_id = c.stream_id
     ORDER BY differs DESC
     LIMIT 1;
    IF mismatch.differs THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', mismatch.stream_id, mismatch.actual, mismatch.expected
            USING ERRCODE = 'BP001',
                  DETAIL = json_build_object('stream_id', mismatch.stream_id, 'expected', mismatch.expected,
                                             'actual', mismatch.actual)::text,
                  HINT = 'Reload the stream and decide again.';
    END IF;

    tx := pg_current_xact_id()::text::bigint;
    IF tx <= mismatch.newest THEN
        -- Only possible when the database was restored logically (pg_dump) into a cluster whose
        -- transaction counter is behind the stored events: subscribers would skip new events.
        RAISE EXCEPTION 'transaction id % is not above the stream''s last writer %', tx, mismatch.newest
            USING ERRCODE = 'BP006',
                  HINT = 'The cluster''s transaction counter is behind the event store (logical restore?). '
                         'Advance it past the stored transaction ids before writing: see docs/design.md.';
    END IF;

    -- Positions in append order, whatever order the sequence calls run in.
    SELECT array_agg(p ORDER BY p) INTO positions
      FROM (SELECT nextval('event_store.global_position_seq') AS p FROM generate_series(1, event_count)) AS n;

    WITH RECURSIVE incoming AS (
        SELECT e.ordinal, positions[e.ordinal] AS global_position, e.value->>'stream_id' AS stream_id,
               e.value->>'event_type' AS event_type, (e.value->>'schema_version')::integer AS schema_version,
               (e.value->>'event_id')::uuid AS event_id, e.value->'payload' AS payload,
               e.value->'metadata' AS metadata, (e.value->>'occurred_at')::timestamptz AS occurred_at,
               row_number() OVER (PARTITION BY e.value->>'stream_id' ORDER BY e.ordinal) AS rank
          FROM jsonb_array_elements(events) WITH ORDINALITY AS e(value, ordinal)
    ), chained AS (
        -- Each stream's first new event links to the stored head; each later one to the one before it.
        SELECT i.*, coalesce(s.version, 0) + 1 AS stream_version, coalesce(s.last_hash, genesis) AS previous_hash
          FROM incoming i LEFT JOIN event_store.streams s ON s.stream_id = i.stream_id
         WHERE i.rank = 1
        UNION ALL
        SELECT i.*, c.stream_version + 1, event_store.event_hash(c.previous_hash, c.global_position, c.stream_id,
               c.stream_version, c.event_type, c.schema_version, c.event_id, c.occurred_at, now(), c.payload,
               c.metadata)
          FROM chained c JOIN incoming i ON i.stream_id = c.stream_id AND i.rank = c.rank + 1
    ), inserted AS (
        INSERT INTO event_store.events (global_position, transaction_id, stream_id, stream_version, event_type,
                                        schema_version, event_id, payload, metadata, occurred_at, recorded_at,
                                        previous_hash, hash)
        SELECT c.global_position, tx, c.stream_id, c.stream_version, c.event_type, c.schema_version, c.event_id,
               c.payload, c.metadata, c.occurred_at, now(), c.previous_hash,
               event_store.event_hash(c.previous_hash, c.global_position, c.stream_id, c.stream_version,
                                      c.event_type, c.schema_version, c.event_id, c.occurred_at, now(),
                                      c.payload, c.metadata)
          FROM chained c
        RETURNING events.global_position, events.stream_id, events.stream_version, events.hash
    ), heads AS (
        SELECT DISTINCT ON (i.stream_id) i.stream_id, i.stream_version, i.hash
          FROM inserted i ORDER BY i.stream_id, i.stream_version DESC
    ), new_heads AS (
        SELECT h.*, c.snapshot
          FROM heads h LEFT JOIN unnest(stream_ids, snapshots) AS c(stream_id, snapshot) ON c.stream_id = h.stream_id
    ), updated AS (
        UPDATE event_store.streams s
           SET version = h.stream_version, last_hash = h.hash, last_transaction_id = tx, snapshot = h.snapshot,
               snapshot_version = CASE WHEN h.snapshot IS NULL THEN NULL ELSE append_events.snapshot_version END,
               updated_at = now()
          FROM new_heads h
         WHERE s.stream_id = h.stream_id
        RETURNING s.stream_id
    ), created AS (
        INSERT INTO event_store.streams (stream_id, category, version, last_hash, last_transaction_id, snapshot,
                                         snapshot_version)
        SELECT h.stream_id, split_part(h.stream_id, '-', 1), h.stream_version, h.hash, tx, h.snapshot,
               CASE WHEN h.snapshot IS NULL THEN NULL ELSE append_events.snapshot_version END
          FROM new_heads h
         WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.stream_id = h.stream_id)
        RETURNING 1
    )
    SELECT array_agg(i.global_position ORDER BY i.global_position), array_agg(i.stream_id ORDER BY i.global_position),
           array_agg(i.stream_version ORDER BY i.global_position)
      INTO out_positions, out_streams, out_versions
      FROM inserted i;  -- PostgreSQL runs every data-modifying WITH (updated, created) to completion

    IF idempotency_key IS NOT NULL THEN
        INSERT INTO event_store.idempotency_keys (idempotency_key, request_hash, global_positions, stream_ids,
                                                  stream_versions, transaction_id)
        VALUES (idempotency_key, request_hash, out_positions, out_streams, out_versions, tx);
    END IF;

    PERFORM pg_notify('event_store_appended', tx::text || ':' || out_positions[event_count]);

    RETURN QUERY SELECT p, s, v, tx, false FROM unnest(out_positions, out_streams, out_versions) AS r(p, s, v);
END;
$$;
