// The embedded broker with a real Ingest over a real SqliteJournal, driven by a raw MQTT 3.1.1 client
// (mqtt-packet over a TCP socket: mosquitto_pub cannot drop a connection between PUBREC and PUBREL).
import { generate } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { brokerHarness, rawMqttClient } from '../support/raw-mqtt.js';
import { waitFor } from '../support/wait.js';
import { makeContext, tempDir, timelessProfileDir, useCleanups } from './support.js';

const defer = useCleanups();

describe('MQTT broker: QoS 2 exactly once across a reconnect of a persistent session', () => {
  it('journals a QoS 2 PUBLISH resent (DUP) after reconnecting with CleanSession 0, before PUBREL, only once', async () => {
    const ctx = makeContext({ dataDir: tempDir(), mqtt: { host: '127.0.0.1', port: 0 } });
    const { journal, source, close } = await brokerHarness(ctx, [timelessProfileDir('tl')]);
    defer(close);

    const connectPacket = generate({ cmd: 'connect', clientId: 'dev-q2', protocolId: 'MQTT', protocolVersion: 4, clean: false, keepalive: 60 });
    const publish = (dup: boolean) => generate({ cmd: 'publish', topic: 'tl/d1', payload: Buffer.from('{"v": 5}'), qos: 2, messageId: 9, retain: false, dup });

    // First attempt: committed and PUBREC'd, then the connection drops before the device sends PUBREL.
    const first = await rawMqttClient(source.port);
    first.socket.write(connectPacket);
    first.socket.write(publish(false));
    await waitFor(() => first.packets.some((p) => p.cmd === 'pubrec'), 5000, 'PUBREC on the first connection', 10);
    first.socket.destroy();
    await waitFor(() => source.status().clients === 0, 5000, 'the broker to see the disconnect', 10);

    // MQTT 3.1.1 §4.4 [MQTT-4.4.0-1]: on reconnecting with CleanSession 0 the device resends the unacknowledged
    // PUBLISH with its original packet id; the server kept that id in the session (§3.1.2.4), so it is the same
    // message and must not be delivered again ([MQTT-4.3.3-2]). aedes itself sees the duplicate (PUBREC only).
    const second = await rawMqttClient(source.port);
    second.socket.write(connectPacket);
    second.socket.write(publish(true));
    await waitFor(() => second.packets.some((p) => p.cmd === 'pubrec'), 5000, 'PUBREC on the second connection', 10);
    second.socket.write(generate({ cmd: 'pubrel', messageId: 9 }));
    await waitFor(() => second.packets.some((p) => p.cmd === 'pubcomp'), 5000, 'PUBCOMP', 10);
    second.socket.destroy();

    const readings = journal.read(0, 100, 1 << 20).filter((r) => r.stream === 'readings');
    expect(readings.map((r) => r.seq)).toHaveLength(1);
  });
});
