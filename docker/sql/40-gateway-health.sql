-- Job weir-gateway-health: every weir.status record into gateway_status — heartbeats
-- (uplink state, backlog, oldest unsent age, journal size), start/stop, and the gap
-- records a gateway writes when its disk limit evicted unsent data. The store's views
-- gateway_latest, gateway_outages and gateway_evictions read this table.
SET 'pipeline.name' = 'weir-gateway-health';
ALTER TABLE weir_status SET ('properties.group.id' = 'weir-gateway-health');

INSERT INTO store_gateway_status
SELECT CAST(TO_TIMESTAMP_LTZ(received, 3) AS TIMESTAMP(3)), gateway, seq, event, uplink,
       -- backlog is {stream: unsent records}; the journal's five streams (src/journal/streams.ts).
       CASE WHEN backlog IS NULL THEN CAST(NULL AS BIGINT) ELSE
         COALESCE(backlog['readings'], 0) + COALESCE(backlog['aggregates'], 0) + COALESCE(backlog['alerts'], 0)
         + COALESCE(backlog['deadletter'], 0) + COALESCE(backlog['status'], 0) END,
       oldest_unsent_s, journal_bytes, last_seq,
       `stream`, from_seq, to_seq, `count`, reason, clock
  FROM weir_status
 WHERE gateway IS NOT NULL AND seq IS NOT NULL AND received IS NOT NULL AND event IS NOT NULL;
