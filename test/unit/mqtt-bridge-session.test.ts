// The MQTT bridge's subscriptions in its persistent session at a real Mosquitto, across
// gateway restarts: a filter removed from the config is unsubscribed (the site broker
// would otherwise keep delivering it for as long as the session lives), and a resumed
// session that already holds the configured filters is not subscribed again (MQTT 3.1.1
// §3.8.4: a SUBSCRIBE replacing a subscription resends the retained messages, which would
// be journaled and forwarded twice).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bridgeConfigSchema, type BridgeConfigInput } from '../../src/config/bridge-schema.js';
import { Ingest } from '../../src/ingest/ingest.js';
import type { StoredRecord } from '../../src/journal/journal.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { silentLogger } from '../../src/core/logger.js';
import { MqttBridgeSource } from '../../src/sources/mqtt-bridge.js';
import { SESSION_FILE, SessionRecord } from '../../src/sources/mqtt-bridge-session.js';
import { Mosquitto, publish } from '../support/mosquitto.js';
import { sleep, waitFor } from '../support/wait.js';
import { makeContext, openJournal, tempDir, timelessProfileDir, useCleanups } from './support.js';

const defer = useCleanups();

interface Gateway {
  journal: SqliteJournal;
  ingest: Ingest;
  ctx: ReturnType<typeof makeContext>;
}

/** A journal and ingest in one data directory (what survives a gateway restart), with the bundled profiles and `timeless` on site/{device}. */
function gateway(): Gateway {
  const ctx = makeContext({ dataDir: tempDir(), gateway: { id: 'gw-session' }, journal: { commitIntervalMs: 1 } });
  const journal = openJournal(new SqliteJournal(ctx), defer);
  // No event time: ingest cannot recognise a resent retained message by its content.
  const ingest = new Ingest(ctx, journal, loadProfilesOrThrow([BUNDLED_PROFILES_DIR, timelessProfileDir('site')]));
  ingest.open();
  return { journal, ingest, ctx };
}

async function startBroker(): Promise<Mosquitto> {
  const broker = await Mosquitto.start(true);
  defer(() => broker.destroy());
  return broker;
}

/** A bridge run: a new MqttBridgeSource, as a restarted gateway makes it. */
async function run(g: Gateway, broker: Mosquitto, over: BridgeConfigInput): Promise<MqttBridgeSource> {
  const bridge = new MqttBridgeSource(g.ctx, g.ingest, bridgeConfigSchema.parse({
    enabled: true, url: broker.url, clientId: 'weir-test-bridge', reconnectMinMs: 50, reconnectMaxMs: 400, ...over,
  }));
  defer(() => bridge.stop());
  await bridge.start();
  return bridge;
}

const readings = (j: SqliteJournal): StoredRecord[] => j.read(0, 100_000, 1 << 30).filter((r) => r.stream === 'readings');
const received = (b: MqttBridgeSource) => (b.status() as { received: number }).received;
const T0 = 1_700_000_000_000;
const cpu = (host: string, n: number) => JSON.stringify({ hostname: host, cpu: 'cpu0', usage: n, occurred_at: T0 + n });

describe.each([5, 4] as const)('MQTT bridge session subscriptions across restarts (protocolVersion %i)', (protocolVersion) => {
  it('unsubscribes a filter removed from the config: its messages are no longer delivered', async () => {
    const broker = await startBroker();
    const g = gateway();
    const both = [{ filter: 'iot-data-input' }, { filter: '+/temperature', topicPrefix: 'sensors/' }];
    const first = await run(g, broker, { protocolVersion, subscriptions: both });
    await publish(broker.port, 'tmp-17/temperature', [JSON.stringify({ t: 21.5, time: '2024-05-01T10:00:00Z' })], { version: protocolVersion });
    await waitFor(() => readings(g.journal).length === 1, 15_000, 'temperature reading', 20);
    await first.stop();

    // Restarted without +/temperature: the site broker's session must drop it too.
    const second = await run(g, broker, { protocolVersion, subscriptions: [{ filter: 'iot-data-input' }] });
    await publish(broker.port, 'tmp-17/temperature', [JSON.stringify({ t: 22.5, time: '2024-05-01T10:01:00Z' })], { version: protocolVersion });
    await publish(broker.port, 'iot-data-input', [cpu('doc', 1)], { version: protocolVersion });
    await waitFor(() => readings(g.journal).some((r) => r.key === 'doc'), 15_000, 'cpu reading', 20);
    await sleep(300);
    // Nothing of tmp-17 after the restart: neither a reading nor (its topicPrefix gone with the filter) a dead letter.
    expect(g.journal.read(0, 100_000, 1 << 30).map((r) => `${r.stream}:${r.key}`)).toEqual(['readings:tmp-17', 'readings:doc']);
    expect(received(second)).toBe(1);
    expect(broker.log).toMatch(/Received UNSUBSCRIBE from weir-test-bridge/);
  });

  it('does not subscribe a resumed session again: a retained message is journaled once, and a new filter is still added', async () => {
    const broker = await startBroker();
    await publish(broker.port, 'site/d1', ['{"v": 7}'], { version: protocolVersion, retain: true });
    const g = gateway();
    const first = await run(g, broker, { protocolVersion, subscriptions: [{ filter: 'site/+' }] });
    await waitFor(() => readings(g.journal).length === 1, 15_000, 'the retained reading', 20);
    await first.stop();

    // Restarted with the same filter and one more: only the new one is subscribed.
    const second = await run(g, broker, { protocolVersion, subscriptions: [{ filter: 'site/+' }, { filter: 'iot-data-input' }] });
    expect(second.status()).toMatchObject({ sessionPresent: true, subscribed: true });
    await publish(broker.port, 'iot-data-input', [cpu('doc', 1)], { version: protocolVersion });
    await waitFor(() => readings(g.journal).some((r) => r.key === 'doc'), 15_000, 'cpu reading', 20);
    await sleep(300);
    expect(readings(g.journal).filter((r) => r.key === 'd1')).toHaveLength(1);
    expect(received(second)).toBe(1);
  });
});

describe('MQTT bridge session record', () => {
  const log = silentLogger;
  it('says nothing about another session, or when unreadable; is emptied on disk when the broker has none', () => {
    const dir = tempDir();
    const mine = new SessionRecord(dir, 'mqtt://a:1883', 'weir-1', log);
    mine.load();
    mine.granted([['x/#', 1], ['y/+', 2]]);
    const reread = new SessionRecord(dir, 'mqtt://a:1883', 'weir-1', log);
    reread.load();
    expect(reread.removed([{ filter: 'y/+', qos: 2 }])).toEqual(['x/#']);
    // A new filter, or a known one with another QoS, needs a SUBSCRIBE; an unchanged one does not.
    expect(reread.missing([{ filter: 'x/#', qos: 1 }, { filter: 'y/+', qos: 1 }, { filter: 'z', qos: 1 }]).map((s) => s.filter)).toEqual(['y/+', 'z']);
    // Another client id or broker: that record is not this session's.
    for (const other of [new SessionRecord(dir, 'mqtt://a:1883', 'weir-2', log), new SessionRecord(dir, 'mqtt://b:1883', 'weir-1', log)]) {
      other.load();
      expect(other.known).toBe(false);
      expect(other.removed([])).toEqual([]);
      expect(other.missing([{ filter: 'x/#', qos: 1 }])).toHaveLength(1);
    }
    reread.clear();
    const cleared = new SessionRecord(dir, 'mqtt://a:1883', 'weir-1', log);
    cleared.load();
    expect(cleared.known).toBe(true);
    expect(cleared.removed([])).toEqual([]);
    writeFileSync(join(dir, SESSION_FILE), '{"url": "mqtt://a:18');
    const broken = new SessionRecord(dir, 'mqtt://a:1883', 'weir-1', log);
    broken.load();
    expect(broken.known).toBe(false);
  });
});
