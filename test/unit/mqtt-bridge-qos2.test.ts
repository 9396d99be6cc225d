// The MQTT bridge's QoS 2 receiver state across a reconnect, against a scripted site
// broker (a real broker cannot be made to lose a PUBREC on cue): MQTT 3.1.1 and 5
// §4.3.3 — until PUBREL, a PUBLISH with the same packet identifier is the same message,
// acknowledged with PUBREC and not delivered again [MQTT-4.3.3-9]; and that state is part
// of the client's session (§4.1), so it survives a reconnect that resumes the session.
import type { Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { bridgeConfigSchema } from '../../src/config/bridge-schema.js';
import { Ingest } from '../../src/ingest/ingest.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { MqttBridgeSource } from '../../src/sources/mqtt-bridge.js';
import { hasPacket as has, scriptedBroker } from '../support/scripted-broker.js';
import { waitFor } from '../support/wait.js';
import { makeContext, tempDir, timelessProfileDir, useCleanups } from './support.js';

const defer = useCleanups();

describe.each([5, 4] as const)('MQTT bridge, QoS 2 across a reconnect (protocolVersion %i)', (version) => {
  it('journals a QoS 2 message once when its PUBREC was lost with the connection and the broker resends it', async () => {
    const profiles = timelessProfileDir('clockless'); // no clock: ingest cannot recognise the resend
    const ctx = makeContext({ dataDir: tempDir(), gateway: { id: 'gw-q2' }, journal: { commitIntervalMs: 1 } });
    const journal = new SqliteJournal(ctx);
    journal.open();
    defer(() => journal.close());
    const ingest = new Ingest(ctx, journal, loadProfilesOrThrow([BUNDLED_PROFILES_DIR, profiles]));
    ingest.open();
    const site = await scriptedBroker(version);
    defer(() => site.close());
    const bridge = new MqttBridgeSource(ctx, ingest, bridgeConfigSchema.parse({
      enabled: true, url: `mqtt://127.0.0.1:${site.port}`, protocolVersion: version, clientId: 'weir-q2',
      subscriptions: [{ filter: 'clockless/+', qos: 2 }], reconnectMinMs: 20, reconnectMaxMs: 40,
    }));
    defer(() => bridge.stop());
    const publish = { cmd: 'publish', topic: 'clockless/tank-3', payload: Buffer.from('{"v": 41}'), qos: 2, messageId: 7, retain: false } as const;

    // Connection 1: subscribed, the message delivered, committed and PUBREC'd — but the
    // connection breaks before the broker reads the PUBREC.
    const started = bridge.start();
    await waitFor(() => site.conns.length === 1 && has(site.conns[0]!, 'connect'), 10_000, 'CONNECT', 10);
    const c1 = site.conns[0]!;
    c1.send({ cmd: 'connack', sessionPresent: false, returnCode: 0, reasonCode: 0 } as Packet);
    await waitFor(() => has(c1, 'subscribe'), 10_000, 'SUBSCRIBE', 10);
    const sub = c1.got.find((p) => p.cmd === 'subscribe') as Packet & { messageId: number };
    c1.send({ cmd: 'suback', messageId: sub.messageId, granted: [2] } as Packet);
    await started;
    c1.send({ ...publish, dup: false } as Packet);
    await waitFor(() => has(c1, 'pubrec'), 10_000, 'PUBREC', 10);
    c1.socket.destroy();

    // Connection 2: the session resumes and the broker, which never got the PUBREC,
    // resends the PUBLISH with its packet identifier (and DUP set), then completes it.
    await waitFor(() => site.conns.length === 2 && has(site.conns[1]!, 'connect'), 10_000, 'reconnect', 10);
    const c2 = site.conns[1]!;
    c2.send({ cmd: 'connack', sessionPresent: true, returnCode: 0, reasonCode: 0 } as Packet);
    c2.send({ ...publish, dup: true } as Packet);
    await waitFor(() => has(c2, 'pubrec'), 10_000, 'PUBREC of the resend', 10);
    c2.send({ cmd: 'pubrel', messageId: 7 } as Packet);
    await waitFor(() => has(c2, 'pubcomp'), 10_000, 'PUBCOMP', 10);

    // After the PUBREL the identifier is free again: the next message with it is a new one.
    c2.send({ ...publish, payload: Buffer.from('{"v": 42}'), dup: false } as Packet);
    await waitFor(() => c2.got.filter((p) => p.cmd === 'pubrec').length === 2, 10_000, 'PUBREC of the next message', 10);

    const readings = journal.read(0, 1000, 1 << 20).filter((r) => r.stream === 'readings');
    expect(readings.map((r) => JSON.parse(r.body).metrics)).toEqual([{ v: 41 }, { v: 42 }]);
  });
});
