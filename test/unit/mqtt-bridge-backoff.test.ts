// The MQTT bridge's reconnect backoff against a scripted site broker that accepts each
// connection and drops it right after its CONNACK — as a broker does to one of two
// gateways sharing a client id (session takeover: MQTT 5 §3.1.4, each one's CONNECT
// kicks the other), or one that sheds load (MQTT 5 DISCONNECT 0x89 Server busy, 0x9F
// Connection rate exceeded). A CONNACK alone must not reset the backoff, or the bridge
// reconnects at reconnectMinMs for ever: a reconnect storm. Time is the injected clock;
// Math.random is pinned so full jitter gives the top of each range.
import type { Packet } from 'mqtt-packet';
import { describe, expect, it, vi } from 'vitest';
import { bridgeConfigSchema } from '../../src/config/bridge-schema.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Ingest } from '../../src/ingest/ingest.js';
import { MqttBridgeSource } from '../../src/sources/mqtt-bridge.js';
import { hasPacket, scriptedBroker, type ScriptedConn } from '../support/scripted-broker.js';
import { waitFor } from '../support/wait.js';
import { makeContext, useCleanups } from './support.js';

const defer = useCleanups();

describe.each([5, 4] as const)('MQTT bridge reconnect backoff (protocolVersion %i)', (version) => {
  it('keeps backing off while each connection is dropped right after its CONNACK, and resets after a stable one', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    defer(() => vi.restoreAllMocks()); // the last cleanup to run: after the bridge stopped
    const clock = new ManualClock();
    // The delays the bridge arms its reconnects with (its only timers on this clock).
    const delays: number[] = [];
    const setTimer = clock.setTimer.bind(clock);
    clock.setTimer = (ms, fn) => (delays.push(ms), setTimer(ms, fn));
    const site = await scriptedBroker(version);
    defer(() => site.close());
    let keep = false; // the next connection stays up
    site.onConn = (c: ScriptedConn) => {
      let answered = false;
      c.socket.on('data', () => {
        if (answered || !hasPacket(c, 'connect')) return;
        answered = true;
        c.send({ cmd: 'connack', sessionPresent: true, returnCode: 0, reasonCode: 0 } as Packet);
        if (!keep) c.socket.end();
      });
    };
    const ctx = makeContext({ gateway: { id: 'gw-backoff' } }, clock);
    const bridge = new MqttBridgeSource(ctx, { submit: () => {} } as unknown as Ingest, bridgeConfigSchema.parse({
      enabled: true, url: `mqtt://127.0.0.1:${site.port}`, protocolVersion: version, clientId: 'weir-twin',
      subscriptions: [{ filter: 'iot-data-input' }], reconnectMinMs: 100, reconnectMaxMs: 3200,
    }));
    defer(() => bridge.stop());
    await bridge.start();

    for (let i = 0; i < 6; i++) {
      await waitFor(() => delays.length === i + 1, 10_000, `reconnect ${i + 1} armed`, 5);
      clock.advance(delays[i]!);
      await waitFor(() => site.conns.length === i + 2, 10_000, `connection ${i + 2}`, 5);
    }
    // Full jitter's ceiling doubles from reconnectMinMs up to reconnectMaxMs.
    expect(delays.slice(0, 6)).toEqual([99, 199, 399, 799, 1598, 3196]);

    // A connection that holds for reconnectMaxMs proved the broker takes the bridge: the next drop starts afresh.
    keep = true;
    await waitFor(() => delays.length === 7, 10_000, 'reconnect 7 armed', 5);
    clock.advance(delays[6]!);
    await waitFor(() => site.conns.length === 8 && hasPacket(site.conns[7]!, 'connect'), 10_000, 'connection 8', 5);
    await waitFor(() => bridge.status().connected === true, 10_000, 'connected', 5);
    clock.advance(3200);
    site.conns[7]!.socket.destroy();
    await waitFor(() => delays.length === 8, 10_000, 'reconnect 8 armed', 5);
    expect(delays[7]).toBe(99);
  });
});
