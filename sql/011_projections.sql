-- The read side: what customers, operators and statements read, derived from the events and rebuildable
-- from them at any time. Written only by the projector (bank_pipeline/projections); every row below can be
-- recomputed from event_store.events.
--
-- Time: occurred_at is business time (what was true when), recorded_at system time (when the bank knew).
-- Business days are UTC dates of occurred_at.
CREATE SCHEMA IF NOT EXISTS projections;

-- Where the read model has reached in the delivery order, updated in the same transaction as its rows
-- (exactly-once effect). A rebuild swaps the whole schema, this row included.
CREATE TABLE projections.checkpoints (
    projection       text PRIMARY KEY,
    transaction_id   bigint NOT NULL,
    global_position  bigint NOT NULL,
    events_projected bigint NOT NULL,
    updated_at       timestamptz NOT NULL
);
INSERT INTO projections.checkpoints VALUES ('read_model', 0, 0, 0, now());

CREATE TABLE projections.customers (
    customer_id   text PRIMARY KEY,
    name          text NOT NULL,
    email         text NOT NULL,
    address       text NOT NULL,
    kyc_status    text NOT NULL,
    status        text NOT NULL CHECK (status IN ('active', 'closed')),
    version       bigint NOT NULL,          -- the customer stream's version
    registered_at timestamptz NOT NULL      -- business time
);

CREATE TABLE projections.customer_accounts (
    customer_id text NOT NULL,
    account_id  text NOT NULL,
    opened_at   timestamptz NOT NULL,
    PRIMARY KEY (customer_id, account_id)
);

-- One row per account: its balance now.
CREATE TABLE projections.account_balances (
    account_id          text PRIMARY KEY,
    customer_id         text NOT NULL,
    currency            text NOT NULL,
    product             text NOT NULL,
    overdraft_limit     bigint NOT NULL,
    status              text NOT NULL CHECK (status IN ('open', 'frozen', 'closed')),
    ledger_balance      bigint NOT NULL,    -- minor units of currency
    held_amount         bigint NOT NULL,    -- sum of the holds not yet released
    available_balance   bigint GENERATED ALWAYS AS (ledger_balance - held_amount) STORED,
    version             bigint NOT NULL,    -- the account stream's version
    last_transaction_id bigint NOT NULL,    -- the checkpoint of the account's newest event
    last_position       bigint NOT NULL,
    opened_at           timestamptz NOT NULL
);

-- Every booked entry (AccountCredited / AccountDebited) with the balances after it, so "balance as of"
-- and statements need no replay:
--   balance_after    in stream order (the event's own figure);
--   business_balance the sum of the account's entries up to this one in (occurred_at, stream_version) order:
--                    the balance as of business time occurred_at, even when entries arrive back-dated;
--   known_balance    the same in (recorded_at, stream_version) order: the balance the bank knew at recorded_at.
CREATE TABLE projections.account_entries (
    account_id       text NOT NULL,
    stream_version   bigint NOT NULL,
    global_position  bigint NOT NULL,
    transaction_id   bigint NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('credit', 'debit')),
    amount           bigint NOT NULL CHECK (amount > 0),
    currency         text NOT NULL,
    balance_after    bigint NOT NULL,
    business_balance bigint,                -- NULL only inside the projector's transaction
    known_balance    bigint,
    transfer_id      text NOT NULL,
    flow             text NOT NULL,
    counterparty     text,
    reference        text,
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, stream_version)
);
CREATE INDEX account_entries_business_time_idx
    ON projections.account_entries (account_id, occurred_at, stream_version);
CREATE INDEX account_entries_system_time_idx
    ON projections.account_entries (account_id, recorded_at, stream_version);

-- Per account and business day with entries: opening + credits - debits = closing.
CREATE TABLE projections.daily_balances (
    account_id      text NOT NULL,
    business_day    date NOT NULL,
    currency        text NOT NULL,
    opening_balance bigint NOT NULL,
    credits         bigint NOT NULL,
    debits          bigint NOT NULL,
    closing_balance bigint NOT NULL,
    entry_count     integer NOT NULL,
    PRIMARY KEY (account_id, business_day),
    CHECK (opening_balance + credits - debits = closing_balance)
);

-- Every hold ever placed, with when it was placed and released in both times (holds as of any instant).
CREATE TABLE projections.account_holds (
    account_id           text NOT NULL,
    hold_id              text NOT NULL,
    amount               bigint NOT NULL,
    currency             text NOT NULL,
    reason               text NOT NULL,
    expires_at           timestamptz NOT NULL,
    placed_version       bigint NOT NULL,
    placed_occurred_at   timestamptz NOT NULL,
    placed_recorded_at   timestamptz NOT NULL,
    released_version     bigint,
    released_occurred_at timestamptz,
    released_recorded_at timestamptz,
    release_reason       text,
    PRIMARY KEY (account_id, hold_id)
);
-- The holds still open: what an account's held amount sums, however many it has had.
CREATE INDEX account_holds_open_idx ON projections.account_holds (account_id) INCLUDE (amount)
    WHERE released_version IS NULL;

-- Every status an account took (opened, frozen, unfrozen, closed), for status as of any instant.
CREATE TABLE projections.account_status_changes (
    account_id     text NOT NULL,
    stream_version bigint NOT NULL,
    status         text NOT NULL CHECK (status IN ('open', 'frozen', 'closed')),
    reason         text,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, stream_version)
);
