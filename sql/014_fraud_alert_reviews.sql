-- An investigator's verdict on a fraud alert: confirmed fraud, or legitimate (a false positive). Append-only, so
-- a changed verdict keeps the earlier one; the newest review of an alert is its verdict. Confirmed and dismissed
-- alerts per rule are the detector's measured precision in production (daily_fraud_metrics).
CREATE TABLE fraud.alert_reviews (
    review_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES fraud.alerts (alert_id),
    verdict     text NOT NULL CHECK (verdict IN ('fraud', 'legitimate')),
    reviewed_by text NOT NULL CHECK (reviewed_by <> ''),
    reviewed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    note        text
);
CREATE INDEX alert_reviews_alert_idx ON fraud.alert_reviews (alert_id, review_id DESC);

CREATE FUNCTION fraud.refuse_review_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'fraud.alert_reviews is append-only: add a new review instead of changing one'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER alert_reviews_append_only BEFORE UPDATE OR DELETE ON fraud.alert_reviews
    FOR EACH ROW EXECUTE FUNCTION fraud.refuse_review_changes();

-- Each alert with its newest verdict (NULL: not reviewed yet).
CREATE VIEW fraud.alert_verdicts AS
SELECT a.alert_id, a.rule, a.severity, a.account_id, a.occurred_at, r.verdict, r.reviewed_by, r.reviewed_at
  FROM fraud.alerts a
  LEFT JOIN LATERAL (SELECT verdict, reviewed_by, reviewed_at FROM fraud.alert_reviews
                      WHERE alert_id = a.alert_id ORDER BY review_id DESC LIMIT 1) r ON true;
