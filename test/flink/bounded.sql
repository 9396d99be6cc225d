-- Test-only, run between docker/sql/00-tables.sql and a job file: the same tables,
-- but each Kafka source reads its topic from the start up to the end offsets it finds
-- at start, then finishes (bounded), so a test can run a job to completion and then
-- compare the store with a reference. At the end of a bounded input Flink advances the
-- watermark to +infinity, which closes every window. One slot keeps the 2-core CI
-- machine from oversubscribing.
SET 'parallelism.default' = '1';
ALTER TABLE weir_readings SET ('scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
ALTER TABLE weir_aggregates SET ('scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
ALTER TABLE weir_alerts SET ('scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
ALTER TABLE weir_status SET ('scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
