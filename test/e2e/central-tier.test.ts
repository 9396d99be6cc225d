// The central tier end to end, without Docker: two real Weir gateways (two sites) take
// simulated cpu-monitor devices over MQTT (mosquitto_pub) and forward to the real
// Kafka broker; the compose file's own Flink SQL files (docker/sql/) run in Flink's
// local mode against that broker and a real PostgreSQL loaded with the store's schema
// (docker/store/postgres/). The store is then compared with what was published and
// with brute-force references: rows land, redelivered records add no row, the fleet
// roll-up equals the reference, MATCH_RECOGNIZE matches exactly the planted ramps,
// and the Grafana panels' queries run against what the jobs wrote.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { startInProcess, testSetup, waitDrained, type TestSetup } from '../support/gateway.js';
import { consumeAll, type ConsumedRecord } from '../support/kcat.js';
import { runAllPanelQueries } from '../support/grafana-sql.js';
import { publish } from '../support/mosquitto.js';
import { runFlinkSql } from '../support/flink.js';
import { repoRoot } from '../support/jvm.js';
import { createTopics } from '../support/kafka-broker.js';
import { Postgres } from '../support/postgres.js';
import { fleetWorkload, PLANTED_RAMPS, risingRuns, rollupReference, WINDOW_MS, type Reading } from '../support/central-workload.js';

const brokers = inject('kafkaBrokers');
const JOBS = ['00-tables.sql', join(repoRoot, 'test/flink/bounded.sql'), '10-store.sql', '20-fleet-rollups.sql', '30-patterns.sql', '40-gateway-health.sql'];

let pg: Postgres;
let sites: Array<{ setup: TestSetup; gateway: Gateway }> = [];
let workload: Reading[];
let flinkEnv: Record<string, string>;
let kafkaReadings: ConsumedRecord[];

function payload(r: Reading): string {
  return JSON.stringify({ hostname: r.device, cpu: r.cpu, usage: r.usage, occurred_at: r.ts });
}

beforeAll(async () => {
  pg = await Postgres.start();
  const first = await testSetup(brokers, { analytics: { enabled: true } });
  const second = await testSetup(brokers, { analytics: { enabled: true } });
  second.config.kafka = { ...second.config.kafka, topics: first.topics }; // two sites, one set of topics
  for (const setup of [first, second]) {
    setup.config.gateway = { ...setup.config.gateway, statusIntervalSeconds: 1 };
    sites.push({ setup, gateway: await startInProcess(setup) });
  }
  workload = fleetWorkload(sites.map((s) => s.setup.config.gateway!.id!));
  // Both sites publish each 30 s step, and forward it, before either publishes the
  // next: in a shared Kafka partition the sites' records then interleave in event time
  // as live sites' do. (A site replaying an hour-old backlog into the same partitions
  // would be late for the fleet roll-up's watermark: docker/README.md.)
  const steps = new Map<number, Reading[]>();
  for (const r of workload) steps.set(r.step, [...(steps.get(r.step) ?? []), r]);
  for (const batch of steps.values()) {
    await Promise.all(sites.map((site) => {
      const mine = batch.filter((r) => r.gateway === site.setup.config.gateway!.id);
      return mine.length > 0 ? publish(site.setup.mqttPort, 'iot-data-input', mine.map(payload), { version: 4 }) : undefined; // aedes: MQTT 3.1.1
    }));
    await Promise.all(sites.map((site) => waitDrained(site.setup.httpPort, 60_000)));
  }
  // Stopped before the jobs run, so weir.status no longer grows and every topic is final.
  for (const site of sites) await site.gateway.stop();
  const topics = first.topics;
  kafkaReadings = await consumeAll(brokers, topics.readings, { count: workload.length, timeoutMs: 60_000 });
  flinkEnv = {
    KAFKA_BOOTSTRAP: brokers,
    STORE_JDBC_URL: `${pg.jdbcUrl}?stringtype=unspecified&reWriteBatchedInserts=true`, STORE_USER: pg.user, STORE_PASSWORD: '',
    WEIR_TOPIC_READINGS: topics.readings, WEIR_TOPIC_AGGREGATES: topics.aggregates, WEIR_TOPIC_ALERTS: topics.alerts,
    WEIR_TOPIC_STATUS: topics.status, WEIR_TOPIC_FLEET_ALERTS: `${topics.readings}.fleet-alerts`,
  };
  await createTopics(brokers, [flinkEnv.WEIR_TOPIC_FLEET_ALERTS!], 3);
  // A redelivery before the jobs ever run: five records copied with kcat, same key,
  // value and headers, as a gateway crash in flight would resend them.
  for (const r of kafkaReadings.slice(0, 5)) await redeliver(topics.readings, r);
  await runFlinkSql(JOBS, flinkEnv);
}, 600_000);

afterAll(async () => {
  for (const site of sites) await site.gateway.stop().catch(() => undefined); // stopped already unless beforeAll failed
  sites = [];
  await pg?.stop();
});

async function redeliver(topic: string, r: ConsumedRecord): Promise<void> {
  const headers = Object.entries(r.headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  await new Promise<void>((res, rej) => {
    const child = execFile('kcat', ['-P', '-b', brokers, '-t', topic, '-p', String(r.partition), '-k', r.key ?? '', ...headers],
      { timeout: 15_000 }, (err) => (err ? rej(err) : res()));
    child.stdin!.end(r.value);
  });
}

describe('central tier: Flink SQL jobs from Kafka into PostgreSQL', () => {
  it('stores every reading once, with its identity, times and tags', async () => {
    expect(await pg.count('readings')).toBe(workload.length);
    const rows = await pg.query<{ gateway: string; seq: string; device: string; ts: Date; value: number; tags: { cpu: string } }>(
      'SELECT gateway, seq, device, ts, value, tags FROM readings');
    const stored = new Map(rows.map((r) => [`${r.gateway}/${r.device}/${r.tags.cpu}/${r.ts.getTime()}`, r.value]));
    for (const r of workload) expect(stored.get(`${r.gateway}/${r.device}/${r.cpu}/${r.ts}`)).toBe(r.usage);
    // seq is the weir-seq header of the Kafka record the row came from.
    const headerSeqs = new Set(kafkaReadings.map((r) => `${r.headers['weir-gateway']}/${r.headers['weir-seq']}`));
    expect(new Set(rows.map((r) => `${r.gateway}/${r.seq}`))).toEqual(headerSeqs);
  });

  it('stores the edge aggregates, alerts and status records, each (gateway, seq) once', async () => {
    const topics = sites[0]!.setup.topics;
    for (const [topic, table] of [[topics.aggregates, 'aggregates'], [topics.alerts, 'alerts'], [topics.status, 'gateway_status']] as const) {
      // Two gateways: a record's identity is (weir-gateway, weir-seq), not the seq alone.
      const onKafka = await consumeAll(brokers, topic, { timeoutMs: 30_000 });
      const rows = await pg.query<{ k: string }>(`SELECT gateway || '/' || seq AS k FROM ${table}`);
      const stored = new Set(rows.map((r) => r.k));
      expect(stored.size, table).toBe(rows.length);
      expect(stored.size, table).toBeGreaterThan(0);
      const kafkaKeys = new Set(onKafka.map((r) => `${r.headers['weir-gateway']}/${r.headers['weir-seq']}`));
      expect(stored, table).toEqual(kafkaKeys);
    }
    const health = await pg.query<{ gateway: string; backlog: string }>('SELECT gateway, backlog FROM gateway_latest');
    expect(health.map((h) => h.gateway).sort()).toEqual(sites.map((s) => s.setup.config.gateway!.id).sort());
  });

  it('adds no row when every record is delivered again (the jobs re-run from the start)', async () => {
    const tables = ['readings', 'aggregates', 'alerts', 'gateway_status', 'fleet_rollups', 'fleet_alerts', 'patterns'];
    const count = async (): Promise<Record<string, number>> => Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await pg.count(t)])));
    const before = await count();
    await runFlinkSql(JOBS, flinkEnv);
    expect(await count()).toEqual(before);
  }, 300_000);

  it('rolls the fleet up into 5-minute windows per site/profile/metric exactly as the reference', async () => {
    const rows = await pg.query<{ site: string; window_start: Date; window_end: Date; readings: string; devices: string; min: number; max: number; avg: number; sum: number }>(
      "SELECT * FROM fleet_rollups WHERE profile = 'cpu-monitor' AND metric = 'usage'");
    // Sorted here, as the reference is: the server's collation need not be JavaScript's.
    rows.sort((a, b) => a.site.localeCompare(b.site) || a.window_start.getTime() - b.window_start.getTime());
    const ref = rollupReference(workload);
    expect(rows.map((r) => `${r.site}@${r.window_start.getTime()}`)).toEqual(ref.map((w) => `${w.site}@${w.windowStart}`));
    rows.forEach((row, i) => {
      const w = ref[i]!;
      expect(row.window_end.getTime() - row.window_start.getTime()).toBe(WINDOW_MS);
      expect({ readings: Number(row.readings), devices: Number(row.devices), min: row.min, max: row.max })
        .toEqual({ readings: w.count, devices: w.devices, min: w.min, max: w.max });
      // Summation order differs (Flink adds in arrival order): equal to 1e-12 relative.
      expect(Math.abs(row.sum - w.sum)).toBeLessThanOrEqual(Math.abs(w.sum) * 1e-12);
      expect(Math.abs(row.avg - w.sum / w.count)).toBeLessThanOrEqual(Math.abs(w.sum / w.count) * 1e-12);
    });
  });

  it('feeds seed 001\'s usage > 90 filter into fleet_alerts and its Kafka stream', async () => {
    const over = workload.filter((r) => r.usage > 90);
    expect(over.length).toBeGreaterThan(0);
    const rows = await pg.query<{ device: string; ts: Date; value: number }>('SELECT device, ts, value FROM fleet_alerts');
    const key = (d: string, ts: number, v: number): string => `${d}@${ts}=${v}`;
    expect(rows.map((r) => key(r.device, r.ts.getTime(), r.value)).sort()).toEqual(over.map((r) => key(r.device, r.ts, r.usage)).sort());
    const stream = await consumeAll(brokers, flinkEnv.WEIR_TOPIC_FLEET_ALERTS!, { timeoutMs: 30_000 });
    const distinct = new Map(stream.map((r) => {
      const v = JSON.parse(r.value) as { gateway: string; seq: number; device: string; ts: number; value: number };
      return [`${v.gateway}/${v.seq}`, key(v.device, v.ts, v.value)];
    }));
    expect([...distinct.values()].sort()).toEqual(over.map((r) => key(r.device, r.ts, r.usage)).sort());
  });

  it('matches the MATCH_RECOGNIZE pattern on exactly the planted ramps', async () => {
    const rows = await pg.query<{ gateway: string; device: string; first_window: Date; last_window: Date }>(
      'SELECT gateway, device, first_window, last_window FROM patterns');
    rows.sort((a, b) => a.device.localeCompare(b.device) || a.first_window.getTime() - b.first_window.getTime());
    const got = rows.map((r) => `${r.device}:${r.first_window.getTime()}-${r.last_window.getTime()}`);
    const planted = PLANTED_RAMPS(workload).map((p) => `${p.device}:${p.from}-${p.to}`);
    expect(risingRuns(workload).map((p) => `${p.device}:${p.from}-${p.to}`)).toEqual(planted); // the reference agrees with the plan
    expect(got).toEqual(planted);
  });

  it('answers every Grafana panel query from what the jobs stored', async () => {
    const times = workload.map((r) => r.ts);
    // Plain PostgreSQL here, so Grafana's macros take their non-TimescaleDB form.
    // The range spans the readings' event times and the status records' (written now);
    // the drill-down shows a1, the host with planted ramps whose cpu1 also ran over 90 (an edge alert).
    const vars = { gateway: sites[0]!.setup.config.gateway!.id!, device: 'a1', metric: 'usage' };
    const runs = await runAllPanelQueries(pg, { from: new Date(Math.min(...times)), to: new Date(Date.now() + 60_000), vars, timescaledb: false });
    expect(runs.length).toBeGreaterThan(20);
    expect(runs.filter((r) => r.error).map((r) => `${r.dashboard} / ${r.panel}: ${r.error}`)).toEqual([]);
    // No gateway here was silent or evicted anything: only those panels may be empty
    // (test/unit/central/grafana-dashboards.test.ts fills them from a fixture).
    const empty = runs.filter((r) => r.rows === 0);
    expect(empty.filter((r) => !/gateway_outages|gateway_evictions|event = 'gap'/.test(r.sql)).map((r) => `${r.dashboard} / ${r.panel}`)).toEqual([]);
  });
});
