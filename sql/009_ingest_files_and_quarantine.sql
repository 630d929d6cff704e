-- Landing-file ingestion's own tables: which files arrived and what became of every row they held.
-- received = accepted + duplicate + quarantined for every ingested file; the rows themselves become
-- commands (and so events) or a quarantine row, never nothing.
CREATE SCHEMA IF NOT EXISTS ingest;

CREATE TABLE ingest.files (
    file_name        text PRIMARY KEY,          -- the landing-zone name, also the Dagster partition key
    kind             text NOT NULL,
    schema_version   integer NOT NULL,
    business_day     date NOT NULL,
    content_sha256   text NOT NULL,
    size_bytes       bigint NOT NULL,
    status           text NOT NULL CHECK (status IN ('ingesting', 'ingested', 'unreadable', 'duplicate_file')),
    duplicate_of     text REFERENCES ingest.files (file_name),  -- an earlier file with the same bytes
    received         integer NOT NULL DEFAULT 0,
    accepted         integer NOT NULL DEFAULT 0,
    duplicate        integer NOT NULL DEFAULT 0,
    quarantined      integer NOT NULL DEFAULT 0,
    events_appended  integer NOT NULL DEFAULT 0,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CHECK (status <> 'ingested' OR received = accepted + duplicate + quarantined)
);
CREATE INDEX files_content_idx ON ingest.files (content_sha256);

-- One row per received row that did not become events, with the reason an operator can act on.
-- line: the 1-based line of a CSV row (header = 1) or ordinal of an XML transaction; NULL for a whole
-- file that could not be read.
CREATE TABLE ingest.quarantine (
    quarantine_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name      text NOT NULL REFERENCES ingest.files (file_name),
    line           integer,
    record_id      text,
    reason_code    text NOT NULL,   -- validation | a domain error code | record_id_reused | unreadable_file
    reason         text NOT NULL,
    record         jsonb NOT NULL,  -- the row as received (after normalisation), for a fix and a replay
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
-- Re-running a file quarantines each row once.
CREATE UNIQUE INDEX quarantine_row_idx ON ingest.quarantine (file_name, coalesce(line, 0));
CREATE INDEX quarantine_reason_idx ON ingest.quarantine (reason_code);
