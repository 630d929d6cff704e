-- Monthly partitions by recorded_at, created ahead of time. The archive detaches old months.
-- Row triggers are cloned to partitions by PostgreSQL; TRUNCATE triggers are not, so add them here.
CREATE FUNCTION event_store.ensure_partitions(months_ahead integer DEFAULT 3)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamptz;
    partition_name text;
BEGIN
    FOR i IN 0..months_ahead LOOP
        month_start := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                       + make_interval(months => i);
        partition_name := 'events_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass('event_store.' || partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE event_store.%I PARTITION OF event_store.events FOR VALUES FROM (%L) TO (%L)',
                partition_name, month_start, month_start + interval '1 month');
            EXECUTE format(
                'CREATE TRIGGER %I BEFORE TRUNCATE ON event_store.%I '
                'FOR EACH STATEMENT EXECUTE FUNCTION event_store.reject_history_change()',
                partition_name || '_no_truncate', partition_name);
        END IF;
    END LOOP;
    RETURN month_start + interval '1 month';
END;
$$;

SELECT event_store.ensure_partitions();
