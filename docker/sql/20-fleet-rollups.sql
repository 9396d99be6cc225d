-- Job weir-fleet-rollups: seed 001's pipeline across the whole fleet.
--  * 5-minute tumbling event-time windows per site (= gateway: one Weir per site) /
--    profile / metric, with 10 s allowed lateness (the watermark of weir_readings);
--    a reading later than that is dropped here — the edge's own aggregates keep it.
--  * The seed-001 filter, usage > 90, as a stream: topic weir.fleet-alerts and the
--    store's fleet_alerts table.
-- Both read the views reading_points / reading_points_5m (00-tables.sql): readings
-- flagged future-ts stay out, and a record delivered twice counts once.
SET 'pipeline.name' = 'weir-fleet-rollups';
ALTER TABLE weir_readings SET ('properties.group.id' = 'weir-fleet-rollups');

EXECUTE STATEMENT SET BEGIN

INSERT INTO store_fleet_rollups
SELECT window_start, window_end, gateway, profile, metric,
       COUNT(*), COUNT(DISTINCT device), MIN(val), MAX(val), AVG(val), SUM(val)
  FROM reading_points_5m
 GROUP BY window_start, window_end, gateway, profile, metric;

INSERT INTO store_fleet_alerts
SELECT CAST(TO_TIMESTAMP_LTZ(ts, 3) AS TIMESTAMP(3)), gateway, seq, metric, device, profile, val, COALESCE(tags, '{}')
  FROM reading_points
 WHERE profile = 'cpu-monitor' AND metric = 'usage' AND val > 90;

INSERT INTO fleet_alerts_topic
SELECT device, gateway, seq, device, profile, ts, 'usage-over-90', metric, val
  FROM reading_points
 WHERE profile = 'cpu-monitor' AND metric = 'usage' AND val > 90;

END;
