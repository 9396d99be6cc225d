-- Job weir-fleet-rollups: seed 001's pipeline across the whole fleet.
--  * 5-minute tumbling event-time windows per site (= gateway: one Weir per site) /
--    profile / metric, with 10 s allowed lateness (the watermark of weir_readings);
--    a reading later than that is dropped here — the edge's own aggregates keep it.
--  * The seed-001 filter, usage > 90, as a stream: topic weir.fleet-alerts and the
--    store's fleet_alerts table.
-- Readings the gateway flagged future-ts (a device clock far ahead) stay out, as at
-- the edge.
SET 'pipeline.name' = 'weir-fleet-rollups';

CREATE TEMPORARY VIEW fleet_points AS
SELECT r.gateway, r.seq, r.device, r.profile, r.ts, r.tags, r.event_time, m.metric, m.val
  FROM weir_readings /*+ OPTIONS('properties.group.id' = 'weir-fleet-rollups') */ AS r
 CROSS JOIN UNNEST(r.metrics) AS m (metric, val)
 WHERE r.gateway IS NOT NULL AND r.seq IS NOT NULL AND r.ts IS NOT NULL AND m.val IS NOT NULL
   AND NOT COALESCE(ARRAY_CONTAINS(r.flags, 'future-ts'), FALSE);

-- A record Kafka delivered twice (same gateway + seq) counts once: window
-- deduplication keeps the first copy within its window, so no state outlives the
-- window (a plain ROW_NUMBER over the stream would keep every key forever).
CREATE TEMPORARY VIEW fleet_windowed AS
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, gateway, seq, metric ORDER BY event_time ASC) AS copy
    FROM TABLE(TUMBLE(TABLE fleet_points, DESCRIPTOR(event_time), INTERVAL '5' MINUTES))
) WHERE copy = 1;

EXECUTE STATEMENT SET BEGIN

INSERT INTO store_fleet_rollups
SELECT window_start, window_end, gateway, profile, metric,
       COUNT(*), COUNT(DISTINCT device), MIN(val), MAX(val), AVG(val), SUM(val)
  FROM fleet_windowed
 GROUP BY window_start, window_end, gateway, profile, metric;

INSERT INTO store_fleet_alerts
SELECT CAST(TO_TIMESTAMP_LTZ(ts, 3) AS TIMESTAMP(3)), gateway, seq, metric, device, profile, val, COALESCE(tags, '{}')
  FROM fleet_points
 WHERE profile = 'cpu-monitor' AND metric = 'usage' AND val > 90;

INSERT INTO fleet_alerts_topic
SELECT device, gateway, seq, device, profile, ts, 'usage-over-90', metric, val
  FROM fleet_points
 WHERE profile = 'cpu-monitor' AND metric = 'usage' AND val > 90;

END;
