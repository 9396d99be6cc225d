// libcoap's coap-client (Debian libcoap3-bin) as the device: confirmable and
// non-confirmable POSTs and a block-wise (RFC 7959) batch to the contract path
// /iot-data-input arrive on Kafka under the device's key, in the order sent.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { coapClient } from '../unit/coap/support.js';
import { cpuReading, freePort, startInProcess, testSetup, type TestSetup } from '../support/gateway.js';
import { checkDelivery } from '../support/delivery.js';
import { consumeAll, dedupBySeq } from '../support/kcat.js';

describe('CoAP ingest', () => {
  const brokers = inject('kafkaBrokers');
  let setup: TestSetup;
  let gateway: Gateway;
  let url: string;
  beforeAll(async () => {
    const port = await freePort();
    setup = await testSetup(brokers, { coap: { enabled: true, host: '127.0.0.1', port } });
    gateway = await startInProcess(setup);
    url = `coap://127.0.0.1:${port}/iot-data-input`;
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('forwards confirmable, non-confirmable and block-wise readings in order under the device key', async () => {
    for (let i = 0; i < 15; i++) {
      const { response } = await coapClient('-m', 'post', '-t', '50', '-e', cpuReading('coap-1', i), url);
      expect(response.code).toBe('2.04');
    }
    for (let i = 15; i < 25; i++) {
      // -N: non-confirmable; the server's answer is a NON 2.04 (RFC 7252 §5.2.3).
      const { response } = await coapClient('-N', '-m', 'post', '-t', '50', '-e', cpuReading('coap-1', i), url);
      expect(response.code).toBe('2.04');
    }
    const batch = `[${Array.from({ length: 25 }, (_, k) => cpuReading('coap-1', 25 + k)).join(',')}]`;
    expect(batch.length).toBeGreaterThan(1024); // more than one 64-byte block, more than a small datagram
    const { run, response } = await coapClient('-m', 'post', '-t', '50', '-b', '64', '-e', batch, url);
    expect(response.code).toBe('2.04');
    expect(run.responses.filter((r) => r.code === '2.31').length).toBeGreaterThan(10); // Continue per block (RFC 7959 §2.3)

    // At least once (PRODUCT.md): a batch resent after a failed Kafka send comes again under
    // the same weir-seq. checkDelivery fails on a copy under a new one, or out of order;
    // what stays after dropping repeated weir-seqs must be exactly the 50 readings.
    const all = await consumeAll(brokers, setup.topics.readings, { until: (rs) => dedupBySeq(rs).length >= 50, timeoutMs: 30_000 });
    checkDelivery(all, new Map([['coap-1', new Set(Array.from({ length: 50 }, (_, i) => i))]]));
    const records = dedupBySeq(all);
    expect(all.every((r) => r.key === 'coap-1')).toBe(true);
    const byPartition = records.map((r) => JSON.parse(r.value) as { ts: number; device: string; profile: string });
    expect(byPartition.map((v) => v.ts - 1_700_000_000_000)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(byPartition.every((v) => v.device === 'coap-1' && v.profile === 'cpu-monitor')).toBe(true);
    expect(records.every((r) => r.headers['weir-gateway'] === setup.config.gateway!.id && r.headers['weir-schema'] === '1')).toBe(true);
  });

  it('answers a payload no profile takes with 4.04 and dead-letters it with the reason', async () => {
    const { response } = await coapClient('-m', 'post', '-e', '{"x":1}', url.replace('/iot-data-input', '/nowhere'));
    expect(response.code).toBe('4.04');
    const dead = await consumeAll(brokers, setup.topics.deadletter, { count: 1, timeoutMs: 30_000 });
    expect(JSON.parse(dead[0]!.value)).toMatchObject({ protocol: 'coap', code: 'WEIR_NO_PROFILE' });
  });
});
