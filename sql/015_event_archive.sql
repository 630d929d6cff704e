-- Months moved out of the hot store: each was exported to Parquet, read back and verified, and only then was
-- its partition detached and dropped, in the same transaction that wrote its row here (bank_pipeline/archive).
-- chain_digest = sha256 over the month's event hashes concatenated in delivery order.
CREATE TABLE event_store.archived_months (
    month                 date PRIMARY KEY CHECK (extract(day FROM month) = 1),
    partition_name        text NOT NULL UNIQUE,
    parquet_uri           text NOT NULL,
    manifest_uri          text NOT NULL,
    event_count           bigint NOT NULL CHECK (event_count >= 0),
    first_global_position bigint,
    last_global_position  bigint,
    first_transaction_id  bigint,
    last_transaction_id   bigint,
    parquet_sha256        bytea NOT NULL CHECK (octet_length(parquet_sha256) = 32),
    chain_digest          bytea NOT NULL CHECK (octet_length(chain_digest) = 32),
    archived_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((event_count = 0) = (first_global_position IS NULL))
);

CREATE TRIGGER archived_months_append_only BEFORE UPDATE OR DELETE ON event_store.archived_months
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_history_change();
CREATE TRIGGER archived_months_no_truncate BEFORE TRUNCATE ON event_store.archived_months
    FOR EACH STATEMENT EXECUTE FUNCTION event_store.reject_history_change();
REVOKE UPDATE, DELETE, TRUNCATE ON event_store.archived_months FROM PUBLIC;

-- The partition holding a month's events (named as ensure_partitions in 003 names them).
CREATE FUNCTION event_store.month_partition(month date) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 'events_' || to_char(month, 'YYYY_MM');

-- Detaches the partition of a month recorded as archived, in the caller's transaction, and only if it still
-- holds exactly what was archived: once detached nobody can write to it, so the count and position range
-- checked here are final. The caller drops it in the same transaction; an error undoes everything.
CREATE FUNCTION event_store.detach_archived_partition(archived_month date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    archived event_store.archived_months;
    stored_count bigint;
    stored_first bigint;
    stored_last bigint;
    newest_tx bigint;
BEGIN
    SELECT * INTO archived FROM event_store.archived_months WHERE month = archived_month;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'month % is not recorded in event_store.archived_months', archived_month
            USING ERRCODE = 'BP010', HINT = 'Archive and verify the month before detaching its partition.';
    END IF;
    EXECUTE format('ALTER TABLE event_store.events DETACH PARTITION event_store.%I', archived.partition_name);
    EXECUTE format('SELECT count(*), min(global_position), max(global_position), max(transaction_id) '
                   'FROM event_store.%I', archived.partition_name)
       INTO stored_count, stored_first, stored_last, newest_tx;
    IF stored_count <> archived.event_count
       OR stored_first IS DISTINCT FROM archived.first_global_position
       OR stored_last IS DISTINCT FROM archived.last_global_position THEN
        RAISE EXCEPTION '% holds % events (positions %..%), but % were archived (positions %..%)',
            archived.partition_name, stored_count, stored_first, stored_last, archived.event_count,
            archived.first_global_position, archived.last_global_position
            USING ERRCODE = 'BP011', HINT = 'The partition changed after it was exported: archive it again.';
    END IF;
    IF newest_tx >= event_store.read_horizon() THEN
        RAISE EXCEPTION '% holds events of transactions not yet final', archived.partition_name
            USING ERRCODE = 'BP012';
    END IF;
    RETURN archived.partition_name;
END;
$$;
