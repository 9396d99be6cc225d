-- Job weir-patterns: complex events with MATCH_RECOGNIZE (SQL:2016 row pattern
-- recognition; seed 002). The pattern: a device's metric rising three windows in a
-- row — four consecutive 5-minute windows, each average above the one before — the
-- early sign of a failing fan or a blocked filter, where one high reading says little.
SET 'pipeline.name' = 'weir-patterns';
ALTER TABLE weir_readings SET ('properties.group.id' = 'weir-patterns');

-- Per device and metric (across its tags), the 5-minute averages of reading_points_5m
-- (00-tables.sql: future-ts readings out, a record delivered twice counted once);
-- window_time stays an event-time attribute, which MATCH_RECOGNIZE orders by.
CREATE TEMPORARY VIEW device_windows AS
SELECT gateway, device, metric, window_start, window_end, window_time, AVG(val) AS avg_value
  FROM reading_points_5m
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
