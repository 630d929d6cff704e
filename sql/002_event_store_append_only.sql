-- The database itself refuses to change history, whoever asks (superusers included, unless they
-- deliberately disable triggers: that is what `bank-pipeline audit verify` exists to catch).
CREATE FUNCTION event_store.reject_history_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'BP003',
              HINT = 'Correct a mistake by appending a compensating event; history is never rewritten.';
END;
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON event_store.events
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_history_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON event_store.events
    FOR EACH STATEMENT EXECUTE FUNCTION event_store.reject_history_change();

CREATE TRIGGER digests_append_only BEFORE UPDATE OR DELETE ON event_store.digests
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_history_change();
CREATE TRIGGER digests_no_truncate BEFORE TRUNCATE ON event_store.digests
    FOR EACH STATEMENT EXECUTE FUNCTION event_store.reject_history_change();

CREATE TRIGGER idempotency_keys_append_only BEFORE UPDATE OR DELETE ON event_store.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_history_change();
CREATE TRIGGER idempotency_keys_no_truncate BEFORE TRUNCATE ON event_store.idempotency_keys
    FOR EACH STATEMENT EXECUTE FUNCTION event_store.reject_history_change();

REVOKE UPDATE, DELETE, TRUNCATE ON event_store.events, event_store.digests, event_store.idempotency_keys
    FROM PUBLIC;
