-- Fraud detection's fast path (bank_pipeline/fraud): the alerts the rules raise on the event stream, and where
-- the detector has reached in the delivery order. Alerts and checkpoint move in one transaction, so after a
-- crash the detector resumes where it stopped: no event skipped, no alert raised twice.
CREATE SCHEMA IF NOT EXISTS fraud;

CREATE TABLE fraud.checkpoints (
    detector        text PRIMARY KEY,
    transaction_id  bigint NOT NULL,
    global_position bigint NOT NULL,
    events_seen     bigint NOT NULL,
    updated_at      timestamptz NOT NULL
);
INSERT INTO fraud.checkpoints VALUES ('fast_path', 0, 0, 0, now());

CREATE TABLE fraud.alerts (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- the investigation sensor's cursor
    rule            text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    score           numeric(4, 3) NOT NULL CHECK (score BETWEEN 0 AND 1),
    account_id      text NOT NULL,
    transaction_id  bigint NOT NULL,        -- the event that set it off, in delivery order
    global_position bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,   -- that event's business time
    recorded_at     timestamptz NOT NULL,   -- that event's commit: detected_at minus this is the decision latency
    detected_at     timestamptz NOT NULL,
    evidence        jsonb NOT NULL,
    -- What the detector did about a high-severity alert through the command path (NULL: not acted on yet):
    -- 'frozen', or why not ('already_frozen', 'account_closed', ...), and the position of the event it appended.
    action          text,
    action_position bigint,
    acted_at        timestamptz,
    UNIQUE (rule, account_id, global_position)
);
CREATE INDEX alerts_to_act_on_idx ON fraud.alerts (alert_id) WHERE severity = 'high' AND action IS NULL;
CREATE INDEX alerts_account_idx ON fraud.alerts (account_id, occurred_at);
