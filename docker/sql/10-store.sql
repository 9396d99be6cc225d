-- Job weir-store: readings, edge aggregates and edge alerts from Kafka into the store.
-- Idempotent: each sink's primary key holds (gateway, seq), so a redelivered record
-- (same weir-gateway + weir-seq) overwrites its own row and never adds one; one re-sent
-- with its clock corrected replaces the unsynced copy (clock; store/postgres/10-schema.sql).
SET 'pipeline.name' = 'weir-store';
ALTER TABLE weir_readings SET ('properties.group.id' = 'weir-store');
ALTER TABLE weir_aggregates SET ('properties.group.id' = 'weir-store');
ALTER TABLE weir_alerts SET ('properties.group.id' = 'weir-store');

EXECUTE STATEMENT SET BEGIN

-- One row per (reading, metric): UNNEST turns the metrics object into rows.
INSERT INTO store_readings
SELECT CAST(TO_TIMESTAMP_LTZ(r.ts, 3) AS TIMESTAMP(3)), r.gateway, r.seq, m.metric, m.val,
       r.device, r.profile, CAST(TO_TIMESTAMP_LTZ(r.received, 3) AS TIMESTAMP(3)),
       COALESCE(r.tags, '{}'), r.clock
  FROM weir_readings AS r
 CROSS JOIN UNNEST(r.metrics) AS m (metric, val)
 WHERE r.gateway IS NOT NULL AND r.seq IS NOT NULL AND r.ts IS NOT NULL AND m.val IS NOT NULL;

INSERT INTO store_aggregates
SELECT CAST(TO_TIMESTAMP_LTZ(window_start, 3) AS TIMESTAMP(3)), CAST(TO_TIMESTAMP_LTZ(window_end, 3) AS TIMESTAMP(3)),
       gateway, seq, device, profile, metric, `window`, COALESCE(tags, '{}'),
       `count`, `min`, `max`, `avg`, `sum`, `first`, `last`, COALESCE(late, 0), clock
  FROM weir_aggregates
 WHERE gateway IS NOT NULL AND seq IS NOT NULL AND window_start IS NOT NULL;

INSERT INTO store_alerts
SELECT CAST(TO_TIMESTAMP_LTZ(ts, 3) AS TIMESTAMP(3)), gateway, seq, device, profile,
       rule, kind, state, metric, `value`, COALESCE(tags, '{}'), clock
  FROM weir_alerts
 WHERE gateway IS NOT NULL AND seq IS NOT NULL AND ts IS NOT NULL AND state IN ('firing', 'resolved');

END;
