// Connections that would hurt the gateway. A slow or stuck subscriber must not stall
// every device: the embedded broker over a real journal, a raw MQTT subscriber on '#'
// that stops reading, and a raw publisher. aedes handles a device's next packet only
// once every subscriber took the last one; mqtt.subscriberBufferBytes lets a subscriber
// fall behind that far without holding anyone up (src/sources/mqtt-subscriber-buffer.ts),
// and mqtt.slowSubscriberTimeoutMs disconnects one that takes nothing at all.
import { generate } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { brokerHarness, rawMqttClient } from '../support/raw-mqtt.js';
import { waitFor } from '../support/wait.js';
import { makeContext, tempDir, useCleanups } from './support.js';

const defer = useCleanups();

/**
 * A subscriber on '#' that reads nothing after its SUBACK (its socket buffers fill), and
 * a device publishing ~24 MB at QoS 1, 20 in flight, as a device would: far more than
 * the kernel's socket buffers hold for the subscriber. Returns once every PUBLISH was
 * acknowledged, and checks all were journaled.
 */
async function stuckSubscriber(qos: 0 | 1, mqtt: { slowSubscriberTimeoutMs: number; subscriberBufferBytes?: number }) {
  const ctx = makeContext({ dataDir: tempDir(), mqtt: { host: '127.0.0.1', port: 0, ...mqtt } });
  const { source, journal, close } = await brokerHarness(ctx);
  defer(close);
  const gone: string[] = [];
  (source as unknown as { broker: { on(e: 'clientDisconnect', f: (c: { id: string }) => void): void } }).broker.on('clientDisconnect', (c) => gone.push(c.id));
  const sub = await rawMqttClient(source.port);
  defer(async () => void sub.socket.destroy());
  sub.socket.write(generate({ cmd: 'connect', clientId: 'stuck', protocolId: 'MQTT', protocolVersion: 4, clean: qos === 0, keepalive: 0 }));
  sub.socket.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos }] }));
  await waitFor(() => sub.packets.some((p) => p.cmd === 'suback'), 5000, 'SUBACK', 5);
  sub.socket.pause();

  const pub = await rawMqttClient(source.port);
  defer(async () => void pub.socket.destroy());
  pub.socket.write(generate({ cmd: 'connect', clientId: 'device', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 }));
  await waitFor(() => pub.packets.some((p) => p.cmd === 'connack'), 5000, 'CONNACK', 5);
  const N = 400;
  const pad = 'x'.repeat(60_000);
  const acked = () => pub.packets.filter((p) => p.cmd === 'puback').length;
  // Not a speed check: the bounds are far below the drain timeouts that would free the
  // device otherwise (aedes' own 60 s; 120 s in the buffer tests).
  for (let i = 0; i < N; i++) {
    await waitFor(() => i - acked() < 20, 30_000, 'the window to open', 1);
    const payload = `{"hostname":"h-1","cpu":"cpu0","usage":${i % 100},"occurred_at":${1_700_000_000_000 + i},"pad":"${pad}"}`;
    pub.socket.write(generate({ cmd: 'publish', topic: 'iot-data-input', payload: Buffer.from(payload), qos: 1, messageId: 1 + i, retain: false, dup: false }));
  }
  await waitFor(() => acked() === N, 30_000, 'every PUBACK', 10);
  expect(journal.read(0, 1000, 1 << 30).filter((r) => r.stream === 'readings')).toHaveLength(N);
  return { ctx, gone };
}

describe('MQTT: a subscriber that stops reading', () => {
  it('is disconnected after mqtt.slowSubscriberTimeoutMs, and every device PUBLISH is acknowledged', async () => {
    const { ctx, gone } = await stuckSubscriber(0, { slowSubscriberTimeoutMs: 300 });
    expect(gone).toEqual(['stuck']);
    expect((await ctx.metrics.mqttCut.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'slow_subscriber' }, value: 1 })]);
  });
});

describe('MQTT: a slow subscriber (mqtt.subscriberBufferBytes)', () => {
  // The drain timeout is out of reach: whatever happens here is the buffer's doing.
  const buffer = { slowSubscriberTimeoutMs: 120_000, subscriberBufferBytes: 64 * 1024 };

  it('holds up no device: QoS 0 messages it has no room for are dropped for it alone, and it stays connected', async () => {
    const { ctx, gone } = await stuckSubscriber(0, buffer);
    expect(gone).toEqual([]);
    const dropped = (await ctx.metrics.mqttDropped.get()).values[0]?.value ?? 0;
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(400); // what fit in its buffer and the kernel's was delivered
    expect((await ctx.metrics.mqttCut.get()).values).toEqual([]);
  });

  it('holds up no device: a QoS 1 subscriber is disconnected once its messages outgrow the buffer, not dropped', async () => {
    const { ctx, gone } = await stuckSubscriber(1, buffer);
    expect(gone).toEqual(['stuck']);
    expect((await ctx.metrics.mqttCut.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'slow_subscriber' }, value: 1 })]);
    expect((await ctx.metrics.mqttDropped.get()).values[0]?.value ?? 0).toBe(0);
  });
});

describe('MQTT: mqtt.maxConnections', () => {
  it('closes connections beyond the limit as they arrive, counts them, and accepts again once one closes', async () => {
    const ctx = makeContext({ dataDir: tempDir(), mqtt: { host: '127.0.0.1', port: 0, maxConnections: 2 } });
    const { source, close } = await brokerHarness(ctx);
    defer(close);
    const connectAs = async (clientId: string) => {
      const c = await rawMqttClient(source.port);
      defer(async () => void c.socket.destroy());
      const closed = new Promise<true>((r) => c.socket.once('close', () => r(true)));
      c.socket.write(generate({ cmd: 'connect', clientId, protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 }));
      const connacked = waitFor(() => c.packets.some((p) => p.cmd === 'connack'), 5000, 'CONNACK', 5).then(() => false as const);
      return { c, refused: await Promise.race([closed, connacked]) };
    };
    const a = await connectAs('a');
    const b = await connectAs('b');
    expect([a.refused, b.refused]).toEqual([false, false]);
    const third = await connectAs('c');
    expect(third.refused).toBe(true);
    expect(third.c.packets).toEqual([]);
    expect((await ctx.metrics.mqttCut.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'connection_limit' }, value: 1 })]);

    a.c.socket.destroy();
    await waitFor(() => (source.status() as { clients: number }).clients === 1, 5000, 'the first client to be gone');
    expect((await connectAs('d')).refused).toBe(false);
  });
});
