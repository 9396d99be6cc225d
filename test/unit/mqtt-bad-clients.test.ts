// The embedded broker with a real Ingest over a real SqliteJournal, at the edges of a
// connection: a packet announcing more than the size cap is cut off unread, and still
// dead-lettered with its reason (not only counted), while other devices keep being
// served; a PUBLISH sent before CONNACK waits for the CONNECT to be accepted; a Last
// Will is handled as its client's PUBLISH would be. The bad
// clients are raw TCP sockets (mosquitto_pub would send the whole payload, and waits
// for CONNACK); the good device is a real mosquitto_pub.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { generate } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import type { StoredRecord } from '../../src/journal/journal.js';
import type { MqttBrokerSource } from '../../src/sources/mqtt-broker.js';
import { publish } from '../support/mosquitto.js';
import { brokerHarness, rawMqttClient } from '../support/raw-mqtt.js';
import { waitFor } from '../support/wait.js';
import { makeContext, tempDir, useCleanups } from './support.js';

const defer = useCleanups();

const MAX_PAYLOAD = 1024;
const CAP = MAX_PAYLOAD * 4 + 64 * 1024; // mqtt-packet-guard.ts packetCap: maxPayloadBytes × 4 + 64 KiB

async function gateway() {
  const ctx = makeContext({ dataDir: tempDir(), mqtt: { host: '127.0.0.1', port: 0, maxPayloadBytes: MAX_PAYLOAD } });
  const { journal, source, close } = await brokerHarness(ctx);
  defer(close);
  const deadLetters = (): Array<StoredRecord & { parsed: Record<string, unknown> }> =>
    journal.read(0, 1000, 1 << 20).filter((r) => r.stream === 'deadletter').map((r) => ({ ...r, parsed: JSON.parse(r.body) as Record<string, unknown> }));
  return { ctx, journal, source, deadLetters };
}

/** A raw MQTT client, destroyed after the test. */
async function raw(port: number) {
  const c = await rawMqttClient(port);
  defer(async () => void c.socket.destroy());
  return c;
}

/** A raw socket: sends CONNECT (if given) and waits for CONNACK, then `bytes`; resolves once the gateway closed it. */
async function sendAndWaitClose(port: number, connectPacket: Buffer | null, bytes: Buffer): Promise<void> {
  const socket: Socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  const closed = once(socket, 'close');
  if (connectPacket) {
    socket.write(connectPacket);
    const [connack] = (await once(socket, 'data')) as [Buffer];
    expect(connack[0]).toBe(0x20); // CONNACK (§3.2)
  }
  socket.write(bytes);
  await closed;
}

/** A PUBLISH fixed header announcing `remaining` bytes (MQTT 3.1.1 §2.2.3), and only its first few body bytes. */
function publishHead(remaining: number): Buffer {
  const len: number[] = [];
  let x = remaining;
  do {
    let byte = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) byte |= 0x80;
    len.push(byte);
  } while (x > 0);
  return Buffer.from([0x32, ...len, 0x00, 0x04, ...Buffer.from('iot-')]);
}

describe('MQTT packets over the size cap', () => {
  it('are dead-lettered with the reason and announced size under the client id, and the gateway keeps serving', async () => {
    const { ctx, journal, source, deadLetters } = await gateway();
    const announced = 10 * 1024 * 1024;
    const connectPacket = generate({ cmd: 'connect', clientId: 'dev-huge', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
    await sendAndWaitClose(source.port, connectPacket, publishHead(announced));
    await waitFor(() => deadLetters().length === 1, 5000, 'the dead letter to be committed', 10);
    const [dl] = deadLetters();
    expect(dl!.key).toBe('dev-huge');
    expect(dl!.parsed).toMatchObject({
      protocol: 'mqtt', client: 'dev-huge', code: 'WEIR_PAYLOAD_TOO_LARGE',
      payload_b64: '', payload_truncated: true, payload_bytes: announced,
    });
    expect(dl!.parsed.reason).toContain(`MQTT packet of ${announced} bytes exceeds the cap of ${CAP}`);
    expect((await ctx.metrics.deadLetters.get()).values).toEqual([expect.objectContaining({ labels: { code: 'WEIR_PAYLOAD_TOO_LARGE' }, value: 1 })]);
    expect((await ctx.metrics.mqttCut.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'oversize_packet' }, value: 1 })]);

    // Good traffic after it, from a real client: committed and acknowledged (mosquitto_pub waits for PUBACK).
    const reading = '{"hostname":"h-1","cpu":"cpu0","usage":12.5,"occurred_at":1700000000000}';
    await publish(source.port, 'iot-data-input', [reading], { qos: 1, version: 4 });
    const readings = journal.read(0, 1000, 1 << 20).filter((r) => r.stream === 'readings');
    expect(readings.map((r) => [r.key, JSON.parse(r.body).metrics])).toEqual([['h-1', { usage: 12.5 }]]);
  });

  it('is keyed by the remote address when the oversize packet comes before CONNECT', async () => {
    const { source, deadLetters } = await gateway();
    await sendAndWaitClose(source.port, null, publishHead(CAP + 1));
    await waitFor(() => deadLetters().length === 1, 5000, 'the dead letter to be committed', 10);
    const [dl] = deadLetters();
    expect(dl!.key).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(dl!.parsed).toMatchObject({ client: dl!.key, code: 'WEIR_PAYLOAD_TOO_LARGE', payload_bytes: CAP + 1 });
  });

  it('leaves a packet exactly at the cap to the ordinary size check (a dead letter carrying the payload)', async () => {
    const { source, deadLetters } = await gateway();
    const payload = Buffer.alloc(CAP - 2 - 'iot-data-input'.length - 2, 0x41);
    const pkt = generate({ cmd: 'publish', topic: 'iot-data-input', payload, qos: 1, messageId: 3, retain: false, dup: false });
    const connectPacket = generate({ cmd: 'connect', clientId: 'dev-at-cap', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
    const socket = connect(source.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    defer(async () => void socket.destroy());
    socket.write(connectPacket);
    socket.write(pkt);
    await waitFor(() => deadLetters().length === 1, 5000, 'the dead letter to be committed', 10);
    const [dl] = deadLetters();
    expect(dl!.parsed).toMatchObject({ client: 'dev-at-cap', code: 'WEIR_PAYLOAD_TOO_LARGE', payload_bytes: payload.length, payload_truncated: true });
    expect(String(dl!.parsed.reason)).toContain(`exceeds the limit of ${MAX_PAYLOAD}`);
    expect(socket.destroyed).toBe(false);
  });
});

describe('MQTT PUBLISH before CONNACK (MQTT 3.1.1 §3.1.4: a client need not wait for it)', () => {
  /** Holds every CONNECT for `ms` (a slow preConnect, as a slow session store would), then accepts or refuses it. */
  function slowConnect(source: MqttBrokerSource, ms: number, accept: boolean): void {
    const broker = (source as unknown as { broker: { preConnect: (c: unknown, p: unknown, cb: (err: Error | null, ok: boolean) => void) => void } }).broker;
    broker.preConnect = (_c, _p, cb) => void setTimeout(() => (accept ? cb(null, true) : cb(new Error('refused by the test'), false)), ms);
  }

  const pub = (payload: string, messageId: number) =>
    generate({ cmd: 'publish', topic: 'iot-data-input', payload: Buffer.from(payload), qos: 1, messageId, retain: false, dup: false });
  const good = '{"hostname":"h-early","cpu":"cpu0","usage":42,"occurred_at":1700000000000}';

  it('journals it under the client id once the CONNECT is accepted, in arrival order, and acknowledges it after CONNACK', async () => {
    const { source, journal, deadLetters } = await gateway();
    slowConnect(source, 150, true);
    const c = await raw(source.port);
    c.socket.write(generate({ cmd: 'connect', clientId: 'dev-early', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 }));
    await new Promise((r) => setTimeout(r, 40)); // the CONNECT is being processed: separate socket reads
    c.socket.write(pub('not json at all', 1));
    await new Promise((r) => setTimeout(r, 20));
    c.socket.write(pub(good, 2));
    await waitFor(() => c.packets.filter((p) => p.cmd === 'puback').length === 2, 5000, 'both PUBACKs', 10);
    expect(c.packets.map((p) => p.cmd)).toEqual(['connack', 'puback', 'puback']);
    const records = journal.read(0, 1000, 1 << 20);
    expect(records.map((r) => [r.stream, r.key])).toEqual([['deadletter', 'dev-early'], ['readings', 'h-early']]);
    expect(deadLetters()[0]!.parsed).toMatchObject({ client: 'dev-early', code: 'WEIR_DECODE_FAILED' });
  });

  it('drops it unacknowledged when the CONNECT is refused ([MQTT-3.1.4-5])', async () => {
    const { source, journal } = await gateway();
    slowConnect(source, 150, false);
    const c = await raw(source.port);
    const closed = once(c.socket, 'close');
    c.socket.write(generate({ cmd: 'connect', clientId: 'dev-refused', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 }));
    await new Promise((r) => setTimeout(r, 40));
    c.socket.write(pub(good, 1));
    await closed;
    await new Promise((r) => setTimeout(r, 50));
    expect(journal.read(0, 1000, 1 << 20)).toEqual([]);
    expect(c.packets.some((p) => p.cmd === 'puback')).toBe(false);
  });
});

describe('MQTT: a client that vanishes with a Last Will (MQTT 3.1.1 §3.1.2.5)', () => {
  it('has its will handled as its PUBLISH would be: journaled when a profile matches, dead-lettered when none does', async () => {
    const { source, journal, deadLetters } = await gateway();
    const vanish = async (clientId: string, topic: string, payload: string) => {
      const c = await raw(source.port);
      c.socket.write(generate({ cmd: 'connect', clientId, protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, will: { topic, payload: Buffer.from(payload), qos: 1, retain: false } }));
      await waitFor(() => c.packets.some((p) => p.cmd === 'connack'), 5000, 'CONNACK', 5);
      c.socket.destroy(); // no DISCONNECT: the broker publishes the will
    };
    await vanish('dev-w1', 'iot-data-input', JSON.stringify({ hostname: 'h-will', cpu: 'cpu0', usage: 0, occurred_at: 1_700_000_000_000 }));
    await vanish('dev-w2', 'status/dev-w2', 'offline');
    await waitFor(() => journal.read(0, 1000, 1 << 20).length === 2, 5000, 'both wills journaled', 10);
    expect(journal.read(0, 1000, 1 << 20).filter((r) => r.stream === 'readings').map((r) => r.key)).toEqual(['h-will']);
    expect(deadLetters().map((d) => d.parsed)).toEqual([expect.objectContaining({ client: 'dev-w2', code: 'WEIR_NO_PROFILE' })]);
  });
});
