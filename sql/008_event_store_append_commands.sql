-- Group commit: the events of several commands, decided one after another by one committer
-- (application/command_bus.py), appended atomically by one call, with one idempotency key per command.
-- Under load this turns N transactions into one: one round trip, one commit, one set of stream locks.
--
-- streams, events, snapshot_version: as for append_events (005), which does the appending.
-- commands: one object per command that has an idempotency key,
--   {"idempotency_key", "request_hash" (hex), "first_event", "event_count"}: its events are
--   events[first_event .. first_event + event_count - 1] (1-based, append order).
-- A key stored meanwhile by a concurrent request raises unique_violation (23505) on
-- idempotency_keys_pkey and nothing is written: the committer reloads and replays that command.
CREATE FUNCTION event_store.append_commands(
    streams          jsonb,
    events           jsonb,
    snapshot_version integer,
    commands         jsonb
) RETURNS TABLE (global_position bigint, stream_id text, stream_version bigint, transaction_id bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    positions bigint[];
    appended_streams text[];
    versions bigint[];
    tx bigint;
BEGIN
    SELECT array_agg(a.global_position ORDER BY a.global_position), array_agg(a.stream_id ORDER BY a.global_position),
           array_agg(a.stream_version ORDER BY a.global_position), min(a.transaction_id)
      INTO positions, appended_streams, versions, tx
      FROM event_store.append_events(streams, events, snapshot_version) AS a;

    INSERT INTO event_store.idempotency_keys (idempotency_key, request_hash, global_positions, stream_ids,
                                              stream_versions, transaction_id)
    SELECT c.idempotency_key, decode(c.request_hash, 'hex'),
           positions[c.first_event : c.first_event + c.event_count - 1],
           appended_streams[c.first_event : c.first_event + c.event_count - 1],
           versions[c.first_event : c.first_event + c.event_count - 1], tx
      FROM jsonb_to_recordset(commands)
           AS c(idempotency_key text, request_hash text, first_event integer, event_count integer);

    RETURN QUERY SELECT p, s, v, tx FROM unnest(positions, appended_streams, versions) AS r(p, s, v);
END;
$$;
