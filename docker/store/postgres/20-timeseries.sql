-- Time partitioning and retention for the tables of 10-schema.sql, and the views the
-- dashboards read. psql script; idempotent (loading it twice changes nothing).
SET client_min_messages = warning;

-- The time column of each table (the one it is partitioned / chunked by).
CREATE OR REPLACE FUNCTION weir_time_column(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE t WHEN 'aggregates' THEN 'window_start' WHEN 'fleet_rollups' THEN 'window_start'
                WHEN 'patterns' THEN 'first_window' ELSE 'ts' END
$$;

SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS has_timescale \gset
\if :has_timescale
-- Hypertables with 1-day chunks; Timescale's own job drops chunks past retention.
SELECT create_hypertable(r.table_name::regclass, by_range(weir_time_column(r.table_name), INTERVAL '1 day'), if_not_exists => true)
  FROM weir_retention r;
SELECT add_retention_policy(r.table_name::regclass, make_interval(days => r.keep_days), if_not_exists => true)
  FROM weir_retention r;
CREATE OR REPLACE FUNCTION weir_maintain(days_ahead integer DEFAULT 7) RETURNS void LANGUAGE sql AS $$ SELECT $$;
\else
-- Plain PostgreSQL: one partition per UTC day plus a DEFAULT partition, so an insert
-- never fails for want of a partition (a device clock far in the future lands in
-- DEFAULT). weir_maintain() creates the partitions from yesterday to days_ahead,
-- moving any rows DEFAULT already holds for such a day into it (PostgreSQL refuses
-- to attach a partition whose rows sit in DEFAULT), and drops day partitions older
-- than the table's retention. Run it daily (the compose file's store-maintenance
-- service does; cron or pg_cron elsewhere).
CREATE OR REPLACE FUNCTION weir_maintain(days_ahead integer DEFAULT 7) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r record;
  d date;
  part text;
  col text;
  old record;
BEGIN
  FOR r IN SELECT table_name, keep_days FROM weir_retention LOOP
    col := weir_time_column(r.table_name);
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I DEFAULT', r.table_name || '_default', r.table_name);
    FOR d IN SELECT generate_series(current_date - 1, current_date + days_ahead, INTERVAL '1 day')::date LOOP
      part := r.table_name || '_' || to_char(d, 'YYYYMMDD');
      CONTINUE WHEN to_regclass(part) IS NOT NULL;
      EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, r.table_name);
      EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                     r.table_name || '_default', col, d, col, d + 1, part);
      EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                     r.table_name, part, d::timestamptz, (d + 1)::timestamptz);
    END LOOP;
    FOR old IN
      SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = r.table_name::regclass
         AND c.relname ~ ('^' || r.table_name || '_[0-9]{8}$')
         AND to_date(right(c.relname, 8), 'YYYYMMDD') < current_date - r.keep_days
    LOOP
      EXECUTE format('DROP TABLE %I', old.relname);
    END LOOP;
  END LOOP;
END $$;
\endif
-- UTC days: partition bounds are dates cast to timestamptz in the session's zone.
SET TIME ZONE 'UTC';
SELECT weir_maintain();

-- Each edge window with its late corrections merged in. A reading that arrives after
-- its window closed goes out as a correction holding that reading alone (late = 1,
-- src/analytics/windows/types.ts), so a window's totals are its on-time aggregate and
-- its corrections combined: counts and sums add, min/max combine, avg = sum / count.
-- first/last are the on-time aggregate's (a correction does not say where its reading
-- falls among them by event time); for a window with corrections only, the oldest's
-- first and the newest's last. seq and stored_at are the newest row's. Same columns,
-- in the same order and types, as the table: CREATE OR REPLACE keeps working.
CREATE OR REPLACE VIEW aggregates_latest AS
SELECT window_start, max(window_end) AS window_end, gateway, max(seq) AS seq, device, max(profile) AS profile,
       metric, window_name, tags, sum(count)::bigint AS count, min(min) AS min, max(max) AS max,
       CASE WHEN count(*) = 1 THEN min(avg) ELSE sum(sum) / sum(count) END AS avg, sum(sum) AS sum,
       (array_agg(first ORDER BY late, seq))[1] AS first, (array_agg(last ORDER BY late, seq DESC))[1] AS last,
       sum(late)::integer AS late, max(stored_at) AS stored_at
  FROM aggregates
 GROUP BY gateway, device, metric, window_name, tags, window_start;

-- Alerts currently firing: the last state per (gateway, device, rule, tags) is 'firing'.
-- Last by seq, the gateway's journal order (PRODUCT.md: unique and increasing per
-- gateway), which is the order its rule engine changed the state in. Not by ts: that is
-- the event time of the reading that changed it, and an out-of-order reading resolves
-- an alert with a ts older than the firing's (src/analytics/rules/states.ts).
CREATE OR REPLACE VIEW alerts_firing AS
SELECT * FROM (
  SELECT DISTINCT ON (gateway, device, rule, tags) *
    FROM alerts ORDER BY gateway, device, rule, tags, seq DESC
) last WHERE state = 'firing';

-- The newest status per gateway: backlog and oldest unsent age, for the health board.
-- Newest by seq (unique and increasing per gateway, across restarts: PRODUCT.md), not by
-- ts: ts is the gateway's wall clock, which can step back (NTP fixing a clock that ran
-- ahead, a Pi without RTC restoring an older time at boot), and the records written
-- after the step would rank below the stale ones before it.
CREATE OR REPLACE VIEW gateway_latest AS
SELECT DISTINCT ON (gateway) *
  FROM gateway_status WHERE event IN ('started', 'heartbeat', 'stopped')
 ORDER BY gateway, seq DESC;

-- Outage gaps: stretches with no status record from a gateway for longer than three
-- heartbeat intervals (gateway.statusIntervalSeconds, 60 s by default) — the gateway was
-- down, or its clock jumped. Uplink outages show in the heartbeats themselves (uplink
-- state, backlog), which the gateway journals and delivers once Kafka is back.
-- Consecutive by seq, the order the gateway wrote them in (as gateway_latest), not by ts:
-- after its clock stepped back, ts order puts the records after the step among those
-- before it and makes a gap of the step. A record forwarded before the clock synced has
-- a provisional ts (clock = 'unsynced', 10-schema.sql) on another timeline than the
-- synced ones: the pair that straddles the sync measures nothing and is skipped.
CREATE OR REPLACE VIEW gateway_outages AS
SELECT gateway, prev_ts AS from_ts, ts AS to_ts, ts - prev_ts AS duration
  FROM (SELECT gateway, ts, lag(ts) OVER w AS prev_ts,
               clock IS NOT DISTINCT FROM 'unsynced' AS provisional, lag(clock IS NOT DISTINCT FROM 'unsynced') OVER w AS prev_provisional
          FROM gateway_status WHERE event IN ('started', 'heartbeat', 'stopped')
        WINDOW w AS (PARTITION BY gateway ORDER BY seq)) s
 WHERE prev_ts IS NOT NULL AND provisional = prev_provisional AND ts - prev_ts > INTERVAL '180 seconds';

-- Records a gateway's disk limit evicted before they could be sent (journal.maxBytes).
CREATE OR REPLACE VIEW gateway_evictions AS
SELECT gateway, ts, gap_stream AS stream, gap_from_seq AS from_seq, gap_to_seq AS to_seq, gap_count AS records, reason
  FROM gateway_status WHERE event = 'gap';
