-- The tables every Weir Flink job reads and writes: the gateways' Kafka topics
-- (record format: PRODUCT.md, "Kafka records") and the store's tables
-- (docker/store/postgres/10-schema.sql). Run before each job file by
-- dev.weir.flink.SqlRunner; ${NAME:-default} comes from the environment.
--
-- Consumer groups: each job file starts by giving the sources it reads its own group
-- (ALTER TABLE ... SET ('properties.group.id' = ...)), so two jobs reading one topic
-- never commit each other's offsets; 'weir-central' is only the default.
--
-- Record identity: every value carries "gateway" and "seq", the same values as the
-- contract's weir-gateway / weir-seq headers, so the jobs read them from the JSON.
-- Store sinks declare the store's primary key; the JDBC connector then writes
-- INSERT ... ON CONFLICT (key) DO UPDATE, so a record Kafka redelivers (a gateway
-- crash in flight, a Flink restart from its last checkpoint) never adds a row. A copy
-- re-sent with its times corrected (clock) has another time in the key: the store's
-- clock_dedup triggers keep one row of it (store/postgres/10-schema.sql).

-- Times are written to the store as UTC wall-clock TIMESTAMP(3) into timestamptz
-- columns; the JVM runs with -Duser.timezone=UTC so the JDBC driver agrees.
SET 'table.local-time-zone' = 'UTC';
-- A Kafka partition that receives nothing must not hold the fleet's watermark back
-- (a site with few devices leaves partitions empty).
SET 'table.exec.source.idle-timeout' = '${WEIR_IDLE_TIMEOUT:-30 s}';

CREATE TABLE weir_readings (
  gateway  STRING,
  seq      BIGINT,
  received BIGINT,
  device   STRING,
  profile  STRING,
  ts       BIGINT,
  -- A STRING column keeps a nested JSON object as its text: stored as jsonb as is.
  tags     STRING,
  metrics  MAP<STRING, DOUBLE>,
  flags    ARRAY<STRING>,
  clock    STRING,
  -- Event time, but never more than 5 minutes past the gateway's receive time (the
  -- gateway's own analytics.maxFutureSkewMs default): one device with a clock an hour
  -- ahead must not drag the watermark forward and make every other device late.
  event_time AS TO_TIMESTAMP_LTZ(LEAST(ts, received + 300000), 3),
  -- Seed 001: 10 s allowed lateness = the watermark trails the newest event by 10 s.
  WATERMARK FOR event_time AS event_time - INTERVAL '10' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = '${WEIR_TOPIC_READINGS:-weir.readings}',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP:-kafka:9092}',
  'properties.group.id' = 'weir-central',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  'format' = 'json',
  'json.ignore-parse-errors' = 'true'
);

CREATE TABLE weir_aggregates (
  gateway STRING, seq BIGINT, received BIGINT, device STRING, profile STRING,
  metric STRING, tags STRING, `window` STRING,
  window_start BIGINT, window_end BIGINT,
  `count` BIGINT, `min` DOUBLE, `max` DOUBLE, `avg` DOUBLE, `sum` DOUBLE, `first` DOUBLE, `last` DOUBLE,
  late INT,
  -- 'unsynced' / 'corrected' (src/journal/clock-corrections.ts), on every stream: the
  -- store keeps one row of a record re-sent after its gateway's clock synced.
  clock STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '${WEIR_TOPIC_AGGREGATES:-weir.aggregates}',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP:-kafka:9092}',
  'properties.group.id' = 'weir-central',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  'format' = 'json',
  'json.ignore-parse-errors' = 'true'
);

CREATE TABLE weir_alerts (
  gateway STRING, seq BIGINT, received BIGINT, device STRING, profile STRING, ts BIGINT,
  rule STRING, kind STRING, state STRING, metric STRING, `value` DOUBLE, tags STRING, clock STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '${WEIR_TOPIC_ALERTS:-weir.alerts}',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP:-kafka:9092}',
  'properties.group.id' = 'weir-central',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  'format' = 'json',
  'json.ignore-parse-errors' = 'true'
);

-- weir.status: heartbeats ({event, uplink, backlog{stream: n}, oldest_unsent_s, ...})
-- and the gateway's gap records ({event: 'gap', stream, from_seq, to_seq, count, reason}).
CREATE TABLE weir_status (
  gateway STRING, seq BIGINT, received BIGINT,
  event STRING, uplink STRING, backlog MAP<STRING, BIGINT>, oldest_unsent_s DOUBLE,
  journal_bytes BIGINT, last_seq BIGINT,
  `stream` STRING, from_seq BIGINT, to_seq BIGINT, `count` BIGINT, reason STRING, clock STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '${WEIR_TOPIC_STATUS:-weir.status}',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP:-kafka:9092}',
  'properties.group.id' = 'weir-central',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  'format' = 'json',
  'json.ignore-parse-errors' = 'true'
);

-- Store sinks. The JDBC URL needs stringtype=unspecified: tags travel as JSON text
-- and PostgreSQL casts it into the jsonb column. reWriteBatchedInserts=true lets the
-- PostgreSQL driver send a batch as multi-row INSERTs (bench/central.ts: +15 %).
-- Flushing every 100 ms (WEIR_SINK_FLUSH) keeps a reading's way from Kafka to a
-- visible row near 60 ms at p50 (1 s: ~530 ms), for at most 10 small batches a second
-- per sink when traffic is light; under load the 1000-row batches flush first. Rows are batched (max-rows or the
-- flush interval, whichever first): one round trip per batch, not per reading.

CREATE TABLE store_readings (
  ts TIMESTAMP(3), gateway STRING, seq BIGINT, metric STRING, `value` DOUBLE,
  device STRING, profile STRING, received TIMESTAMP(3), tags STRING, clock STRING,
  PRIMARY KEY (gateway, seq, metric, ts) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${STORE_JDBC_URL:-jdbc:postgresql://store:5432/weir?stringtype=unspecified&reWriteBatchedInserts=true}',
  'username' = '${STORE_USER:-weir}',
  'password' = '${STORE_PASSWORD:-weir}',
  'table-name' = 'readings',
  'sink.buffer-flush.max-rows' = '${WEIR_SINK_ROWS:-1000}',
  'sink.buffer-flush.interval' = '${WEIR_SINK_FLUSH:-100 ms}',
  'sink.max-retries' = '10'
);

CREATE TABLE store_aggregates (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), gateway STRING, seq BIGINT,
  device STRING, profile STRING, metric STRING, window_name STRING, tags STRING,
  `count` BIGINT, `min` DOUBLE, `max` DOUBLE, `avg` DOUBLE, `sum` DOUBLE, `first` DOUBLE, `last` DOUBLE,
  late INT, clock STRING,
  PRIMARY KEY (gateway, seq, window_start) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${STORE_JDBC_URL:-jdbc:postgresql://store:5432/weir?stringtype=unspecified&reWriteBatchedInserts=true}',
  'username' = '${STORE_USER:-weir}',
  'password' = '${STORE_PASSWORD:-weir}',
  'table-name' = 'aggregates',
  'sink.buffer-flush.max-rows' = '${WEIR_SINK_ROWS:-1000}',
  'sink.buffer-flush.interval' = '${WEIR_SINK_FLUSH:-100 ms}',
  'sink.max-retries' = '10'
);

CREATE TABLE store_alerts (
  ts TIMESTAMP(3), gateway STRING, seq BIGINT, device STRING, profile STRING,
  rule STRING, kind STRING, state STRING, metric STRING, `value` DOUBLE, tags STRING, clock STRING,
  PRIMARY KEY (gateway, seq, ts) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${STORE_JDBC_URL:-jdbc:postgresql://store:5432/weir?stringtype=unspecified&reWriteBatchedInserts=true}',
  'username' = '${STORE_USER:-weir}',
  'password' = '${STORE_PASSWORD:-weir}',
  'table-name' = 'alerts',
  'sink.buffer-flush.max-rows' = '${WEIR_SINK_ROWS:-1000}',
  'sink.buffer-flush.interval' = '${WEIR_SINK_FLUSH:-100 ms}',
  'sink.max-retries' = '10'
);

CREATE TABLE store_gateway_status (
  ts TIMESTAMP(3), gateway STRING, seq BIGINT, event STRING, uplink STRING,
  backlog BIGINT, oldest_unsent_s DOUBLE, journal_bytes BIGINT, last_seq BIGINT,
  gap_stream STRING, gap_from_seq BIGINT, gap_to_seq BIGINT, gap_count BIGINT, reason STRING, clock STRING,
  PRIMARY KEY (gateway, seq, ts) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${STORE_JDBC_URL:-jdbc:postgresql://store:5432/weir?stringtype=unspecified&reWriteBatchedInserts=true}',
  'username' = '${STORE_USER:-weir}',
  'password' = '${STORE_PASSWORD:-weir}',
  'table-name' = 'gateway_status',
  'sink.buffer-flush.max-rows' = '${WEIR_SINK_ROWS:-1000}',
  'sink.buffer-flush.interval' = '${WEIR_SINK_FLUSH:-100 ms}',
  'sink.max-retries' = '10'
);

CREATE TABLE store_fleet_rollups (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), site STRING, profile STRING, metric STRING,
  readings BIGINT, devices BIGINT, `min` DOUBLE, `max` DOUBLE, `avg` DOUBLE, `sum` DOUBLE,
  PRIMARY KEY (site, profile, metric, window_start) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${STORE_JDBC_URL:-jdbc:postgresql://store:5432/weir?stringtype=unspecified&reWriteBatchedInserts=true}',
  'username' = '${STORE_USER:-weir}',
  'password' = '${STORE_PASSWORD:-weir}',
  'table-name' = 'fleet_rollups',
  'sink.buffer-flush.max-rows' = '${WEIR_SINK_ROWS:-1000}',
  'sink.buffer-flush.interval' = '${WEIR_SINK_FLUSH:-100 ms}',
  'sink.max-retries' = '10'
);

CREATE TABLE store_fleet_alerts (
  ts TIMESTAMP(3), gateway STRING, seq BIGINT, metric STRING, device STRING, profile STRING,
  `value` DOUBLE, tags STRING,
  PRIMARY KEY (gateway, seq, metric, ts) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${STORE_JDBC_URL:-jdbc:postgresql://store:5432/weir?stringtype=unspecified&reWriteBatchedInserts=true}',
  'username' = '${STORE_USER:-weir}',
  'password' = '${STORE_PASSWORD:-weir}',
  'table-name' = 'fleet_alerts',
  'sink.buffer-flush.max-rows' = '${WEIR_SINK_ROWS:-1000}',
  'sink.buffer-flush.interval' = '${WEIR_SINK_FLUSH:-100 ms}',
  'sink.max-retries' = '10'
);

CREATE TABLE store_patterns (
  first_window TIMESTAMP(3), last_window TIMESTAMP(3), `pattern` STRING, gateway STRING,
  device STRING, metric STRING, first_avg DOUBLE, last_avg DOUBLE,
  PRIMARY KEY (`pattern`, gateway, device, metric, first_window) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${STORE_JDBC_URL:-jdbc:postgresql://store:5432/weir?stringtype=unspecified&reWriteBatchedInserts=true}',
  'username' = '${STORE_USER:-weir}',
  'password' = '${STORE_PASSWORD:-weir}',
  'table-name' = 'patterns',
  'sink.buffer-flush.max-rows' = '${WEIR_SINK_ROWS:-1000}',
  'sink.buffer-flush.interval' = '${WEIR_SINK_FLUSH:-100 ms}',
  'sink.max-retries' = '10'
);

-- Seed 001's filtered stream, for consumers downstream of the store (notifications):
-- JSON like the edge's weir.alerts, keyed by device, one record per reading over 90.
CREATE TABLE fleet_alerts_topic (
  `key` STRING, gateway STRING, seq BIGINT, device STRING, profile STRING, ts BIGINT,
  rule STRING, metric STRING, `value` DOUBLE
) WITH (
  'connector' = 'kafka',
  'topic' = '${WEIR_TOPIC_FLEET_ALERTS:-weir.fleet-alerts}',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP:-kafka:9092}',
  'key.format' = 'raw',
  'key.fields' = 'key',
  'value.format' = 'json',
  'value.fields-include' = 'EXCEPT_KEY',
  'sink.delivery-guarantee' = 'at-least-once'
);

-- What the fleet-wide jobs (20-fleet-rollups, 30-patterns) analyse: one row per
-- (reading, metric). Readings the gateway flagged future-ts (a device clock far
-- ahead) stay out, as they do at the edge.
CREATE TEMPORARY VIEW reading_points AS
SELECT r.gateway, r.seq, r.device, r.profile, r.ts, r.tags, r.event_time, m.metric, m.val
  FROM weir_readings AS r
 CROSS JOIN UNNEST(r.metrics) AS m (metric, val)
 WHERE r.gateway IS NOT NULL AND r.seq IS NOT NULL AND r.ts IS NOT NULL AND m.val IS NOT NULL
   AND NOT COALESCE(ARRAY_CONTAINS(r.flags, 'future-ts'), FALSE);

-- The same in 5-minute tumbling event-time windows, a record delivered twice (same
-- gateway + seq) counted once: window deduplication keeps the first copy within its
-- window, so no state outlives the window (a plain ROW_NUMBER over the stream would
-- keep every key forever).
CREATE TEMPORARY VIEW reading_points_5m AS
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, gateway, seq, metric ORDER BY event_time ASC) AS copy
    FROM TABLE(TUMBLE(TABLE reading_points, DESCRIPTOR(event_time), INTERVAL '5' MINUTES))
) WHERE copy = 1;
