"""The projector's SQL: set-based statements that fold one batch of events into the read model.

Each statement reads the batch from the session's temporary table `projector_batch` (filled by
`FILL_BATCH`) and writes the tables of one schema (`{p}`: `projections`, or a rebuild's shadow schema).
Run in order in one transaction, they are idempotent: an event seen again changes nothing.
"""

from psycopg import sql

ENTRY_TYPES = ("AccountCredited", "AccountDebited")

CREATE_BATCH_TABLE = """
CREATE TEMPORARY TABLE IF NOT EXISTS projector_batch (
    transaction_id  bigint NOT NULL,
    global_position bigint NOT NULL,
    stream_id       text NOT NULL,
    stream_version  bigint NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    fresh           boolean NOT NULL DEFAULT false  -- an entry this batch added (not one seen before)
) ON COMMIT DELETE ROWS
"""

# The next final events after the checkpoint, in delivery order (never skips a late commit: docs/design.md §3).
# Transfer streams are not part of this read model.
FILL_BATCH = """
INSERT INTO projector_batch (transaction_id, global_position, stream_id, stream_version, event_type, payload,
                             occurred_at, recorded_at)
SELECT e.transaction_id, e.global_position, e.stream_id, e.stream_version, e.event_type, e.payload,
       e.occurred_at, e.recorded_at
  FROM event_store.events e
 WHERE (e.transaction_id, e.global_position) > (%(after_transaction_id)s, %(after_position)s)
   AND e.transaction_id < event_store.read_horizon()
 ORDER BY e.transaction_id, e.global_position
 LIMIT %(limit)s
RETURNING transaction_id, global_position, recorded_at, stream_id
"""

# The batch's entries; those not seen before are marked fresh; the statements after it work from them.
ENTRIES = """
WITH inserted AS (
    INSERT INTO {p}.account_entries (account_id, stream_version, global_position, transaction_id, direction, amount,
                                     currency, balance_after, transfer_id, flow, counterparty, reference,
                                     occurred_at, recorded_at)
    SELECT b.payload->>'account_id', b.stream_version, b.global_position, b.transaction_id,
           CASE b.event_type WHEN 'AccountCredited' THEN 'credit' ELSE 'debit' END,
           (b.payload->>'amount')::bigint, b.payload->>'currency', (b.payload->>'balance_after')::bigint,
           b.payload->>'transfer_id', b.payload->>'flow', b.payload->>'counterparty', b.payload->>'reference',
           b.occurred_at, b.recorded_at
      FROM projector_batch b
     WHERE b.event_type IN ('AccountCredited', 'AccountDebited')
    ON CONFLICT (account_id, stream_version) DO NOTHING
    RETURNING account_id, stream_version
)
UPDATE projector_batch b
   SET fresh = true
  FROM inserted i
 WHERE b.payload->>'account_id' = i.account_id AND b.stream_version = i.stream_version
   AND b.event_type IN ('AccountCredited', 'AccountDebited')
"""

# The running balance in one time dimension, recomputed for each account the batch booked entries on,
# from the earliest instant (in that dimension) of its fresh entries. When entries arrive in time order
# (the usual case) that is only the fresh entries; a back-dated entry moves every later one.
_RUNNING_BALANCE = """
WITH touched AS (
    SELECT b.payload->>'account_id' AS account_id, min(b.{time}) AS since
      FROM projector_batch b
     WHERE b.fresh
     GROUP BY 1
), recomputed AS (
    SELECT e.account_id, e.stream_version,
           coalesce(base.balance, 0)
           + sum(CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END)
                 OVER (PARTITION BY e.account_id ORDER BY e.{time}, e.stream_version) AS balance
      FROM touched t
      LEFT JOIN LATERAL (
            SELECT p.{balance} AS balance
              FROM {p}.account_entries p
             WHERE p.account_id = t.account_id AND p.{time} < t.since
             ORDER BY p.{time} DESC, p.stream_version DESC
             LIMIT 1) base ON true
      JOIN {p}.account_entries e ON e.account_id = t.account_id AND e.{time} >= t.since
)
UPDATE {p}.account_entries e
   SET {balance} = r.balance
  FROM recomputed r
 WHERE e.account_id = r.account_id AND e.stream_version = r.stream_version
   AND e.{balance} IS DISTINCT FROM r.balance
"""
BUSINESS_BALANCES = _RUNNING_BALANCE.replace("{time}", "occurred_at").replace("{balance}", "business_balance")
KNOWN_BALANCES = _RUNNING_BALANCE.replace("{time}", "recorded_at").replace("{balance}", "known_balance")

# The business days of the fresh entries. An account whose fresh entries all come after its other entries in
# business time (the usual case) adds them to its day rows; an account with a back-dated entry has every
# day from that entry's day on recomputed from its entries. Either way the row is written whole.
DAILY_BALANCES = """
WITH fresh AS (
    SELECT e.*, CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END AS signed
      FROM projector_batch b
      JOIN {p}.account_entries e ON e.account_id = b.payload->>'account_id' AND e.stream_version = b.stream_version
     WHERE b.fresh
), anchors AS (
    SELECT account_id, count(*) AS fresh_entries,
           (array_agg(occurred_at ORDER BY occurred_at, stream_version))[1] AS first_time,
           (array_agg(stream_version ORDER BY occurred_at, stream_version))[1] AS first_version
      FROM fresh
     GROUP BY account_id
), shapes AS (
    SELECT a.*,
           (SELECT count(*) FROM {p}.account_entries e
             WHERE e.account_id = a.account_id
               AND (e.occurred_at, e.stream_version) >= (a.first_time, a.first_version)) = a.fresh_entries AS appended
      FROM anchors a
), appended_days AS (
    SELECT f.account_id, (f.occurred_at AT TIME ZONE 'UTC')::date AS business_day, min(f.currency) AS currency,
           (array_agg(f.business_balance - f.signed ORDER BY f.occurred_at, f.stream_version))[1] AS opening,
           coalesce(sum(f.amount) FILTER (WHERE f.direction = 'credit'), 0) AS credits,
           coalesce(sum(f.amount) FILTER (WHERE f.direction = 'debit'), 0) AS debits,
           (array_agg(f.business_balance ORDER BY f.occurred_at DESC, f.stream_version DESC))[1] AS closing,
           count(*) AS entries
      FROM fresh f JOIN shapes s ON s.account_id = f.account_id AND s.appended
     GROUP BY 1, 2
), recomputed_days AS (
    SELECT e.account_id, (e.occurred_at AT TIME ZONE 'UTC')::date AS business_day, min(e.currency) AS currency,
           (array_agg(e.business_balance - CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END
                      ORDER BY e.occurred_at, e.stream_version))[1] AS opening,
           coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0) AS credits,
           coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0) AS debits,
           (array_agg(e.business_balance ORDER BY e.occurred_at DESC, e.stream_version DESC))[1] AS closing,
           count(*) AS entries
      FROM shapes s
      JOIN {p}.account_entries e
        ON e.account_id = s.account_id AND e.occurred_at >= date_trunc('day', s.first_time, 'UTC')
     WHERE NOT s.appended
     GROUP BY 1, 2
), day_rows AS (
    SELECT n.account_id, n.business_day, n.currency, coalesce(d.opening_balance, n.opening) AS opening,
           coalesce(d.credits, 0) + n.credits AS credits, coalesce(d.debits, 0) + n.debits AS debits,
           n.closing, coalesce(d.entry_count, 0) + n.entries AS entries
      FROM appended_days n
      LEFT JOIN {p}.daily_balances d ON d.account_id = n.account_id AND d.business_day = n.business_day
    UNION ALL
    SELECT account_id, business_day, currency, opening, credits, debits, closing, entries FROM recomputed_days
)
INSERT INTO {p}.daily_balances (account_id, business_day, currency, opening_balance, credits, debits,
                                closing_balance, entry_count)
SELECT * FROM day_rows
ON CONFLICT (account_id, business_day) DO UPDATE
   SET opening_balance = excluded.opening_balance, credits = excluded.credits, debits = excluded.debits,
       closing_balance = excluded.closing_balance, entry_count = excluded.entry_count
 WHERE (daily_balances.opening_balance, daily_balances.credits, daily_balances.debits,
        daily_balances.closing_balance, daily_balances.entry_count)
       IS DISTINCT FROM (excluded.opening_balance, excluded.credits, excluded.debits,
                         excluded.closing_balance, excluded.entry_count)
"""

HOLDS_PLACED = """
INSERT INTO {p}.account_holds (account_id, hold_id, amount, currency, reason, expires_at, placed_version,
                               placed_occurred_at, placed_recorded_at)
SELECT b.payload->>'account_id', b.payload->>'hold_id', (b.payload->>'amount')::bigint, b.payload->>'currency',
       b.payload->>'reason', (b.payload->>'expires_at')::timestamptz, b.stream_version, b.occurred_at,
       b.recorded_at
  FROM projector_batch b
 WHERE b.event_type = 'HoldPlaced'
ON CONFLICT (account_id, hold_id) DO NOTHING
"""

HOLDS_RELEASED = """
UPDATE {p}.account_holds h
   SET released_version = b.stream_version, released_occurred_at = b.occurred_at,
       released_recorded_at = b.recorded_at, release_reason = b.payload->>'reason'
  FROM projector_batch b
 WHERE b.event_type = 'HoldReleased'
   AND h.account_id = b.payload->>'account_id' AND h.hold_id = b.payload->>'hold_id'
   AND h.released_version IS NULL
"""

STATUS_CHANGES = """
INSERT INTO {p}.account_status_changes (account_id, stream_version, status, reason, occurred_at, recorded_at)
SELECT b.payload->>'account_id', b.stream_version,
       CASE b.event_type WHEN 'AccountFrozen' THEN 'frozen' WHEN 'AccountClosed' THEN 'closed' ELSE 'open' END,
       b.payload->>'reason', b.occurred_at, b.recorded_at
  FROM projector_batch b
 WHERE b.event_type IN ('AccountOpened', 'AccountFrozen', 'AccountUnfrozen', 'AccountClosed')
ON CONFLICT (account_id, stream_version) DO NOTHING
"""

ACCOUNTS_OPENED = """
WITH opened AS (
    SELECT b.payload->>'account_id' AS account_id, b.payload->>'customer_id' AS customer_id, b.payload,
           b.occurred_at, b.stream_version, b.transaction_id, b.global_position
      FROM projector_batch b
     WHERE b.event_type = 'AccountOpened'
), linked AS (
    INSERT INTO {p}.customer_accounts (customer_id, account_id, opened_at)
    SELECT customer_id, account_id, occurred_at FROM opened
    ON CONFLICT (customer_id, account_id) DO NOTHING
)
INSERT INTO {p}.account_balances (account_id, customer_id, currency, product, overdraft_limit, status,
                                  ledger_balance, held_amount, version, last_transaction_id, last_position,
                                  opened_at)
SELECT o.account_id, o.customer_id, o.payload->>'currency', coalesce(o.payload->>'product', 'current'),
       (o.payload->>'overdraft_limit')::bigint, 'open', 0, 0, o.stream_version, o.transaction_id,
       o.global_position, o.occurred_at
  FROM opened o
ON CONFLICT (account_id) DO NOTHING
"""

# The current figures of every account the batch touched, from the tables above (so seeing an event
# twice gives the same row).
ACCOUNT_BALANCES = """
WITH touched AS (
    SELECT b.payload->>'account_id' AS account_id, max(b.stream_version) AS version,
           (max(ARRAY[b.transaction_id, b.global_position]))[1] AS last_transaction_id,
           (max(ARRAY[b.transaction_id, b.global_position]))[2] AS last_position
      FROM projector_batch b
     WHERE starts_with(b.stream_id, 'account-')
     GROUP BY 1
)
UPDATE {p}.account_balances a
   SET ledger_balance = coalesce((SELECT e.balance_after FROM {p}.account_entries e
                                   WHERE e.account_id = a.account_id
                                   ORDER BY e.stream_version DESC LIMIT 1), 0),
       held_amount = coalesce((SELECT sum(h.amount) FROM {p}.account_holds h
                                WHERE h.account_id = a.account_id AND h.released_version IS NULL), 0),
       status = (SELECT s.status FROM {p}.account_status_changes s
                  WHERE s.account_id = a.account_id ORDER BY s.stream_version DESC LIMIT 1),
       version = greatest(a.version, t.version),
       last_transaction_id = CASE WHEN t.version > a.version THEN t.last_transaction_id ELSE a.last_transaction_id END,
       last_position = CASE WHEN t.version > a.version THEN t.last_position ELSE a.last_position END
  FROM touched t
 WHERE a.account_id = t.account_id
"""

CUSTOMERS_REGISTERED = """
INSERT INTO {p}.customers (customer_id, name, email, address, kyc_status, status, version, registered_at)
SELECT b.payload->>'customer_id', b.payload->>'name', b.payload->>'email', b.payload->>'address', 'pending',
       'active', b.stream_version, b.occurred_at
  FROM projector_batch b
 WHERE b.event_type = 'CustomerRegistered'
ON CONFLICT (customer_id) DO NOTHING
"""

# Later customer events, folded per customer: each field takes its newest value in stream order. Only
# events past the row's version apply, so a batch seen again changes nothing. Once the customer is erased
# their personal fields read '[erased]' (domain.personal_data.ERASED_MARKER), and no later event records any
# (the domain refuses it).
CUSTOMERS_CHANGED = """
WITH changes AS (
    SELECT b.payload->>'customer_id' AS customer_id, b.stream_version, b.event_type, b.payload, b.occurred_at
      FROM projector_batch b
      JOIN {p}.customers c ON c.customer_id = b.payload->>'customer_id'
     WHERE starts_with(b.stream_id, 'customer-') AND b.event_type <> 'CustomerRegistered'
       AND b.stream_version > c.version
), folded AS (
    SELECT customer_id, max(stream_version) AS version,
           (array_agg(payload->>'name' ORDER BY stream_version DESC)
                FILTER (WHERE payload->>'name' IS NOT NULL))[1] AS name,
           (array_agg(payload->>'email' ORDER BY stream_version DESC)
                FILTER (WHERE payload->>'email' IS NOT NULL))[1] AS email,
           (array_agg(payload->>'address' ORDER BY stream_version DESC)
                FILTER (WHERE payload->>'address' IS NOT NULL))[1] AS address,
           (array_agg(payload->>'status' ORDER BY stream_version DESC)
                FILTER (WHERE event_type = 'CustomerKycStatusChanged'))[1] AS kyc_status,
           bool_or(event_type = 'CustomerClosed') AS closed,
           (array_agg(occurred_at ORDER BY stream_version) FILTER (WHERE event_type = 'CustomerErased'))[1]
               AS erased_at
      FROM changes
     GROUP BY customer_id
)
UPDATE {p}.customers c
   SET name = CASE WHEN coalesce(c.erased_at, f.erased_at) IS NULL THEN coalesce(f.name, c.name) ELSE '[erased]' END,
       email = CASE WHEN coalesce(c.erased_at, f.erased_at) IS NULL THEN coalesce(f.email, c.email) ELSE '[erased]' END,
       address = CASE WHEN coalesce(c.erased_at, f.erased_at) IS NULL THEN coalesce(f.address, c.address)
                      ELSE '[erased]' END,
       kyc_status = coalesce(f.kyc_status, c.kyc_status),
       status = CASE WHEN f.closed THEN 'closed' ELSE c.status END, version = f.version,
       erased_at = coalesce(c.erased_at, f.erased_at)
  FROM folded f
 WHERE c.customer_id = f.customer_id
"""

LEGAL_HOLDS_PLACED = """
INSERT INTO {p}.legal_holds (customer_id, hold_id, account_id, reason, case_reference, placed_at)
SELECT b.payload->>'customer_id', b.payload->>'hold_id', b.payload->>'account_id', b.payload->>'reason',
       b.payload->>'case_reference', b.occurred_at
  FROM projector_batch b
 WHERE b.event_type = 'LegalHoldPlaced'
ON CONFLICT (customer_id, hold_id) DO NOTHING
"""

LEGAL_HOLDS_RELEASED = """
UPDATE {p}.legal_holds h
   SET released_at = b.occurred_at, release_reason = b.payload->>'reason'
  FROM projector_batch b
 WHERE b.event_type = 'LegalHoldReleased'
   AND h.customer_id = b.payload->>'customer_id' AND h.hold_id = b.payload->>'hold_id'
   AND h.released_at IS NULL
"""

ADVANCE_CHECKPOINT = """
UPDATE {p}.checkpoints
   SET transaction_id = %(upto_transaction_id)s, global_position = %(upto_position)s,
       events_projected = events_projected + %(events)s, updated_at = now()
 WHERE projection = 'read_model'
   AND (transaction_id, global_position) = (%(after_transaction_id)s, %(after_position)s)
"""

LOCK_CHECKPOINT = """
SELECT transaction_id, global_position FROM {p}.checkpoints WHERE projection = 'read_model' FOR UPDATE
"""

# In order: later statements read what earlier ones wrote.
PROJECTION_STATEMENTS = (
    CUSTOMERS_REGISTERED,
    CUSTOMERS_CHANGED,
    LEGAL_HOLDS_PLACED,
    LEGAL_HOLDS_RELEASED,
    ACCOUNTS_OPENED,
    STATUS_CHANGES,
    ENTRIES,
    BUSINESS_BALANCES,
    KNOWN_BALANCES,
    DAILY_BALANCES,
    HOLDS_PLACED,
    HOLDS_RELEASED,
    ACCOUNT_BALANCES,
)


def in_schema(statement: str, schema: str) -> sql.Composed:
    """The statement writing the tables of `schema`."""
    return sql.SQL(statement).format(p=sql.Identifier(schema))
