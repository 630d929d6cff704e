-- Published monthly audit digests. A month's events are those recorded (system time) in it, the events of one
-- partition; its digest is the Merkle tree hash (RFC 9162) of their `hash` values in delivery order
-- (transaction_id, global_position). Each event hash already covers every field of the event and the hash before
-- it in its stream, so the root commits to the whole month. docs/audit-digests.md is the procedure to recompute
-- a root from the archive alone.
CREATE TABLE event_store.month_digests (
    month                date PRIMARY KEY CHECK (month = date_trunc('month', month)),
    event_count          bigint NOT NULL CHECK (event_count >= 0),
    first_transaction_id bigint,
    first_position       bigint,
    last_transaction_id  bigint,
    last_position        bigint,
    merkle_root          bytea NOT NULL CHECK (length(merkle_root) = 32),
    -- The root published for the month before (32 zero bytes for the first): dropping or replacing a published
    -- month breaks the next month's link.
    previous_root        bytea NOT NULL CHECK (length(previous_root) = 32),
    published_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER month_digests_append_only BEFORE UPDATE OR DELETE ON event_store.month_digests
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_history_change();
CREATE TRIGGER month_digests_no_truncate BEFORE TRUNCATE ON event_store.month_digests
    FOR EACH STATEMENT EXECUTE FUNCTION event_store.reject_history_change();
REVOKE UPDATE, DELETE, TRUNCATE ON event_store.month_digests FROM PUBLIC;
