-- Appends events to one or more streams atomically, like Message DB's write_message but for a batch.
--
-- checked_streams / expected_versions: every stream the caller's decision read, with the version it saw
--   (0 = the stream must not exist yet, NULL = any version). A mismatch raises BP001 and writes nothing.
-- snapshots: the caller's new cached state for each checked stream that receives events.
-- event_*: one element per event, in append order.
-- idempotency_key / request_hash: a repeated key with the same hash returns the original result
--   (replayed = true); with another hash it raises BP002.
--
-- Stream locks are advisory and taken before the transaction writes anything, so a transaction's id
-- is assigned only once it holds every stream it appends to: per stream, transaction ids then grow with
-- versions, and readers ordering by (transaction_id, global_position) see each stream in order.
CREATE FUNCTION event_store.append_events(
    checked_streams   text[],
    expected_versions bigint[],
    snapshots         jsonb[],
    snapshot_version  integer,
    event_streams     text[],
    event_types       text[],
    schema_versions   integer[],
    event_ids         uuid[],
    payloads          jsonb[],
    metadatas         jsonb[],
    occurred_ats      timestamptz[],
    idempotency_key   text DEFAULT NULL,
    request_hash      bytea DEFAULT NULL
) RETURNS TABLE (global_position bigint, stream_id text, stream_version bigint, transaction_id bigint,
                 replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    genesis constant bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    previous record;
    mismatch record;
    event record;
    tx bigint;
    newest_tx bigint;
    recorded timestamptz := now();
    distinct_streams text[];
    stream_heads_version bigint[];
    stream_heads_hash bytea[];
    out_positions bigint[] := '{}';
    out_versions bigint[] := '{}';
    out_previous bytea[] := '{}';
    out_hashes bytea[] := '{}';
    new_position bigint;
    new_version bigint;
    new_hash bytea;
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'append_events must be the first write of its transaction'
            USING ERRCODE = 'BP004',
                  HINT = 'Append first, then write anything else in the same transaction.';
    END IF;
    IF coalesce(cardinality(event_streams), 0) = 0 THEN
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

    PERFORM pg_advisory_xact_lock(lock_key)
       FROM (SELECT DISTINCT hashtextextended(s, 0) AS lock_key
               FROM unnest(checked_streams || event_streams) AS s ORDER BY 1) AS keys;

    SELECT c.stream_id, c.expected, coalesce(s.version, 0) AS actual INTO mismatch
      FROM unnest(checked_streams, expected_versions) AS c(stream_id, expected)
      LEFT JOIN event_store.streams s ON s.stream_id = c.stream_id
     WHERE c.expected IS NOT NULL AND c.expected <> coalesce(s.version, 0)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', mismatch.stream_id, mismatch.actual, mismatch.expected
            USING ERRCODE = 'BP001',
                  DETAIL = json_build_object('stream_id', mismatch.stream_id, 'expected', mismatch.expected,
                                             'actual', mismatch.actual)::text,
                  HINT = 'Reload the stream and decide again.';
    END IF;

    SELECT array_agg(d.stream_id ORDER BY d.stream_id), array_agg(coalesce(s.version, 0) ORDER BY d.stream_id),
           array_agg(coalesce(s.last_hash, genesis) ORDER BY d.stream_id), max(s.last_transaction_id)
      INTO distinct_streams, stream_heads_version, stream_heads_hash, newest_tx
      FROM (SELECT DISTINCT e AS stream_id FROM unnest(event_streams) AS e) d
      LEFT JOIN event_store.streams s ON s.stream_id = d.stream_id;

    tx := pg_current_xact_id()::text::bigint;
    IF tx <= newest_tx THEN
        -- Only possible when the database was restored logically (pg_dump) into a cluster whose
        -- transaction counter is behind the stored events: subscribers would skip new events.
        RAISE EXCEPTION 'transaction id % is not above the stream''s last writer %', tx, newest_tx
            USING ERRCODE = 'BP006',
                  HINT = 'The cluster''s transaction counter is behind the event store (logical restore?). '
                         'Advance it past the stored transaction ids before writing: see docs/design.md.';
    END IF;
    FOR event IN
        SELECT e.*, d.head
          FROM unnest(event_streams, event_types, schema_versions, event_ids, payloads, metadatas, occurred_ats)
               WITH ORDINALITY AS e(stream_id, event_type, schema_version, event_id, payload, metadata,
                                    occurred_at, ordinal)
          JOIN unnest(distinct_streams) WITH ORDINALITY AS d(stream_id, head) ON d.stream_id = e.stream_id
         ORDER BY e.ordinal
    LOOP
        new_position := nextval('event_store.global_position_seq');
        new_version := stream_heads_version[event.head] + 1;
        new_hash := event_store.event_hash(stream_heads_hash[event.head], new_position, event.stream_id,
                        new_version, event.event_type, event.schema_version, event.event_id,
                        event.occurred_at, recorded, event.payload, event.metadata);
        out_positions := out_positions || new_position;
        out_versions := out_versions || new_version;
        out_previous := out_previous || stream_heads_hash[event.head];
        out_hashes := out_hashes || new_hash;
        stream_heads_version[event.head] := new_version;
        stream_heads_hash[event.head] := new_hash;
    END LOOP;

    INSERT INTO event_store.events (global_position, transaction_id, stream_id, stream_version, event_type,
                                    schema_version, event_id, payload, metadata, occurred_at, recorded_at,
                                    previous_hash, hash)
    SELECT p, tx, s, v, t, sv, id, pl, md, oc, recorded, ph, h
      FROM unnest(out_positions, event_streams, out_versions, event_types, schema_versions, event_ids,
                  payloads, metadatas, occurred_ats, out_previous, out_hashes)
           AS e(p, s, v, t, sv, id, pl, md, oc, ph, h);

    INSERT INTO event_store.streams AS st (stream_id, category, version, last_hash, last_transaction_id,
                                           snapshot, snapshot_version)
    SELECT h.stream_id, split_part(h.stream_id, '-', 1), h.version, h.last_hash, tx, c.snapshot,
           CASE WHEN c.snapshot IS NULL THEN NULL ELSE append_events.snapshot_version END
      FROM unnest(distinct_streams, stream_heads_version, stream_heads_hash) AS h(stream_id, version, last_hash)
      LEFT JOIN unnest(checked_streams, snapshots) AS c(stream_id, snapshot) ON c.stream_id = h.stream_id
    ON CONFLICT ON CONSTRAINT streams_pkey DO UPDATE
       SET version = EXCLUDED.version, last_hash = EXCLUDED.last_hash,
           last_transaction_id = EXCLUDED.last_transaction_id, snapshot = EXCLUDED.snapshot,
           snapshot_version = EXCLUDED.snapshot_version, updated_at = now();

    IF idempotency_key IS NOT NULL THEN
        INSERT INTO event_store.idempotency_keys (idempotency_key, request_hash, global_positions, stream_ids,
                                                  stream_versions, transaction_id)
        VALUES (idempotency_key, request_hash, out_positions, event_streams, out_versions, tx);
    END IF;

    PERFORM pg_notify('event_store_appended', tx::text || ':' || out_positions[cardinality(out_positions)]);

    RETURN QUERY SELECT p, s, v, tx, false FROM unnest(out_positions, event_streams, out_versions) AS r(p, s, v);
END;
$$;
