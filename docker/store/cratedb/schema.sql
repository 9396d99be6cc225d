-- Weir central store, CrateDB 5.10 dialect: the tables of store/postgres/10-schema.sql
-- with the same names and columns, for the compose profile `cratedb`.
--
-- A psql script (\getenv, \gset, \if), loaded over CrateDB's PostgreSQL wire protocol
-- by the compose service cratedb-schema:
--   psql -h CRATEDB -U crate -d doc -v ON_ERROR_STOP=1 -f schema.sql
-- with STORE_USER / STORE_PASSWORD in the environment (the login the jobs and Grafana
-- use). Idempotent: IF NOT EXISTS everywhere, the user only created when missing.
--
-- What differs from PostgreSQL, and why:
-- * Time partitioning: each table is PARTITIONED BY a generated column `day`, the UTC
--   day of its time column; CrateDB makes a partition per day on first insert.
--   Retention is a DELETE whose WHERE names whole days, which CrateDB carries out by
--   dropping partitions (no per-row work):
--     DELETE FROM readings WHERE day < date_trunc('day', now() - INTERVAL '30 days');
--   (keep_days per table in weir_retention, as in PostgreSQL).
-- * Primary keys: CrateDB requires a partition column to be part of the primary key,
--   so every key is the PostgreSQL key plus `day`. `day` is a function of the time
--   column already in the key, so the same rows are unique; but an upsert's
--   ON CONFLICT (...) must then name `day` too (CrateDB wants the whole key there).
-- * jsonb -> OBJECT(DYNAMIC), without the DEFAULT '{}' (CrateDB allows no default on
--   an object column: the writer always sends tags); timestamptz -> TIMESTAMP WITH
--   TIME ZONE (millisecond precision); clock_timestamp() -> now().
-- * first and last are reserved words in CrateDB: those aggregate columns are quoted
--   here, and must be quoted in every statement that names them.
-- * No views: the PostgreSQL views (store/postgres/20-timeseries.sql) use DISTINCT ON,
--   which CrateDB lacks.
-- * No triggers: CrateDB has none, so a record re-sent after its gateway's clock synced
--   (clock = 'corrected', times moved) keeps its unsynced copy as a second row; the
--   PostgreSQL store drops it (clock_dedup, store/postgres/10-schema.sql). A query that
--   must count a record once skips clock = 'unsynced' rows whose (gateway, seq) also
--   has a 'corrected' one.
-- * One shard per partition (CLUSTERED INTO 1 SHARDS, from 4 by default): a day of one
--   table is small, and thousands of partitions x 4 shards would swamp one node.
--   number_of_replicas '0-1': one copy more once a second node joins.

\getenv store_user STORE_USER
\getenv store_password STORE_PASSWORD

CREATE TABLE IF NOT EXISTS weir_retention (
  table_name TEXT PRIMARY KEY,
  keep_days  INTEGER NOT NULL CHECK (keep_days > 0)
);
INSERT INTO weir_retention (table_name, keep_days) VALUES
  ('readings', 30), ('aggregates', 400), ('alerts', 400), ('gateway_status', 90),
  ('fleet_rollups', 400), ('fleet_alerts', 90), ('patterns', 400)
ON CONFLICT (table_name) DO NOTHING;

CREATE TABLE IF NOT EXISTS readings (
  ts        TIMESTAMP WITH TIME ZONE NOT NULL,
  gateway   TEXT NOT NULL,
  seq       BIGINT NOT NULL,
  metric    TEXT NOT NULL,
  value     DOUBLE PRECISION NOT NULL,
  device    TEXT NOT NULL,
  profile   TEXT NOT NULL,
  received  TIMESTAMP WITH TIME ZONE NOT NULL,
  tags      OBJECT(DYNAMIC) NOT NULL,
  clock     TEXT,
  stored_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  day       TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('day', 'UTC', ts),
  PRIMARY KEY (gateway, seq, metric, ts, day)
) CLUSTERED INTO 1 SHARDS PARTITIONED BY (day) WITH (number_of_replicas = '0-1');

CREATE TABLE IF NOT EXISTS aggregates (
  window_start TIMESTAMP WITH TIME ZONE NOT NULL,
  window_end   TIMESTAMP WITH TIME ZONE NOT NULL,
  gateway      TEXT NOT NULL,
  seq          BIGINT NOT NULL,
  device       TEXT NOT NULL,
  profile      TEXT NOT NULL,
  metric       TEXT NOT NULL,
  window_name  TEXT,
  tags         OBJECT(DYNAMIC) NOT NULL,
  count        BIGINT NOT NULL,
  min          DOUBLE PRECISION,
  max          DOUBLE PRECISION,
  avg          DOUBLE PRECISION,
  sum          DOUBLE PRECISION,
  "first"      DOUBLE PRECISION,
  "last"       DOUBLE PRECISION,
  late         INTEGER NOT NULL DEFAULT 0,
  clock        TEXT,
  stored_at    TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  day          TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('day', 'UTC', window_start),
  PRIMARY KEY (gateway, seq, window_start, day)
) CLUSTERED INTO 1 SHARDS PARTITIONED BY (day) WITH (number_of_replicas = '0-1');

CREATE TABLE IF NOT EXISTS alerts (
  ts        TIMESTAMP WITH TIME ZONE NOT NULL,
  gateway   TEXT NOT NULL,
  seq       BIGINT NOT NULL,
  device    TEXT NOT NULL,
  profile   TEXT NOT NULL,
  rule      TEXT NOT NULL,
  kind      TEXT NOT NULL,
  state     TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
  metric    TEXT,
  value     DOUBLE PRECISION,
  tags      OBJECT(DYNAMIC) NOT NULL,
  clock     TEXT,
  stored_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  day       TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('day', 'UTC', ts),
  PRIMARY KEY (gateway, seq, ts, day)
) CLUSTERED INTO 1 SHARDS PARTITIONED BY (day) WITH (number_of_replicas = '0-1');

CREATE TABLE IF NOT EXISTS gateway_status (
  ts              TIMESTAMP WITH TIME ZONE NOT NULL,
  gateway         TEXT NOT NULL,
  seq             BIGINT NOT NULL,
  event           TEXT NOT NULL,
  uplink          TEXT,
  backlog         BIGINT,
  oldest_unsent_s DOUBLE PRECISION,
  journal_bytes   BIGINT,
  last_seq        BIGINT,
  gap_stream      TEXT,
  gap_from_seq    BIGINT,
  gap_to_seq      BIGINT,
  gap_count       BIGINT,
  reason          TEXT,
  clock           TEXT,
  stored_at       TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  day             TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('day', 'UTC', ts),
  PRIMARY KEY (gateway, seq, ts, day)
) CLUSTERED INTO 1 SHARDS PARTITIONED BY (day) WITH (number_of_replicas = '0-1');

CREATE TABLE IF NOT EXISTS fleet_rollups (
  window_start TIMESTAMP WITH TIME ZONE NOT NULL,
  window_end   TIMESTAMP WITH TIME ZONE NOT NULL,
  site         TEXT NOT NULL,
  profile      TEXT NOT NULL,
  metric       TEXT NOT NULL,
  readings     BIGINT NOT NULL,
  devices      BIGINT NOT NULL,
  min          DOUBLE PRECISION,
  max          DOUBLE PRECISION,
  avg          DOUBLE PRECISION,
  sum          DOUBLE PRECISION,
  stored_at    TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  day          TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('day', 'UTC', window_start),
  PRIMARY KEY (site, profile, metric, window_start, day)
) CLUSTERED INTO 1 SHARDS PARTITIONED BY (day) WITH (number_of_replicas = '0-1');

CREATE TABLE IF NOT EXISTS fleet_alerts (
  ts        TIMESTAMP WITH TIME ZONE NOT NULL,
  gateway   TEXT NOT NULL,
  seq       BIGINT NOT NULL,
  metric    TEXT NOT NULL,
  device    TEXT NOT NULL,
  profile   TEXT NOT NULL,
  value     DOUBLE PRECISION NOT NULL,
  tags      OBJECT(DYNAMIC) NOT NULL,
  stored_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  day       TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('day', 'UTC', ts),
  PRIMARY KEY (gateway, seq, metric, ts, day)
) CLUSTERED INTO 1 SHARDS PARTITIONED BY (day) WITH (number_of_replicas = '0-1');

CREATE TABLE IF NOT EXISTS patterns (
  first_window TIMESTAMP WITH TIME ZONE NOT NULL,
  last_window  TIMESTAMP WITH TIME ZONE NOT NULL,
  pattern      TEXT NOT NULL,
  gateway      TEXT NOT NULL,
  device       TEXT NOT NULL,
  metric       TEXT NOT NULL,
  first_avg    DOUBLE PRECISION NOT NULL,
  last_avg     DOUBLE PRECISION NOT NULL,
  stored_at    TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  day          TIMESTAMP WITH TIME ZONE GENERATED ALWAYS AS date_trunc('day', 'UTC', first_window),
  PRIMARY KEY (pattern, gateway, device, metric, first_window, day)
) CLUSTERED INTO 1 SHARDS PARTITIONED BY (day) WITH (number_of_replicas = '0-1');

-- The login for the jobs and Grafana: created once, its rights granted every time.
SELECT count(*) = 0 AS need_user FROM sys.users WHERE name = :'store_user' \gset
\if :need_user
CREATE USER :"store_user" WITH (password = :'store_password');
\endif
GRANT DQL, DML, DDL ON SCHEMA doc TO :"store_user";
