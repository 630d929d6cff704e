-- Every finished file accounts for its rows, whatever its status; an unreadable file counts as one received
-- record (the file itself), quarantined. A file whose rows fail validation beyond the threshold is
-- 'rejected': nothing of it is applied. The validation summary is kept so a re-run can report it again.
UPDATE ingest.files SET received = 1 WHERE status = 'unreadable' AND received = 0;
ALTER TABLE ingest.files DROP CONSTRAINT files_status_check;
ALTER TABLE ingest.files DROP CONSTRAINT files_check;
ALTER TABLE ingest.files ADD CONSTRAINT files_status_is_known
    CHECK (status IN ('ingesting', 'ingested', 'unreadable', 'duplicate_file', 'rejected'));
ALTER TABLE ingest.files ADD CONSTRAINT files_rows_are_accounted_for
    CHECK (status = 'ingesting' OR received = accepted + duplicate + quarantined);
ALTER TABLE ingest.files ADD COLUMN validation jsonb;  -- suite, rows, rows_passed, failed expectations
