-- Job weir-patterns: complex events with MATCH_RECOGNIZE (SQL:2016 row pattern
-- recognition; seed 002). The pattern: a device's metric rising three windows in a
-- row — four consecutive 5-minute windows, each average above the one before — the
-- early sign of a failing fan or a blocked filter, where one high reading says little.
SET 'pipeline.name' = 'weir-patterns';

CREATE TEMPORARY VIEW device_points AS
SELECT r.gateway, r.seq, r.device, r.event_time, m.metric, m.val
  FROM weir_readings /*+ OPTIONS('properties.group.id' = 'weir-patterns') */ AS r
 CROSS JOIN UNNEST(r.metrics) AS m (metric, val)
 WHERE r.gateway IS NOT NULL AND r.ts IS NOT NULL AND m.val IS NOT NULL
   AND NOT COALESCE(ARRAY_CONTAINS(r.flags, 'future-ts'), FALSE);

-- Per device and metric (across its tags), the 5-minute averages; window_time stays
-- an event-time attribute, which MATCH_RECOGNIZE orders by.
-- A record delivered twice counts once (window deduplication, as in 20-fleet-rollups).
CREATE TEMPORARY VIEW device_windowed AS
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, gateway, seq, metric ORDER BY event_time ASC) AS copy
    FROM TABLE(TUMBLE(TABLE device_points, DESCRIPTOR(event_time), INTERVAL '5' MINUTES))
) WHERE copy = 1;

CREATE TEMPORARY VIEW device_windows AS
SELECT gateway, device, metric, window_start, window_end, window_time, AVG(val) AS avg_value
  FROM device_windowed
 GROUP BY gateway, device, metric, window_start, window_end, window_time;

INSERT INTO store_patterns
SELECT first_window, last_window, 'rising-3-windows', gateway, device, metric, first_avg, last_avg
  FROM device_windows
  MATCH_RECOGNIZE (
    PARTITION BY gateway, device, metric
    ORDER BY window_time
    MEASURES A.window_start AS first_window, D.window_end AS last_window,
             A.avg_value AS first_avg, D.avg_value AS last_avg
    ONE ROW PER MATCH
    -- A match consumes its windows: a ramp over 8 windows is two matches, not five.
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (A B C D)
    -- Consecutive windows only: a window with no readings breaks the run.
    DEFINE
      B AS B.avg_value > A.avg_value AND B.window_start = A.window_end,
      C AS C.avg_value > B.avg_value AND C.window_start = B.window_end,
      D AS D.avg_value > C.avg_value AND D.window_start = C.window_end
  );
