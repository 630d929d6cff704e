-- Fraud investigation (Dagster's slow path): what the analysis of a window of the event stream found across
-- accounts. A window is the events after the previous window, up to where the fast path had judged; a case's
-- key is derived from what it is about, so investigating a window again finds the same cases, not new ones.
CREATE TABLE fraud.cases (
    case_key      text PRIMARY KEY,          -- kind and subject, e.g. mule_ring:DE89...
    kind          text NOT NULL CHECK (kind IN ('mule_ring', 'customer_pattern')),
    subject       text NOT NULL,             -- the collecting account of a ring, the customer of a pattern
    accounts      text[] NOT NULL,
    window_from   text NOT NULL,             -- the window that found it, (from, to] in delivery order
    window_to     text NOT NULL,             -- as transaction_id:global_position
    evidence      jsonb NOT NULL,
    found_at      timestamptz NOT NULL DEFAULT now()
);
