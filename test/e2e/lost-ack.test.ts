// Kafka appended a batch but its answer never reached the gateway (the link failed
// after the request went out). The forwarder sends the same batch again with the same
// idempotent producer, and Kafka, recognising its producer id and sequence numbers
// (KIP-98), keeps one copy. The delivery promise allows copies only for records in
// flight at a crash (PRODUCT.md); a new producer's resend, as the forwarder made
// before, stored every record of the batch twice.
//
// A private broker behind a TCP proxy (test/support/kafka-proxy.ts): the broker
// advertises the proxy's port, so all of the gateway's Kafka connections pass it, while
// this test reads Kafka through a second, direct listener.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { KafkaBroker } from '../support/kafka-broker.js';
import { KafkaProxy } from '../support/kafka-proxy.js';
import { consumeAll } from '../support/kcat.js';
import { cpuReading, getText, metric, startInProcess, testSetup, waitFor } from '../support/gateway.js';
import { publish } from '../support/mosquitto.js';
import { freePort } from '../support/kafka-broker.js';

describe('a Kafka answer lost after the write', () => {
  let proxy: KafkaProxy;
  let broker: KafkaBroker;
  let gateway: Gateway | undefined;
  beforeAll(async () => {
    proxy = await KafkaProxy.start();
    const port = await freePort();
    proxy.targetPort = port;
    broker = await KafkaBroker.start({ port, advertisedPort: proxy.port });
  });
  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
    proxy.restore();
  });
  afterAll(async () => {
    await proxy?.stop();
    await broker?.destroy();
  });

  it.each([
    { client: 'platformatic' as const, compression: 'lz4' as const },
    { client: 'kafkajs' as const, compression: 'none' as const },
  ])('is resent by the same producer, and Kafka keeps one copy ($client)', async (kafka) => {
    const setup = await testSetup(`127.0.0.1:${proxy.port}`, { kafka: { ...kafka, retryInitialMs: 200, retryMaxMs: 1000 } });
    gateway = await startInProcess(setup);
    const forwarded = async (): Promise<number> => metric(await getText(setup.httpPort, '/metrics'), 'weir_records_forwarded_total', 'stream="readings"') ?? 0;
    const sendFailures = async (): Promise<number> => metric(await getText(setup.httpPort, '/metrics'), 'weir_kafka_errors_total', 'kind="send"') ?? 0;

    await publish(setup.mqttPort, 'iot-data-input', Array.from({ length: 20 }, (_, i) => cpuReading('h1', i)), { qos: 1, version: 4 });
    await waitFor(async () => (await forwarded()) === 20, 30_000, 'the first 20 readings forwarded');

    // From here Kafka's answers go missing; these 10 are PUBACKed (journaled) all the same.
    const swallowedBefore = proxy.producesSwallowed;
    proxy.swallow();
    await publish(setup.mqttPort, 'iot-data-input', Array.from({ length: 10 }, (_, i) => cpuReading('h1', 20 + i)), { qos: 1, version: 4 });
    // Kafka has some of them (read directly): the request whose answer is missing, which
    // holds back the rest (one request in flight). The gateway has not heard so.
    await consumeAll(broker.brokers, setup.topics.readings, { count: 21, timeoutMs: 30_000 });
    await waitFor(async () => proxy.producesSwallowed > swallowedBefore, 10_000, 'a produce answer dropped');
    expect(await forwarded()).toBe(20);

    proxy.cut(); // the request's connection dies; new ones fail until restore()
    await waitFor(async () => (await sendFailures()) > 0, 30_000, 'the send reported failed');
    proxy.restore();
    await waitFor(async () => (await forwarded()) === 30, 30_000, 'the batch acknowledged on resend');

    const records = await consumeAll(broker.brokers, setup.topics.readings, { count: 30, timeoutMs: 30_000 });
    const seqs = records.map((r) => r.headers['weir-seq']);
    expect(new Set(seqs).size).toBe(30);
    expect(records).toHaveLength(30); // no copy, not even one repeating its weir-seq
    expect(records.map((r) => (JSON.parse(r.value) as { ts: number }).ts - 1_700_000_000_000)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
});
