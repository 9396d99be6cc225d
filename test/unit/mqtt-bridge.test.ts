// The MQTT bridge against a real Mosquitto as the site broker: persistent session,
// acknowledgement only after commit (nothing lost on a gateway crash), redelivery of
// what was published while the gateway was away, reconnect after a broker restart
// with per-topic order kept, and dead letters acknowledged like good payloads.
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { Aedes } from 'aedes';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { bridgeConfigSchema, type BridgeConfigInput } from '../../src/config/bridge-schema.js';
import { createLogger } from '../../src/core/logger.js';
import { Ingest, type Delivery, type IngestCallback } from '../../src/ingest/ingest.js';
import type { StoredRecord } from '../../src/journal/journal.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { MqttBridgeSource } from '../../src/sources/mqtt-bridge.js';
import { freePort } from '../support/kafka-broker.js';
import { Mosquitto, publish } from '../support/mosquitto.js';
import { sleep, waitFor } from '../support/wait.js';
import { cleanupTempDirs, makeContext, tempDir, type TestContext } from './support.js';

/** Brokers started by a test, stopped after it. */
async function startBroker(persistence = true): Promise<Mosquitto> {
  const m = await Mosquitto.start(persistence);
  brokers.add(m);
  return m;
}

const T0 = 1_700_000_000_000;
/** A cpu-monitor reading; `n` is its event time offset, so order is checked on `ts`. */
const cpu = (host: string, n: number) => JSON.stringify({ hostname: host, cpu: 'cpu0', usage: n % 100, occurred_at: T0 + n });
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

// ---------------------------------------------------------------------------------------------
const brokers = new Set<Mosquitto>();
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const b of brokers) await b.destroy();
  brokers.clear();
  cleanupTempDirs();
});

interface Gateway {
  ctx: TestContext;
  journal: SqliteJournal;
  ingest: Ingest;
  logLines: string[];
}

/** A journal and an ingest as the gateway builds them, in `dataDir`, logging into `logLines`. */
function gateway(dataDir = tempDir()): Gateway {
  const ctx = makeContext({ dataDir, gateway: { id: 'gw-bridge' }, journal: { commitIntervalMs: 1 } });
  const logLines: string[] = [];
  ctx.log = createLogger('debug', new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } }));
  const journal = new SqliteJournal(ctx);
  journal.open();
  const ingest = new Ingest(ctx, journal, loadProfilesOrThrow([BUNDLED_PROFILES_DIR]));
  ingest.open();
  cleanups.push(() => journal.close());
  return { ctx, journal, ingest, logLines };
}

function bridgeConfig(broker: Mosquitto, over: BridgeConfigInput = {}) {
  return bridgeConfigSchema.parse({
    enabled: true,
    url: broker.url,
    clientId: 'weir-test-bridge',
    subscriptions: [{ filter: 'iot-data-input' }, { filter: '+/temperature', topicPrefix: 'sensors/' }],
    reconnectMinMs: 50,
    reconnectMaxMs: 400,
    ...over,
  });
}

async function startBridge(g: Gateway, broker: Mosquitto, over: BridgeConfigInput = {}, ingest: Ingest = g.ingest): Promise<MqttBridgeSource> {
  const bridge = new MqttBridgeSource(g.ctx, ingest, bridgeConfig(broker, over));
  cleanups.push(() => bridge.stop());
  await bridge.start();
  return bridge;
}

/** A gateway crash: the connection is dropped without DISCONNECT, nothing more is acknowledged. */
function crash(bridge: MqttBridgeSource): Promise<void> {
  const client = (bridge as unknown as { ctx: { client: MqttClient } }).ctx.client;
  return new Promise((resolve) => client.end(true, () => resolve()));
}

const all = (j: SqliteJournal): StoredRecord[] => j.read(0, 100_000, 1 << 30);
const readings = (j: SqliteJournal) => all(j).filter((r) => r.stream === 'readings');
const deadLetters = (j: SqliteJournal) => all(j).filter((r) => r.stream === 'deadletter');
/** Event-time offsets of one device's readings, in journal order. */
const seqOf = (j: SqliteJournal, device: string) => readings(j).filter((r) => r.key === device).map((r) => r.ts! - T0);
const stat = (b: MqttBridgeSource) => b.status() as { connected: boolean; sessionPresent: boolean | null; received: number; acked: number; withheld: number; reconnects: number; lastError: string | null };

/** An Ingest whose commits never complete (a journal stuck in its fsync, or a gateway about to die). */
function stuckIngest(seen: Delivery[]): Ingest {
  return { submit: (d: Delivery) => void seen.push(d) } as unknown as Ingest;
}

// ---------------------------------------------------------------------------------------------
describe.each([5, 4] as const)('MQTT bridge, protocolVersion %i', (protocolVersion) => {
  it('journals QoS 1 messages from the site broker, with a persistent session, acked after commit', async () => {
    const broker = await startBroker();
    const g = gateway();
    const bridge = await startBridge(g, broker, { protocolVersion });
    expect(stat(bridge)).toMatchObject({ connected: true, sessionPresent: false });

    await publish(broker.port, 'iot-data-input', range(0, 5).map((n) => cpu('dopey', n)), { version: protocolVersion });
    await publish(broker.port, 'tmp-17/temperature', [JSON.stringify({ t: 21.5, time: '2024-05-01T10:00:00Z' })], { version: protocolVersion });
    await waitFor(() => readings(g.journal).length === 6, 15_000, '6 readings', 20);
    expect(seqOf(g.journal, 'dopey')).toEqual(range(0, 5));
    // topicPrefix: "tmp-17/temperature" was matched as "sensors/tmp-17/temperature".
    expect(readings(g.journal).find((r) => r.key === 'tmp-17')).toMatchObject({ profile: 'temperature-sensor' });
    await waitFor(() => stat(bridge).acked === 6, 15_000, 'acks', 20);
    expect(stat(bridge)).toMatchObject({ received: 6, withheld: 0 });

    // The session is persistent: Mosquitto knows the client id with clean start / clean session off.
    await bridge.stop();
    expect(broker.log).toMatch(new RegExp(`weir-test-bridge \\(p${protocolVersion === 5 ? 5 : 2}, c0,`));
    expect(stat(bridge).connected).toBe(false);
  });

  it.each([1, 2] as const)('loses nothing when the gateway crashes before the commit (QoS %i): the site broker redelivers', async (qos) => {
    const broker = await startBroker();
    // Run 1: the journal never commits, so nothing may be acknowledged; then the gateway dies.
    const stuck: Delivery[] = [];
    const g1 = gateway();
    const first = await startBridge(g1, broker, { protocolVersion, subscriptions: [{ filter: 'iot-data-input', qos }] }, stuckIngest(stuck));
    await publish(broker.port, 'iot-data-input', range(0, 20).map((n) => cpu('doc', n)), { qos, version: protocolVersion });
    await waitFor(() => stuck.length >= 1, 15_000, 'a delivery', 20);
    await sleep(200);
    // One at a time: the next message is not even taken before the first one's commit.
    expect(stuck).toHaveLength(1);
    expect(stat(first).acked).toBe(0);
    await crash(first);

    // Run 2: same client id, a working journal: all 20 arrive, in order, once.
    const g2 = gateway();
    const second = await startBridge(g2, broker, { protocolVersion, subscriptions: [{ filter: 'iot-data-input', qos }] });
    expect(stat(second).sessionPresent).toBe(true);
    await waitFor(() => readings(g2.journal).length === 20, 15_000, '20 readings', 20);
    expect(seqOf(g2.journal, 'doc')).toEqual(range(0, 20));
    await waitFor(() => stat(second).acked === 20, 15_000, '20 acks', 20);
  });

  it('warns once, naming each filter, when the site broker grants a lower QoS than configured', async () => {
    const broker = await Mosquitto.start(true, ['max_qos 0']);
    brokers.add(broker);
    const g = gateway();
    const bridge = await startBridge(g, broker, { protocolVersion });
    const warned = g.logLines.filter((l) => l.includes('granted a lower QoS'));
    expect(warned).toHaveLength(1);
    expect(JSON.parse(warned[0]!)).toMatchObject({ level: 40, downgraded: ['iot-data-input (QoS 0)', '+/temperature (QoS 0)'] });
    expect(stat(bridge).lastError).toBeNull();
  });

  it('journals what was published while the gateway was away, after it reconnects', async () => {
    const broker = await startBroker();
    const g = gateway();
    const first = await startBridge(g, broker, { protocolVersion });
    await publish(broker.port, 'iot-data-input', [cpu('happy', 0)]);
    await waitFor(() => readings(g.journal).length === 1, 15_000, 'reading 0', 20);
    await first.stop(); // graceful: DISCONNECT, the session stays

    await publish(broker.port, 'iot-data-input', range(1, 31).map((n) => cpu('happy', n)), { version: protocolVersion });
    const second = await startBridge(g, broker, { protocolVersion });
    expect(stat(second).sessionPresent).toBe(true);
    await waitFor(() => readings(g.journal).length === 31, 15_000, '31 readings', 20);
    expect(seqOf(g.journal, 'happy')).toEqual(range(0, 31));
  });

  it('reconnects by itself after the site broker restarts, keeping per-topic order; logs the outage once', async () => {
    const broker = await startBroker();
    const g = gateway();
    // Commits slowed down, so the broker still holds queued and in-flight messages for the bridge when it stops.
    const slow = {
      submit: (d: Delivery, done: IngestCallback) => g.ingest.submit(d, (err, outcome) => setTimeout(() => done(err, outcome), 10)),
    } as unknown as Ingest;
    const bridge = await startBridge(g, broker, { protocolVersion }, slow);

    await publish(broker.port, 'iot-data-input', range(0, 100).map((n) => cpu('sleepy', n)), { version: protocolVersion });
    await waitFor(() => readings(g.journal).length >= 10, 15_000, 'some readings', 20);
    await broker.stop();
    const beforeRestart = readings(g.journal).length;
    expect(beforeRestart).toBeLessThan(100);
    await waitFor(() => !stat(bridge).connected, 15_000, 'link down', 20);
    await sleep(1000); // several reconnect attempts against a dead port
    await broker.start();
    await waitFor(() => stat(bridge).connected, 10_000, 'link up', 20);
    expect(stat(bridge).sessionPresent).toBe(true);
    await publish(broker.port, 'iot-data-input', range(100, 120).map((n) => cpu('sleepy', n)), { version: protocolVersion });
    await waitFor(() => readings(g.journal).length >= 120, 20_000, '120 readings', 20);
    await sleep(200);
    // Every reading once (one committed but not yet acknowledged at the stop is recognised when redelivered), in order.
    expect(seqOf(g.journal, 'sleepy')).toEqual(range(0, 120));
    expect(stat(bridge).reconnects).toBeGreaterThanOrEqual(2);
    const lines = g.logLines.join('');
    expect(lines.match(/site broker link down/g)).toHaveLength(1);
    expect(lines.match(/site broker link back up/g)).toHaveLength(1);
  });

  it('subscribes again when the site broker comes back without the session (restart without persistence)', async () => {
    const broker = await startBroker(false);
    const g = gateway();
    const bridge = await startBridge(g, broker, { protocolVersion });
    await publish(broker.port, 'iot-data-input', [cpu('dozy', 0)], { version: protocolVersion });
    await waitFor(() => readings(g.journal).length === 1, 15_000, 'reading 0', 20);
    await broker.stop();
    await waitFor(() => !stat(bridge).connected, 15_000, 'link down', 20);
    await broker.start();
    await waitFor(() => stat(bridge).connected, 10_000, 'link up', 20);
    expect(stat(bridge).sessionPresent).toBe(false);
    await waitFor(() => /Received SUBSCRIBE from weir-test-bridge/.test(broker.log.split('mosquitto version 2.0.11 starting').at(-1)!), 15_000, 'subscribed again', 20);
    await publish(broker.port, 'iot-data-input', [cpu('dozy', 1)], { version: protocolVersion });
    await waitFor(() => readings(g.journal).length === 2, 15_000, 'reading 1', 20);
    expect(seqOf(g.journal, 'dozy')).toEqual([0, 1]);
    expect(g.logLines.join('')).toMatch(/site broker had no session for the bridge/);
  });

  it('dead-letters a bad payload and acknowledges it, so it is not redelivered', async () => {
    const broker = await startBroker();
    const g = gateway();
    const first = await startBridge(g, broker, { protocolVersion });
    await publish(broker.port, 'iot-data-input', ['usage=12', cpu('grumpy', 1)], { version: protocolVersion });
    await waitFor(() => deadLetters(g.journal).length === 1 && readings(g.journal).length === 1, 15_000, 'dead letter and reading', 20);
    const dl = JSON.parse(deadLetters(g.journal)[0]!.body) as Record<string, unknown>;
    expect(dl).toMatchObject({ protocol: 'mqtt', source: 'iot-data-input', code: 'WEIR_DECODE_FAILED', client: `bridge:127.0.0.1:${broker.port}` });
    expect(Buffer.from(dl.payload_b64 as string, 'base64').toString()).toBe('usage=12');
    await waitFor(() => stat(first).acked === 2, 15_000, 'acks', 20);
    await first.stop();

    const second = await startBridge(g, broker, { protocolVersion });
    expect(stat(second).sessionPresent).toBe(true);
    await sleep(500);
    expect(stat(second).received).toBe(0);
    expect(deadLetters(g.journal)).toHaveLength(1);
  });
});

describe('MQTT bridge, a refused subscription', () => {
  // Mosquitto 2.0 grants every SUBSCRIBE and applies its ACLs on delivery instead, so the
  // site broker here is aedes (a real broker, the embedded one's library), told to refuse
  // one filter: its SUBACK then carries 0x80 for it (MQTT 3.1.1 §3.9.3; aedes speaks 3.1.1 only).
  it('names the refused filter in an error and in status, and keeps the granted one flowing', async () => {
    const site = await Aedes.createBroker({
      authorizeSubscribe: (_client, sub, done) => done(null, sub.topic === '+/temperature' ? null : sub),
    });
    const server = createServer((socket) => site.handle(socket));
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => site.close(() => server.close(() => resolve()))));
    const g = gateway();
    const bridge = await startBridge(g, { url: `mqtt://127.0.0.1:${port}` } as Mosquitto, { protocolVersion: 4 });
    expect(stat(bridge).lastError).toBe('site broker refused subscriptions: +/temperature');
    expect(g.logLines.filter((l) => l.includes('"level":50') && l.includes('+/temperature'))).toHaveLength(1);
    expect(g.logLines.some((l) => l.includes('subscription failed'))).toBe(false);
    await publish(port, 'iot-data-input', range(0, 3).map((n) => cpu('grumpy', n)), { version: 4 });
    await waitFor(() => readings(g.journal).length === 3, 15_000, '3 readings', 20);
    expect(seqOf(g.journal, 'grumpy')).toEqual(range(0, 3));
  });
});

describe('MQTT bridge, journal failures and stop', () => {
  it('withholds the acknowledgement when the commit fails, reconnects, and journals the redelivery in order', async () => {
    const broker = await startBroker();
    const g = gateway();
    // The first 3 submissions fail as a full journal would; then it works again.
    let failures = 3;
    const flaky = {
      submit: (d: Delivery, done: IngestCallback) => {
        if (failures-- > 0) return setImmediate(() => done(new Error('WEIR_JOURNAL_BUSY: test'), { readings: 0, rejects: [], ignored: false }));
        g.ingest.submit(d, done);
      },
    } as unknown as Ingest;
    const bridge = await startBridge(g, broker, {}, flaky);
    await publish(broker.port, 'iot-data-input', range(0, 10).map((n) => cpu('bashful', n)));
    await waitFor(() => readings(g.journal).length === 10, 15_000, '10 readings', 20);
    expect(seqOf(g.journal, 'bashful')).toEqual(range(0, 10));
    expect(stat(bridge)).toMatchObject({ acked: 10, connected: true });
    expect(stat(bridge).withheld).toBeGreaterThanOrEqual(3);
    expect(stat(bridge).reconnects).toBeGreaterThanOrEqual(3);
    expect(stat(bridge).lastError).toMatch(/journal/);
    const lines = g.logLines.join('');
    expect(lines.match(/journal refused a bridged message/g)).toHaveLength(1);
    // Dropping the link to get the redelivery is not a site broker outage.
    expect(lines).not.toMatch(/site broker link down/);
  });

  it('stop() lets the in-flight commit finish and acknowledges it before disconnecting', async () => {
    const broker = await startBroker();
    const g = gateway();
    let release: (() => void) | undefined;
    const gated = {
      submit: (d: Delivery, done: IngestCallback) => g.ingest.submit(d, (err, outcome) => { release = () => done(err, outcome); }),
    } as unknown as Ingest;
    const first = await startBridge(g, broker, {}, gated);
    await publish(broker.port, 'iot-data-input', range(0, 3).map((n) => cpu('sneezy', n)));
    await waitFor(() => release !== undefined, 15_000, 'one in flight', 20);
    const stopped = first.stop();
    await sleep(100);
    release!();
    await stopped;
    expect(stat(first)).toMatchObject({ acked: 1, connected: false });

    // The next run gets the other two, not the acknowledged one again.
    const second = await startBridge(g, broker);
    await waitFor(() => readings(g.journal).length === 3, 15_000, '3 readings', 20);
    await sleep(300);
    expect(stat(second).received).toBe(2);
    expect(seqOf(g.journal, 'sneezy')).toEqual([0, 1, 2]);
  });

  it('stop() during start() (MQTT.js still loading) leaves the bridge stopped: it never connects afterwards', async () => {
    const broker = await startBroker();
    const g = gateway();
    const bridge = new MqttBridgeSource(g.ctx, g.ingest, bridgeConfig(broker));
    cleanups.push(() => bridge.stop());
    const started = bridge.start();
    await bridge.stop();
    await started;
    await sleep(300);
    await publish(broker.port, 'iot-data-input', [cpu('grumpy', 1)]);
    await sleep(500);
    expect(stat(bridge).connected).toBe(false);
    expect(readings(g.journal)).toEqual([]);
  });

  it('starts while the site broker is down, says so once, and connects when it comes up; never logs the password', async () => {
    const broker = await startBroker();
    await broker.stop();
    const g = gateway();
    const bridge = await startBridge(g, broker, { username: 'weir', password: 'hunter2-secret' });
    expect(stat(bridge).connected).toBe(false);
    expect(stat(bridge).lastError).toMatch(/ECONNREFUSED/);
    await sleep(600);
    await broker.start();
    await waitFor(() => stat(bridge).connected, 10_000, 'connected', 20);
    await publish(broker.port, 'iot-data-input', [cpu('doc', 7)]);
    await waitFor(() => readings(g.journal).length === 1, 15_000, 'reading', 20);
    const lines = g.logLines.join('');
    expect(lines.match(/site broker link down/g)).toHaveLength(1);
    expect(lines.match(/site broker link back up/g)).toHaveLength(1);
    expect(lines).not.toContain('hunter2-secret');
    expect(JSON.stringify(bridge.status())).not.toContain('hunter2-secret');
  });
});
