// The MQTT bridge end to end: devices publish (mosquitto_pub) to a real Mosquitto,
// the site broker; the gateway (a real `weir run` process) holds a persistent QoS 1
// session there and is killed with SIGKILL mid-stream, twice, and restarted. Every
// message Mosquitto accepted must be on Kafka, in each device's order, any copy
// repeating its weir-seq — because the bridge acknowledges only after the commit.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { checkDelivery } from '../support/delivery.js';
import { cpuReading, GatewayProcess, getJson, sleep, testSetup, waitFor } from '../support/gateway.js';
import { consumeAll, distinctSeqs } from '../support/kcat.js';
import { Mosquitto, publish } from '../support/mosquitto.js';

describe('MQTT bridge', () => {
  const brokers = inject('kafkaBrokers');
  let gw: GatewayProcess | undefined;
  let site: Mosquitto | undefined;
  afterAll(async () => {
    await gw?.stop('SIGKILL');
    await site?.destroy();
  });

  it('loses nothing the site broker accepted across SIGKILLs of the gateway', async () => {
    // Queue without limit for the gateway's session while it is down (default: 1000).
    site = await Mosquitto.start(true, ['max_queued_messages 0']);
    const setup = await testSetup(brokers, {
      bridge: { enabled: true, url: site.url, clientId: 'weir-e2e-bridge', subscriptions: [{ filter: 'iot-data-input', qos: 1 }] },
    });
    gw = new GatewayProcess(setup);
    await gw.start();
    await waitFor(async () => (await getJson(setup.httpPort, '/readyz')).bridge === 'connected', 10_000, 'bridge connected');

    const devices = ['b1', 'b2', 'b3'];
    const perDevice = 400;
    const acked = new Map(devices.map((d) => [d, new Set<number>()]));
    const lines: string[] = [];
    for (let i = 0; i < perDevice; i++) {
      for (const d of devices) {
        lines.push(cpuReading(d, i));
        acked.get(d)!.add(i);
      }
    }
    // mosquitto_pub -l: one connection, in order, each message PUBACKed by Mosquitto before it exits.
    const published = publish(site.port, 'iot-data-input', lines, { qos: 1, version: 5 });
    for (let round = 0; round < 2; round++) {
      await sleep(800 + Math.floor(Math.random() * 800));
      expect(await gw.stop('SIGKILL')).toBeNull();
      await sleep(300);
      await gw.start();
    }
    await published;

    const records = await consumeAll(brokers, setup.topics.readings, {
      timeoutMs: 90_000, until: distinctSeqs(lines.length),
    });
    const duplicates = checkDelivery(records, acked);
    // Copies (same weir-seq) are records Kafka had taken whose acknowledgement had not
    // reached the disk (acks are persisted once a second): allowed, but not a flood.
    expect(duplicates).toBeLessThan(records.length / 2);
    expect(await gw.stop('SIGTERM')).toBe(0);
  });
});
