-- Large batches (ingestion, migrations, the benchmarks) append through COPY instead of append_events:
-- parsing a jsonb document and chaining hashes in SQL cost far more per event than the insert itself.
-- The guarantees are the same; only the per-event work (numbering versions, chaining hashes) moves to
-- the client, which holds every stream's lock while it does it. In one transaction:
--   1. begin_batch_append   the checks, locks and transaction id of append_events, then reserves the
--                           positions and returns each stream's head (version and last hash);
--   2. COPY event_store.events FROM STDIN, the rows numbered and chained from those heads;
--   3. finish_batch_append  checks the rows really continue each stream, moves the heads, records the
--                           idempotency key and notifies subscribers.
-- store/hashing.py computes the same hash as event_store.event_hash (004); `audit verify` recomputes it
-- in SQL for every event, whichever path wrote it.

-- Refuses an append in a transaction that already wrote: its transaction id would predate its locks.
CREATE FUNCTION event_store.assert_first_write() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'append_events must be the first write of its transaction'
            USING ERRCODE = 'BP004',
                  HINT = 'Append first, then write anything else in the same transaction.';
    END IF;
END;
$$;

-- The earlier result stored under an idempotency key, or NULL when the key is new (its lock is then
-- held until commit, so a concurrent request with the same key waits for this one). Raises BP002 when
-- the key was used for a different request.
CREATE FUNCTION event_store.earlier_result(idempotency_key text, request_hash bytea)
RETURNS event_store.idempotency_keys
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    previous event_store.idempotency_keys;
BEGIN
    IF idempotency_key IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('idempotency:' || idempotency_key, 0));
    SELECT * INTO previous FROM event_store.idempotency_keys k WHERE k.idempotency_key = earlier_result.idempotency_key;
    IF FOUND AND previous.request_hash IS DISTINCT FROM earlier_result.request_hash THEN
        RAISE EXCEPTION 'idempotency key % was already used for a different request', idempotency_key
            USING ERRCODE = 'BP002',
                  HINT = 'Use a new idempotency key for a new request.';
    END IF;
    RETURN previous;  -- all NULL when not found
END;
$$;

-- Locks the streams (sorted, so two appends never deadlock), checks every expected version (NULL =
-- any, 0 = must not exist) and only then takes the transaction id, so per stream transaction ids grow
-- with versions. Returns the transaction id and the head of every stream: its version and last hash,
-- 0 and a zero hash for a stream that does not exist yet.
CREATE FUNCTION event_store.lock_streams(
    stream_ids text[], expected bigint[],
    OUT transaction_id bigint, OUT head_streams text[], OUT head_versions bigint[], OUT head_hashes bytea[]
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    mismatch jsonb;
    newest bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key)
       FROM (SELECT DISTINCT hashtextextended(s, 0) AS lock_key FROM unnest(stream_ids) AS s ORDER BY 1) AS keys;

    SELECT array_agg(c.stream_id), array_agg(coalesce(s.version, 0)),
           array_agg(coalesce(s.last_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)),
           max(s.last_transaction_id),
           (array_agg(jsonb_build_object('stream_id', c.stream_id, 'expected', c.expected,
                                         'actual', coalesce(s.version, 0)))
                FILTER (WHERE c.expected <> coalesce(s.version, 0)))[1]
      INTO head_streams, head_versions, head_hashes, newest, mismatch
      FROM unnest(stream_ids, expected) AS c(stream_id, expected)
      LEFT JOIN event_store.streams s ON s.stream_id = c.stream_id;
    IF mismatch IS NOT NULL THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', mismatch->>'stream_id', mismatch->>'actual',
                        mismatch->>'expected'
            USING ERRCODE = 'BP001', DETAIL = mismatch::text,
                  HINT = 'Reload the stream and decide again.';
    END IF;

    transaction_id := pg_current_xact_id()::text::bigint;
    IF transaction_id <= newest THEN
        -- Only possible when the database was restored logically (pg_dump) into a cluster whose
        -- transaction counter is behind the stored events: subscribers would skip new events.
        RAISE EXCEPTION 'transaction id % is not above the stream''s last writer %', transaction_id, newest
            USING ERRCODE = 'BP006',
                  HINT = 'The cluster''s transaction counter is behind the event store (logical restore?). '
                         'Advance it past the stored transaction ids before writing: see docs/design.md.';
    END IF;
END;
$$;

-- Step 1. stream_ids/expected: every stream the decision read or that receives events (NULL = any).
-- Returns one row. When the idempotency key was already used for this request: replayed, with the
-- earlier transaction id and one (position, stream, version) per earlier event. Otherwise: this
-- transaction's id and recorded_at, event_count positions in append order, and the streams' heads.
CREATE FUNCTION event_store.begin_batch_append(
    stream_ids      text[],
    expected        bigint[],
    event_count     integer,
    idempotency_key text DEFAULT NULL,
    request_hash    bytea DEFAULT NULL
) RETURNS TABLE (replayed boolean, transaction_id bigint, recorded_at timestamptz, positions bigint[],
                 head_streams text[], head_versions bigint[], head_hashes bytea[])
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    previous event_store.idempotency_keys;
    heads record;
BEGIN
    PERFORM event_store.assert_first_write();
    IF event_count < 1 THEN
        RAISE EXCEPTION 'append_events needs at least one event' USING ERRCODE = 'BP005';
    END IF;
    previous := event_store.earlier_result(idempotency_key, request_hash);
    IF previous.idempotency_key IS NOT NULL THEN
        RETURN QUERY SELECT true, previous.transaction_id, previous.created_at, previous.global_positions,
                            previous.stream_ids, previous.stream_versions, NULL::bytea[];
        RETURN;
    END IF;
    SELECT * INTO heads FROM event_store.lock_streams(stream_ids, expected);
    RETURN QUERY
    SELECT false, heads.transaction_id, now(),
           (SELECT array_agg(p ORDER BY p)
              FROM (SELECT nextval('event_store.global_position_seq') AS p FROM generate_series(1, event_count)) AS n),
           heads.head_streams, heads.head_versions, heads.head_hashes;
END;
$$;

-- Step 3, after the COPY. Per stream that received events: the versions it had (from_versions) and
-- reached (to_versions), its new last hash and snapshot. Per event, in append order: position, stream
-- and version, stored with the idempotency key (NULL without one). Raises BP007 when the copied rows do not continue each
-- stream exactly (a client bug: nothing is committed).
CREATE FUNCTION event_store.finish_batch_append(
    transaction_id   bigint,
    stream_ids       text[],
    from_versions    bigint[],
    to_versions      bigint[],
    last_hashes      bytea[],
    snapshots        jsonb[],
    snapshot_version integer,
    last_position    bigint,
    positions        bigint[],
    event_streams    text[],
    event_versions   bigint[],
    idempotency_key  text DEFAULT NULL,
    request_hash     bytea DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    wrong record;
BEGIN
    SELECT claimed.stream_id, claimed.from_version, claimed.to_version, written.events, written.lowest, written.highest
      INTO wrong
      FROM unnest(stream_ids, from_versions, to_versions) AS claimed(stream_id, from_version, to_version)
      FULL JOIN (SELECT e.stream_id, count(*) AS events, min(e.stream_version) AS lowest,
                        max(e.stream_version) AS highest
                   FROM event_store.events e
                  WHERE e.transaction_id = finish_batch_append.transaction_id
                  GROUP BY e.stream_id) AS written ON written.stream_id = claimed.stream_id
     WHERE claimed.stream_id IS NULL OR written.stream_id IS NULL
        OR written.events <> claimed.to_version - claimed.from_version
        OR written.lowest <> claimed.from_version + 1 OR written.highest <> claimed.to_version
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the copied events of stream % do not continue it (claimed versions % to %, wrote % events, % to %)',
            coalesce(wrong.stream_id, '?'), wrong.from_version + 1, wrong.to_version, wrong.events, wrong.lowest,
            wrong.highest
            USING ERRCODE = 'BP007',
                  HINT = 'A bug in the batch append client: nothing was committed. Report it with this message.';
    END IF;

    UPDATE event_store.streams s
       SET version = h.to_version, last_hash = h.last_hash, last_transaction_id = finish_batch_append.transaction_id,
           snapshot = h.snapshot,
           snapshot_version = CASE WHEN h.snapshot IS NULL THEN NULL ELSE finish_batch_append.snapshot_version END,
           updated_at = now()
      FROM unnest(stream_ids, from_versions, to_versions, last_hashes, snapshots)
           AS h(stream_id, from_version, to_version, last_hash, snapshot)
     WHERE s.stream_id = h.stream_id AND h.from_version > 0;
    INSERT INTO event_store.streams (stream_id, category, version, last_hash, last_transaction_id, snapshot,
                                     snapshot_version)
    SELECT h.stream_id, split_part(h.stream_id, '-', 1), h.to_version, h.last_hash, finish_batch_append.transaction_id,
           h.snapshot, CASE WHEN h.snapshot IS NULL THEN NULL ELSE finish_batch_append.snapshot_version END
      FROM unnest(stream_ids, from_versions, to_versions, last_hashes, snapshots)
           AS h(stream_id, from_version, to_version, last_hash, snapshot)
     WHERE h.from_version = 0;

    IF idempotency_key IS NOT NULL THEN
        INSERT INTO event_store.idempotency_keys (idempotency_key, request_hash, global_positions, stream_ids,
                                                  stream_versions, transaction_id)
        VALUES (idempotency_key, request_hash, positions, event_streams, event_versions,
                finish_batch_append.transaction_id);
    END IF;

    PERFORM pg_notify('event_store_appended', finish_batch_append.transaction_id::text || ':' || last_position);
END;
$$;

-- What commands need before they decide, in one round trip: the head (version and cached snapshot) of
-- each of their streams, and whatever is stored under their idempotency keys. A generic plan with index
-- scans, like the functions above: a cached plan must not turn into a sequential scan of the
-- idempotency keys, which grow by one row per command.
CREATE FUNCTION event_store.command_context(stream_ids text[], idempotency_keys text[])
RETURNS TABLE (stream_id text, version bigint, snapshot jsonb, snapshot_version integer, idempotency_key text,
               request_hash bytea, global_positions bigint[], event_streams text[], event_versions bigint[],
               transaction_id bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
BEGIN
    RETURN QUERY
    SELECT s.stream_id, s.version, s.snapshot, s.snapshot_version, NULL::text, NULL::bytea, NULL::bigint[],
           NULL::text[], NULL::bigint[], NULL::bigint
      FROM event_store.streams s
     WHERE s.stream_id = ANY(command_context.stream_ids);
    RETURN QUERY
    SELECT NULL::text, NULL::bigint, NULL::jsonb, NULL::integer, k.idempotency_key, k.request_hash, k.global_positions, k.stream_ids,
           k.stream_versions, k.transaction_id
      FROM event_store.idempotency_keys k
     WHERE k.idempotency_key = ANY(command_context.idempotency_keys);
END;
$$;
