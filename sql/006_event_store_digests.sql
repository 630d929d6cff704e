-- Seals the next digest: up to max_events final events (below the read horizon) after the last sealed
-- one, in delivery order. digest = sha256(previous digest || every event hash in order), so changing,
-- removing or inserting any sealed event, or any earlier digest, changes every later digest.
CREATE FUNCTION event_store.seal_digest(max_events integer DEFAULT 100000)
RETURNS SETOF event_store.digests
LANGUAGE plpgsql AS $$
DECLARE
    last_digest event_store.digests;
    horizon bigint := event_store.read_horizon();
    sealed event_store.digests;
    from_tx bigint := 0;
    from_position bigint := 0;
    previous bytea := '\x';
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('event_store.seal_digest', 0));
    SELECT * INTO last_digest FROM event_store.digests ORDER BY digest_number DESC LIMIT 1;
    IF FOUND THEN
        from_tx := last_digest.last_transaction_id;
        from_position := last_digest.last_position;
        previous := last_digest.digest;
    END IF;

    WITH batch AS (
        SELECT e.transaction_id, e.global_position, e.hash
          FROM event_store.events e
         WHERE (e.transaction_id, e.global_position) > (from_tx, from_position)
           AND e.transaction_id < horizon
         ORDER BY e.transaction_id, e.global_position
         LIMIT max_events
    ), summary AS (
        SELECT count(*) AS event_count,
               (array_agg(transaction_id ORDER BY transaction_id DESC, global_position DESC))[1] AS last_tx,
               (array_agg(global_position ORDER BY transaction_id DESC, global_position DESC))[1] AS last_position,
               string_agg(hash, ''::bytea ORDER BY transaction_id, global_position) AS hashes
          FROM batch
    )
    INSERT INTO event_store.digests AS d (digest_number, after_transaction_id, after_position,
                                          last_transaction_id, last_position, event_count,
                                          previous_digest, digest)
    SELECT coalesce(last_digest.digest_number, 0) + 1, from_tx, from_position, last_tx, last_position,
           event_count, previous, sha256(previous || hashes)
      FROM summary
     WHERE event_count > 0
    RETURNING d.* INTO sealed;

    IF sealed.digest_number IS NOT NULL THEN
        RETURN NEXT sealed;
    END IF;
END;
$$;
