-- Purges of archived months past the retention period (bank_pipeline/archive/purge.py). A purge rewrites a month's
-- archive file: the events of streams whose life ended before the retention cutoff, and that no legal hold keeps,
-- become tombstones that hold only what the audit digests need (position, transaction, recorded_at, hash). Each row
-- names the file readers use for the month from then on (the newest purge_number wins over archived_months).
CREATE TABLE event_store.month_purges (
    month          date    NOT NULL REFERENCES event_store.archived_months (month),
    purge_number   integer NOT NULL CHECK (purge_number > 0),
    parquet_uri    text    NOT NULL,
    parquet_sha256 bytea   NOT NULL CHECK (octet_length(parquet_sha256) = 32),
    events_purged  bigint  NOT NULL CHECK (events_purged > 0),   -- tombstones this purge added
    tombstones     bigint  NOT NULL CHECK (tombstones >= events_purged), -- tombstones in the file in all
    events_kept    bigint  NOT NULL CHECK (events_kept >= 0),
    event_position bigint  NOT NULL,  -- the RetentionPurged event of the run that rewrote the month
    purged_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (month, purge_number)
);

CREATE TRIGGER month_purges_append_only BEFORE UPDATE OR DELETE ON event_store.month_purges
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_history_change();
CREATE TRIGGER month_purges_no_truncate BEFORE TRUNCATE ON event_store.month_purges
    FOR EACH STATEMENT EXECUTE FUNCTION event_store.reject_history_change();
REVOKE UPDATE, DELETE, TRUNCATE ON event_store.month_purges FROM PUBLIC;

-- The file that holds a month's archived events now: the newest purge's, else the one the archiver wrote.
CREATE VIEW event_store.archive_files AS
SELECT a.month, coalesce(p.parquet_uri, a.parquet_uri) AS parquet_uri,
       coalesce(p.parquet_sha256, a.parquet_sha256) AS parquet_sha256, coalesce(p.purge_number, 0) AS purge_number
  FROM event_store.archived_months a
  LEFT JOIN LATERAL (SELECT * FROM event_store.month_purges q WHERE q.month = a.month
                      ORDER BY q.purge_number DESC LIMIT 1) p ON true;
