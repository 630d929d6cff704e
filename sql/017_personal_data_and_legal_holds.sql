-- Personal data sealed with a key per customer (crypto-shredding), and legal holds on the read side.
--
-- The customer's name, email and address are sealed (AES-256-GCM) with the customer's data key before their
-- events are appended (bank_pipeline/personal_data). The data keys live here, apart from the events, each
-- wrapped (AES-256-GCM) with a master key that is never in the database (a setting, or a file under
-- BANK_PIPELINE_HOME): a dump of this database alone reveals no personal data. Erasure destroys the customer's
-- key: the events stay, and stay verifiable, while their sealed fields can no longer be read.
CREATE SCHEMA IF NOT EXISTS personal_data;

CREATE TABLE personal_data.customer_keys (
    customer_id   text PRIMARY KEY,
    wrapped_key   bytea,                -- nonce || AES-GCM(master key, data key) || tag; NULL once destroyed
    master_key_id text NOT NULL,        -- which master key wrapped it (the first 8 bytes of its SHA-256, hex)
    created_at    timestamptz NOT NULL DEFAULT now(),
    destroyed_at  timestamptz,          -- the row stays as a tombstone: no new key is ever made for the customer
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);

-- One row per erased customer whose key was destroyed, written in the transaction that destroyed it; the
-- stored statements still showing the customer's name are re-rendered afterwards (statements_redacted_at).
CREATE TABLE personal_data.erasures (
    customer_id            text PRIMARY KEY,
    key_destroyed_at       timestamptz NOT NULL,
    statements_redacted_at timestamptz
);

-- The read side: when a customer was erased (business time); their personal fields then read '[erased]'.
ALTER TABLE projections.customers ADD COLUMN erased_at timestamptz;

-- Every legal hold placed, with its release once released. account_id NULL: the customer and all their
-- accounts. Hold ids are unique per customer (the customer stream decides), hence the key.
CREATE TABLE projections.legal_holds (
    customer_id    text NOT NULL,
    hold_id        text NOT NULL,
    account_id     text,
    reason         text NOT NULL,
    case_reference text NOT NULL,
    placed_at      timestamptz NOT NULL,   -- business time
    released_at    timestamptz,            -- NULL while active
    release_reason text,
    PRIMARY KEY (customer_id, hold_id)
);
CREATE INDEX legal_holds_active_idx ON projections.legal_holds (customer_id) WHERE released_at IS NULL;
