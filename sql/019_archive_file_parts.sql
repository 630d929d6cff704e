-- Checksums of the parts of each archive file (bank_pipeline/archive/parts.py), so that reading one stream fetches
-- and checks only the file's footer and the row groups that can hold the stream, not the whole month's file. The
-- footer (Parquet's metadata: every row group's byte range and statistics) must hash to footer_sha256; row group i
-- must hash to bytes 32*i+1 .. 32*i+32 of row_group_sha256. Written with the archived_months or month_purges row
-- that names the file; a file without a row here is read and checked whole.
CREATE TABLE event_store.archive_file_parts (
    parquet_sha256   bytea  PRIMARY KEY CHECK (octet_length(parquet_sha256) = 32),  -- the whole file's
    parquet_bytes    bigint NOT NULL CHECK (parquet_bytes > 0),
    footer_start     bigint NOT NULL CHECK (footer_start BETWEEN 4 AND parquet_bytes - 8),
    footer_sha256    bytea  NOT NULL CHECK (octet_length(footer_sha256) = 32),
    row_group_sha256 bytea  NOT NULL CHECK (octet_length(row_group_sha256) % 32 = 0)
);

CREATE TRIGGER archive_file_parts_append_only BEFORE UPDATE OR DELETE ON event_store.archive_file_parts
    FOR EACH ROW EXECUTE FUNCTION event_store.reject_history_change();
CREATE TRIGGER archive_file_parts_no_truncate BEFORE TRUNCATE ON event_store.archive_file_parts
    FOR EACH STATEMENT EXECUTE FUNCTION event_store.reject_history_change();
REVOKE UPDATE, DELETE, TRUNCATE ON event_store.archive_file_parts FROM PUBLIC;
