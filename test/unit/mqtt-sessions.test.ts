// Persistent MQTT sessions expire (mqtt.sessionExpirySeconds): the embedded broker over a
// real journal, raw MQTT 3.1.1 clients, and a ManualClock for the expiry (aedes itself
// runs on real time; only the sweep reads the injected clock).
import { generate, type IConnackPacket, type IPublishPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { SessionExpiry, type SessionStore } from '../../src/sources/mqtt-sessions.js';
import { brokerHarness, rawMqttClient, type RawMqttClient } from '../support/raw-mqtt.js';
import { waitFor } from '../support/wait.js';
import { makeContext, tempDir, turns, useCleanups } from './support.js';

const defer = useCleanups();

const EXPIRY_S = 60;

async function session(port: number, clientId: string, clean: boolean, subscribe?: string): Promise<{ c: RawMqttClient; connack: IConnackPacket }> {
  const c = await rawMqttClient(port);
  defer(async () => void c.socket.destroy());
  c.socket.write(generate({ cmd: 'connect', clientId, protocolId: 'MQTT', protocolVersion: 4, clean, keepalive: 60 }));
  await waitFor(() => c.packets.find((p) => p.cmd === 'connack'), 5000, 'CONNACK', 5);
  if (subscribe) {
    c.socket.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: subscribe, qos: 1 }] }));
    await waitFor(() => c.packets.find((p) => p.cmd === 'suback'), 5000, 'SUBACK', 5);
  }
  return { c, connack: c.packets.find((p) => p.cmd === 'connack') as IConnackPacket };
}

/** Moves the clock a second at a time, letting each sweep (asynchronous) finish and re-arm. */
async function pass(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 1000) {
    clock.advance(Math.min(1000, ms - t));
    await turns(5);
  }
}

async function leave(c: RawMqttClient): Promise<void> {
  c.socket.write(generate({ cmd: 'disconnect' }));
  await new Promise((r) => c.socket.once('close', r));
}

describe('MQTT persistent sessions expire after mqtt.sessionExpirySeconds', () => {
  it('removes the session (subscriptions, queued messages) of a client away that long, and keeps one that came back in time', async () => {
    const clock = new ManualClock();
    const ctx = makeContext({ dataDir: tempDir(), mqtt: { host: '127.0.0.1', port: 0, sessionExpirySeconds: EXPIRY_S } }, clock);
    const { source, close } = await brokerHarness(ctx);
    defer(close);

    // Two persistent subscribers and a clean one; all leave.
    for (const [id, clean] of [['away', false], ['back', false], ['clean', true]] as const) {
      await leave((await session(source.port, id, clean, `alerts/${id}`)).c);
    }
    await waitFor(() => (source.status() as { clients: number }).clients === 0, 5000, 'the clients to be gone');
    expect(source.status()).toMatchObject({ sessionsAway: 2 }); // the clean session is not kept
    // Messages for them, queued while they are away (QoS 1 subscriptions).
    source.publishLocal('alerts/away', 'for away');
    source.publishLocal('alerts/back', 'for back');
    await turns(10);

    await pass(clock, (EXPIRY_S - 10) * 1000);
    // "back" returns before its session expired, and leaves again: its clock restarts.
    const back = await session(source.port, 'back', false);
    expect(back.connack.sessionPresent).toBe(true);
    await waitFor(() => back.c.packets.find((p) => p.cmd === 'publish'), 5000, 'the queued message');
    expect((back.c.packets.find((p) => p.cmd === 'publish') as IPublishPacket).payload.toString()).toBe('for back');
    back.c.socket.write(generate({ cmd: 'puback', messageId: (back.c.packets.find((p) => p.cmd === 'publish') as IPublishPacket).messageId }));
    await leave(back.c);
    source.publishLocal('alerts/back', 'for back, later');
    await turns(10);

    await pass(clock, 20_000); // "away" is now past the expiry, "back" 20 s into its second absence
    await waitFor(() => (source.status() as { sessionsAway: number }).sessionsAway === 1, 5000, 'the expired session to go');

    const away = await session(source.port, 'away', false);
    expect(away.connack.sessionPresent).toBe(false); // MQTT 3.1.1 §3.2.2.2: no session
    await new Promise((r) => setTimeout(r, 200));
    expect(away.c.packets.filter((p) => p.cmd === 'publish')).toEqual([]); // its queued message went with it
    await leave(away.c);

    const again = await session(source.port, 'back', false);
    expect(again.connack.sessionPresent).toBe(true);
    await waitFor(() => again.c.packets.find((p) => p.cmd === 'publish'), 5000, 'the message queued during its second absence');
    expect((again.c.packets.find((p) => p.cmd === 'publish') as IPublishPacket).payload.toString()).toBe('for back, later');
  });

  it('with 0, keeps sessions for as long as the gateway runs', async () => {
    const clock = new ManualClock();
    const ctx = makeContext({ dataDir: tempDir(), mqtt: { host: '127.0.0.1', port: 0, sessionExpirySeconds: 0 } }, clock);
    const { source, close } = await brokerHarness(ctx);
    defer(close);
    await leave((await session(source.port, 'kept', false, 'alerts/kept')).c);
    await pass(clock, 2 * 3_600_000 + 1000); // past two sweeps had there been an expiry (the sweep runs at least hourly)
    expect((await session(source.port, 'kept', false)).connack.sessionPresent).toBe(true);
  });
});

describe('SessionExpiry against a failing store', () => {
  it('logs, keeps the session as expired, and removes it at the next sweep', async () => {
    const clock = new ManualClock();
    const ctx = makeContext({}, clock);
    let fail = true;
    const cleaned: string[] = [];
    const store: SessionStore = {
      cleanSubscriptions: async (c) => {
        if (fail) throw new Error('store unavailable');
        cleaned.push(c.id);
      },
      outgoingStream: async function* () { /* nothing queued */ },
      outgoingClearMessageId: async () => undefined,
    };
    const expiry = new SessionExpiry(ctx, store, 10_000, () => false);
    expiry.disconnected('d1', false);
    clock.advance(10_000);
    expect(await expiry.sweep()).toBe(0);
    expect(expiry.kept).toBe(1);
    fail = false;
    expect(await expiry.sweep()).toBe(1);
    expect(cleaned).toEqual(['d1']);
    expect(expiry.kept).toBe(0);
  });
});
