// Edge analytics end to end, against the real Kafka broker: seed 001's workload
// (hosts × cpus, out of order by up to 10 s, some later, one host with a clock an hour
// ahead) published over MQTT QoS 1 → the bundled cpu-monitor pipeline (5-minute
// tumbling avg/max per (hostname, cpu), 10 s lateness, usage > 90) → weir.aggregates
// and weir.alerts, read back with kcat and compared with a brute-force computation;
// alerts also arrive on the embedded broker's alerts topic (read with mosquitto_sub).
// Then the same workload again with the gateway process SIGKILLed 5 times at random
// points: the aggregates and alerts on Kafka equal the uninterrupted run's.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { GatewayProcess, getJson, getText, metric, sleep, startInProcess, testSetup, waitDrained, waitFor, type TestSetup } from '../support/gateway.js';
import { consumeAll, dedupBySeq, type ConsumedRecord } from '../support/kcat.js';
import { WorkloadPublisher } from '../support/workload-publisher.js';
import { exact, reference, seed001Workload, T0, wkey, type Ev } from '../unit/analytics/windows/support.js';

const WINDOW = 300_000;
const LATENESS = 10_000;
const DURATION = 2 * 3_600_000;
const SKEWED = 'host-5';

/** The workload, then one reading per (host, cpu) an hour past the end: its watermark closes every window before it. */
function workload(): Ev[] {
  const evs = seed001Workload({
    seed: 2022, hosts: 6, cpus: 4, durationMs: DURATION, periodMs: 10_000,
    maxDisorderMs: 10_000, lateFraction: 0.03, maxLateMs: 90_000, skew: { host: SKEWED, ms: 3_600_000 },
  });
  const last = evs[evs.length - 1]!.received;
  const flush: Ev[] = [];
  for (let h = 0; h < 6; h++) {
    for (let c = 0; c < 4; c++) {
      flush.push({ device: `host-${h}`, profile: 'cpu-monitor', ts: T0 + DURATION + 2 * 3_600_000, received: last + 1, tags: { cpu: `cpu${c}` }, metrics: { usage: 1 } });
    }
  }
  return [...evs, ...flush];
}

/** A record's content: the value less what differs between runs (gateway, seq, received). */
function content(r: ConsumedRecord): string {
  const { gateway: _g, seq: _s, received: _r, ...rest } = JSON.parse(r.value) as Record<string, unknown>;
  return JSON.stringify(rest);
}

const sorted = (rs: ConsumedRecord[]): string[] => rs.map(content).sort();

async function collect(brokers: string, setup: TestSetup, aggregates: number, alerts: number) {
  return {
    aggregates: dedupBySeq(await consumeAll(brokers, setup.topics.aggregates, { count: aggregates, timeoutMs: 60_000 })),
    alerts: dedupBySeq(await consumeAll(brokers, setup.topics.alerts, { count: alerts, timeoutMs: 60_000 })),
  };
}

describe('edge analytics, end to end', () => {
  const brokers = inject('kafkaBrokers');
  const evs = workload();
  const ref = reference(evs, WINDOW, WINDOW, LATENESS);
  const closed = [...ref.windows.entries()].filter(([k]) => ref.closedAt.has(k));
  const lateTotal = [...ref.late.values()].reduce((a, b) => a + b, 0);
  // usage > 90 per (host, cpu) in arrival order: fire on the first breach, resolve on the first reading at or below 90.
  const expectedAlerts: string[] = [];
  const firing = new Set<string>();
  for (const e of evs) {
    const k = `${e.device}/${e.tags.cpu}`;
    const u = e.metrics.usage!;
    if (u > 90 && !firing.has(k)) {
      firing.add(k);
      expectedAlerts.push(`${k} firing ${u} ${e.ts}`);
    } else if (u <= 90 && firing.has(k)) {
      firing.delete(k);
      expectedAlerts.push(`${k} resolved ${u} ${e.ts}`);
    }
  }
  const alertLine = (r: ConsumedRecord): string => {
    const a = JSON.parse(r.value);
    return `${a.device}/${a.tags.cpu} ${a.state} ${a.value} ${a.ts}`;
  };

  let straight: { aggregates: ConsumedRecord[]; alerts: ConsumedRecord[] };
  let localAlerts: string[] = [];
  let metricsText = '';
  let status: Record<string, unknown> = {};
  let gw: Gateway | undefined;
  let proc: GatewayProcess | undefined;
  afterAll(async () => {
    await gw?.stop();
    await proc?.stop('SIGKILL');
  });

  beforeAll(async () => {
    const setup = await testSetup(brokers);
    gw = await startInProcess(setup);
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(setup.mqttPort), '-q', '1', '-t', 'weir/alerts/#', '-v']);
    let out = '';
    sub.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await sleep(300);
    const pub = new WorkloadPublisher(setup.mqttPort);
    await pub.publish(evs, 200, 20);
    await pub.close();
    await waitDrained(setup.httpPort);
    straight = await collect(brokers, setup, closed.length + lateTotal, expectedAlerts.length);
    await waitFor(() => out.split('\n').filter(Boolean).length >= expectedAlerts.length, 10_000, 'local alerts');
    sub.kill();
    localAlerts = out.split('\n').filter(Boolean);
    metricsText = await getText(setup.httpPort, '/metrics');
    status = await getJson(setup.httpPort, '/api/status');
    await gw.stop();
    gw = undefined;
  }, 240_000);

  it('aggregates on weir.aggregates equal brute force to the last digit, with late readings counted per window', () => {
    const onTime = straight.aggregates.map((r) => JSON.parse(r.value)).filter((a) => a.late === undefined);
    expect(onTime).toHaveLength(closed.length);
    for (const a of onTime) {
      const w = ref.windows.get(wkey(a.device, a.tags.cpu, a.window_start));
      expect(w, `${a.device} ${a.tags.cpu} ${a.window_start}`).toBeDefined();
      const x = exact(w!.values, w!.ts);
      expect([a.profile, a.metric, a.window_end, a.count, a.sum, a.min, a.max, a.avg, a.first, a.last])
        .toEqual(['cpu-monitor', 'usage', w!.end, x.count, x.sum, x.min, x.max, x.avg, x.first, x.last]);
    }
    const late = new Map<string, number>();
    for (const a of straight.aggregates.map((r) => JSON.parse(r.value)).filter((g) => g.late === 1)) {
      const k = wkey(a.device, a.tags.cpu, a.window_start);
      late.set(k, (late.get(k) ?? 0) + 1);
    }
    expect(lateTotal).toBeGreaterThan(20);
    expect(late).toEqual(ref.late);
    expect(metric(metricsText, 'weir_analytics_late_readings_total')).toBe(lateTotal);
    // Records keyed by device, with the contract's headers.
    expect(straight.aggregates.every((r) => r.key === JSON.parse(r.value).device && r.headers['weir-schema'] === '1')).toBe(true);
  });

  it('a host whose clock is an hour ahead changes no other host\'s windows', () => {
    const others = evs.filter((e) => e.device !== SKEWED);
    const alone = reference(others, WINDOW, WINDOW, LATENESS);
    const got = straight.aggregates.map((r) => JSON.parse(r.value)).filter((a) => a.device !== SKEWED && a.late === undefined);
    expect(got.length).toBe([...alone.closedAt.keys()].length);
    for (const a of got) expect(a.count).toBe(alone.windows.get(wkey(a.device, a.tags.cpu, a.window_start))!.values.length);
    // …and its own windows sit an hour later.
    const skewed = straight.aggregates.map((r) => JSON.parse(r.value)).filter((a) => a.device === SKEWED && a.late === undefined);
    expect(Math.min(...skewed.map((a) => a.window_start))).toBe(T0 + 3_600_000);
  });

  it('usage > 90 alerts fire and resolve as the reference says, on Kafka and on the local MQTT topic', () => {
    const lines = straight.alerts.map(alertLine);
    // Per (host, cpu) the order is the device's; across keys Kafka partitions interleave.
    expect([...lines].sort()).toEqual([...expectedAlerts].sort());
    for (const key of new Set(expectedAlerts.map((l) => l.split(' ')[0]))) {
      expect(lines.filter((l) => l.startsWith(`${key} `))).toEqual(expectedAlerts.filter((l) => l.startsWith(`${key} `)));
    }
    expect(straight.alerts.every((r) => JSON.parse(r.value).rule === 'usage-high' && JSON.parse(r.value).kind === 'threshold')).toBe(true);
    expect(localAlerts).toHaveLength(expectedAlerts.length);
    const [topic, payload] = [localAlerts[0]!.split(' ')[0]!, localAlerts[0]!.slice(localAlerts[0]!.indexOf(' ') + 1)];
    expect(topic).toMatch(/^weir\/alerts\/cpu-monitor\/host-\d\/usage-high$/);
    expect(JSON.parse(payload)).toMatchObject({ profile: 'cpu-monitor', rule: 'usage-high', kind: 'threshold' });
    const stillFiring = firing.size;
    expect(metric(metricsText, 'weir_alerts_firing')).toBe(stillFiring);
    const a = status.analytics as { alertsFiring: number; firing: unknown[]; openWindows: number };
    expect(a.alertsFiring).toBe(stillFiring);
    expect(a.firing).toHaveLength(stillFiring);
    // Only the flush readings' windows are open at the end: one per (host, cpu).
    expect(a.openWindows).toBe(24);
    expect(metric(metricsText, 'weir_analytics_open_windows')).toBe(24);
  });

  it('SIGKILLed 5 times at random points of the same workload: aggregates and alerts on Kafka equal the uninterrupted run\'s', async () => {
    const setup = await testSetup(brokers, { analytics: { checkpointIntervalMs: 500 } });
    proc = new GatewayProcess(setup);
    await proc.start();
    const pub = new WorkloadPublisher(setup.mqttPort);
    const publishing = pub.publish(evs, 100, 80);
    for (let round = 0; round < 5; round++) {
      await sleep(1200 + Math.floor(Math.random() * 1500));
      // Each kill lands while the workload is still being published.
      expect(pub.acked).toBeLessThan(evs.length);
      expect(await proc.stop('SIGKILL')).toBeNull();
      await sleep(200);
      await proc.start();
    }
    await publishing;
    await pub.close();
    await waitDrained(setup.httpPort);
    const killed = await collect(brokers, setup, straight.aggregates.length, straight.alerts.length);
    expect(pub.acked).toBe(evs.length);
    expect(sorted(killed.aggregates)).toEqual(sorted(straight.aggregates));
    expect(sorted(killed.alerts)).toEqual(sorted(straight.alerts));
    expect(await proc.stop('SIGTERM')).toBe(0);
  }, 240_000);
});
