-- Weir central store, PostgreSQL (TimescaleDB when present).
SET client_min_messages = warning;
--
-- Loaded with psql (ON_ERROR_STOP=1) once by the PostgreSQL image's /docker-entrypoint-initdb.d on first start,
-- and by the tests (test/support/postgres.ts) into a fresh cluster. Idempotent: every
-- statement is IF NOT EXISTS / OR REPLACE, so loading it twice changes nothing.
--
-- Idempotent ingest: every table fed from Kafka has a primary key that contains the
-- contract's record identity, (gateway, seq) = the `weir-gateway` + `weir-seq`
-- headers (PRODUCT.md, "Delivery promise"), so a redelivered record hits ON CONFLICT
-- and never makes a second row. The time column is part of every key because both a
-- partitioned table and a hypertable require the partitioning column in each unique
-- index; a redelivered record carries the same time, so this costs nothing — except a
-- record forwarded before its gateway's clock synced and re-sent after (see "Clock
-- corrections" at the end of this file), which the clock_dedup triggers keep to one row.
--
-- Time-series layout: with the timescaledb extension available the tables become
-- hypertables (1-day chunks) with retention policies; without it (plain PostgreSQL,
-- as in CI) they are declaratively RANGE-partitioned by day, and weir_maintain()
-- creates the coming days' partitions and drops the expired ones.

-- psql script (the image's initdb runs .sql files through psql): \if chooses between
-- the two layouts, and :by_* expand to the PARTITION BY clause or to nothing.
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS has_timescale \gset
\if :has_timescale
CREATE EXTENSION IF NOT EXISTS timescaledb;
\set by_ts ''
\set by_window_start ''
\set by_first_window ''
\else
\set by_ts 'PARTITION BY RANGE (ts)'
\set by_window_start 'PARTITION BY RANGE (window_start)'
\set by_first_window 'PARTITION BY RANGE (first_window)'
\endif

-- Retention per table, in days; weir_maintain() and the Timescale policies read it.
CREATE TABLE IF NOT EXISTS weir_retention (
  table_name text PRIMARY KEY,
  keep_days  integer NOT NULL CHECK (keep_days > 0)
);
INSERT INTO weir_retention VALUES
  ('readings', 30), ('aggregates', 400), ('alerts', 400), ('gateway_status', 90),
  ('fleet_rollups', 400), ('fleet_alerts', 90), ('patterns', 400)
ON CONFLICT (table_name) DO NOTHING;

-- One row per (reading, metric): "long" form, so Grafana and SQL see one series per
-- metric without knowing a profile's metric names.
CREATE TABLE IF NOT EXISTS readings (
  ts        timestamptz      NOT NULL,  -- device event time
  gateway   text             NOT NULL,
  seq       bigint           NOT NULL,  -- weir-seq
  metric    text             NOT NULL,
  value     double precision NOT NULL,
  device    text             NOT NULL,
  profile   text             NOT NULL,
  received  timestamptz      NOT NULL,  -- gateway receive time
  tags      jsonb            NOT NULL DEFAULT '{}',
  clock     text,                       -- 'unsynced': received (and ts, when it was the gateway's
                                        -- time) provisional; 'corrected': moved by the sync's offset
  stored_at timestamptz      NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (gateway, seq, metric, ts)
) :by_ts;

-- Edge aggregates as the gateways computed them. A late reading at the edge sends a
-- correction of the same window holding that reading alone (late = 1) under a new seq:
-- every row is kept, and aggregates_latest merges them into the window's totals.
CREATE TABLE IF NOT EXISTS aggregates (
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  gateway      text NOT NULL,
  seq          bigint NOT NULL,
  device       text NOT NULL,
  profile      text NOT NULL,
  metric       text NOT NULL,
  window_name  text,
  tags         jsonb NOT NULL DEFAULT '{}',
  count        bigint NOT NULL,
  min          double precision, max double precision, avg double precision, sum double precision,
  first        double precision, last double precision,
  late         integer NOT NULL DEFAULT 0,
  clock        text,                    -- 'unsynced' | 'corrected': provisional gateway times (see readings)
  stored_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (gateway, seq, window_start)
) :by_window_start;

CREATE TABLE IF NOT EXISTS alerts (
  ts        timestamptz NOT NULL,
  gateway   text NOT NULL,
  seq       bigint NOT NULL,
  device    text NOT NULL,
  profile   text NOT NULL,
  rule      text NOT NULL,
  kind      text NOT NULL,
  state     text NOT NULL CHECK (state IN ('firing', 'resolved')),
  metric    text,
  value     double precision,
  tags      jsonb NOT NULL DEFAULT '{}',
  clock     text,
  stored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (gateway, seq, ts)
) :by_ts;

-- Every record of weir.status: heartbeats (backlog, oldest unsent), start/stop, and
-- the gap records a gateway writes when its disk limit evicted unsent data.
CREATE TABLE IF NOT EXISTS gateway_status (
  ts              timestamptz NOT NULL,  -- gateway time the record was written
  gateway         text NOT NULL,
  seq             bigint NOT NULL,
  event           text NOT NULL,         -- started | heartbeat | stopped | gap | record-rejected
  uplink          text,
  backlog         bigint,                -- records not yet forwarded, all streams
  oldest_unsent_s double precision,
  journal_bytes   bigint,
  last_seq        bigint,
  gap_stream      text,                  -- event = 'gap': what the disk limit evicted
  gap_from_seq    bigint,
  gap_to_seq      bigint,
  gap_count       bigint,
  reason          text,
  clock           text,
  stored_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (gateway, seq, ts)
) :by_ts;

-- Fleet roll-up computed by Flink (docker/sql/20-fleet-rollups.sql): 5-minute event-
-- time windows per site (= gateway; one Weir per site) / profile / metric. Keyed by
-- the window, so a re-run of the job overwrites instead of adding.
CREATE TABLE IF NOT EXISTS fleet_rollups (
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  site         text NOT NULL,
  profile      text NOT NULL,
  metric       text NOT NULL,
  readings     bigint NOT NULL,
  devices      bigint NOT NULL,
  min          double precision, max double precision, avg double precision, sum double precision,
  stored_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (site, profile, metric, window_start)
) :by_window_start;

-- Seed 001's filter, fleet-wide: every cpu-monitor reading with usage > 90.
CREATE TABLE IF NOT EXISTS fleet_alerts (
  ts        timestamptz NOT NULL,
  gateway   text NOT NULL,
  seq       bigint NOT NULL,
  metric    text NOT NULL,
  device    text NOT NULL,
  profile   text NOT NULL,
  value     double precision NOT NULL,
  tags      jsonb NOT NULL DEFAULT '{}',
  stored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (gateway, seq, metric, ts)
) :by_ts;

-- Complex-event matches (docker/sql/30-patterns.sql, MATCH_RECOGNIZE).
CREATE TABLE IF NOT EXISTS patterns (
  first_window timestamptz NOT NULL,  -- start of the first window of the match
  last_window  timestamptz NOT NULL,  -- end of the last one
  pattern      text NOT NULL,
  gateway      text NOT NULL,
  device       text NOT NULL,
  metric       text NOT NULL,
  first_avg    double precision NOT NULL,
  last_avg     double precision NOT NULL,
  stored_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (pattern, gateway, device, metric, first_window)
) :by_first_window;

-- The dashboards' access paths (device drill-down, per-gateway health). On a
-- partitioned table the index is created on every partition, present and future.
CREATE INDEX IF NOT EXISTS readings_series ON readings (gateway, device, metric, ts);
CREATE INDEX IF NOT EXISTS aggregates_series ON aggregates (gateway, device, metric, window_start);
CREATE INDEX IF NOT EXISTS alerts_device ON alerts (gateway, device, ts);
CREATE INDEX IF NOT EXISTS gateway_status_time ON gateway_status (gateway, ts);

-- Clock corrections (src/journal/clock-corrections.ts). A record forwarded before its
-- gateway's clock synced carries clock = 'unsynced' and provisional times; if Kafka never
-- acknowledged it (a crash in flight) the gateway re-sends it after the sync with clock =
-- 'corrected' and those times moved by the offset: readings' and alerts' ts when it was
-- the gateway's time, aggregates' window, gateway_status' ts always. The time column is
-- in the key, so ON CONFLICT would not see the second copy, and every query and view
-- would count the record twice. It is one record — same (gateway, seq), PRODUCT.md
-- "Delivery promise" — so these triggers keep one row, the corrected one, in either
-- arrival order (two sink subtasks, a replay from a Flink checkpoint): a corrected copy
-- deletes the unsynced one, an unsynced copy is dropped when the corrected one is there.
-- Only marked rows run it (WHEN clause): the normal path pays nothing. The lookup omits
-- the time column, so it probes every partition's primary key by (gateway, seq) — fine
-- for the few records of a boot before the sync. The advisory lock on (gateway, seq)
-- orders two copies inserted concurrently, so neither misses the other (held to the end
-- of the sink's batch; a rare deadlock between two batches is retried by the sink).
-- TG_ARGV: the table (the trigger runs on a partition or chunk: TG_TABLE_NAME is that),
-- and the key column besides (gateway, seq), if any.
CREATE OR REPLACE FUNCTION weir_clock_dedup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  same text := 'gateway = ($1).gateway AND seq = ($1).seq'
    || CASE WHEN TG_NARGS > 1 THEN format(' AND %I = ($1).%I', TG_ARGV[1], TG_ARGV[1]) ELSE '' END;
  has_corrected boolean;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(NEW.gateway, NEW.seq));
  IF NEW.clock = 'corrected' THEN
    EXECUTE format('DELETE FROM %I WHERE %s AND clock = %L', TG_ARGV[0], same, 'unsynced') USING NEW;
  ELSIF NEW.clock = 'unsynced' THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %s AND clock = %L)', TG_ARGV[0], same, 'corrected')
      INTO has_corrected USING NEW;
    IF has_corrected THEN RETURN NULL; END IF;
  END IF;
  RETURN NEW;
END $$;

-- A store created before aggregates, alerts and gateway_status had the column: loading
-- this file again adds it (and the triggers).
ALTER TABLE aggregates ADD COLUMN IF NOT EXISTS clock text;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS clock text;
ALTER TABLE gateway_status ADD COLUMN IF NOT EXISTS clock text;
CREATE OR REPLACE TRIGGER readings_clock_dedup BEFORE INSERT ON readings
  FOR EACH ROW WHEN (NEW.clock IS NOT NULL) EXECUTE FUNCTION weir_clock_dedup('readings', 'metric');
CREATE OR REPLACE TRIGGER aggregates_clock_dedup BEFORE INSERT ON aggregates
  FOR EACH ROW WHEN (NEW.clock IS NOT NULL) EXECUTE FUNCTION weir_clock_dedup('aggregates');
CREATE OR REPLACE TRIGGER alerts_clock_dedup BEFORE INSERT ON alerts
  FOR EACH ROW WHEN (NEW.clock IS NOT NULL) EXECUTE FUNCTION weir_clock_dedup('alerts');
CREATE OR REPLACE TRIGGER gateway_status_clock_dedup BEFORE INSERT ON gateway_status
  FOR EACH ROW WHEN (NEW.clock IS NOT NULL) EXECUTE FUNCTION weir_clock_dedup('gateway_status');
