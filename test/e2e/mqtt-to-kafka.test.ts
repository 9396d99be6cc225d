// Device → embedded MQTT broker → journal → real Kafka, checked with real peers:
// mosquitto_pub publishes, kcat (librdkafka) reads back.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { murmur2 } from '../../src/forwarder/partitioner.js';
import { consumeAll } from '../support/kcat.js';
import { cpuReading, getJson, startInProcess, testSetup, type TestSetup } from '../support/gateway.js';
import { javaProducerPartitions } from '../support/java-producer.js';

/** mosquitto_pub -l: one message per stdin line, QoS 1, each PUBACKed before exit. */
function mosquittoPubLines(port: number, topic: string, lines: string[], clientId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-i', clientId, '-t', topic, '-l']);
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${code}: ${err}`))));
    p.stdin.end(lines.join('\n') + '\n');
  });
}

function mosquittoPub(port: number, topic: string, message: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', topic, '-m', message]);
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${code}`))));
  });
}

/** Device ids for the partitioning check; the Java producer's choice for each, computed once for both clients. */
const PARTITION_DEVICES = Array.from({ length: 40 }, (_, i) => `host-${String(i).padStart(2, '0')}`);
let javaReference: Promise<Map<string, number>> | undefined;

// Both Kafka clients behind KafkaProducerPort pass the same suite.
describe.each(['platformatic', 'kafkajs'] as const)('MQTT → journal → Kafka (%s)', (client) => {
  const brokers = inject('kafkaBrokers');
  let setup: TestSetup;
  let gateway: Gateway;

  beforeAll(async () => {
    setup = await testSetup(brokers, { mqtt: { maxPayloadBytes: 1024 }, kafka: { client, compression: 'gzip' } });
    gateway = await startInProcess(setup);
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('a reading published with mosquitto_pub -q 1 reaches weir.readings with the contract key, value and headers', async () => {
    const payload = JSON.stringify({ hostname: 'dopey', cpu: 'cpu4', usage: 90.51760978462883, occurred_at: 1642763123319 });
    const before = Date.now();
    await mosquittoPub(setup.mqttPort, 'iot-data-input', payload);
    const [rec] = await consumeAll(brokers, setup.topics.readings, { count: 1, timeoutMs: 30_000 });
    expect(rec!.key).toBe('dopey');
    expect(rec!.headers['weir-gateway']).toBe(setup.config.gateway!.id);
    expect(rec!.headers['weir-schema']).toBe('1');
    const value = JSON.parse(rec!.value);
    expect(Object.keys(value).sort()).toEqual(['device', 'gateway', 'metrics', 'profile', 'received', 'seq', 'tags', 'ts']);
    expect(value).toMatchObject({
      gateway: setup.config.gateway!.id, device: 'dopey', profile: 'cpu-monitor', ts: 1642763123319,
      tags: { cpu: 'cpu4' }, metrics: { usage: 90.51760978462883 },
    });
    expect(value.seq).toBe(Number(rec!.headers['weir-seq']));
    expect(value.received).toBeGreaterThanOrEqual(before - 1000);
    expect(value.received).toBeLessThanOrEqual(Date.now());
  });

  it('keeps each device\'s publish order: 5 devices x 2,000 readings, interleaved', async () => {
    const devices = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
    const n = 2000;
    // Five concurrent mosquitto_pub processes: their packets interleave at the broker.
    await Promise.all(devices.map((d) => mosquittoPubLines(setup.mqttPort, 'iot-data-input', Array.from({ length: n }, (_, i) => cpuReading(d, i)), `pub-${d}`)));
    const records = await consumeAll(brokers, setup.topics.readings, { count: 1 + devices.length * n, timeoutMs: 60_000 });
    for (const d of devices) {
      const mine = records.filter((r) => r.key === d).map((r) => ({ v: JSON.parse(r.value), seq: Number(r.headers['weir-seq']) }));
      // Drop redeliveries (same weir-seq), then the event times must be exactly 0..n-1 in order.
      const seen = new Set<number>();
      const unique = mine.filter((m) => !seen.has(m.seq) && seen.add(m.seq));
      expect(unique.map((m) => m.v.ts - 1_700_000_000_000)).toEqual(Array.from({ length: n }, (_, i) => i));
      // And the gateway's sequence grows in the same order.
      expect(unique.every((m, i) => i === 0 || m.seq > unique[i - 1]!.seq)).toBe(true);
    }
    // Interleaving really happened: the devices' sequence ranges overlap.
    const ranges = devices.map((d) => records.filter((r) => r.key === d).map((r) => Number(r.headers['weir-seq'])));
    const firstEnd = Math.max(...ranges[0]!);
    expect(ranges.slice(1).some((seqs) => Math.min(...seqs) < firstEnd)).toBe(true);
  });

  it("puts each device's records on the partition Apache Kafka's Java producer picks for its key", async () => {
    const partitions = setup.config.kafka!.partitions!;
    // The check can fail: for some of these ids, reading the hash as unsigned (another
    // client's default) picks another partition than the Java producer's toPositive().
    expect(PARTITION_DEVICES.filter((d) => { const h = murmur2(Buffer.from(d)); return (h >>> 0) % partitions !== (h & 0x7fffffff) % partitions; }).length).toBeGreaterThan(5);
    javaReference ??= javaProducerPartitions(brokers, `${setup.topics.readings}.java-reference`, partitions, PARTITION_DEVICES);
    const java = await javaReference;
    expect(java.size).toBe(PARTITION_DEVICES.length);
    await mosquittoPubLines(setup.mqttPort, 'iot-data-input', PARTITION_DEVICES.map((d, i) => cpuReading(d, i, 1_900_000_000_000)), 'pub-partitions');
    const records = await consumeAll(brokers, setup.topics.readings, { until: (rs) => PARTITION_DEVICES.every((d) => rs.some((r) => r.key === d)), timeoutMs: 60_000 });
    const weir = new Map(records.filter((r) => java.has(r.key!)).map((r) => [r.key!, r.partition]));
    expect(Object.fromEntries(weir)).toEqual(Object.fromEntries(java));
    // The keys spread over every partition, so no single-partition topic makes this trivial.
    expect(new Set(java.values()).size).toBe(partitions);
  });

  it('dead-letters garbage, oversize, wrong-shape and unmatched payloads with reasons while good traffic flows', async () => {
    const good = Array.from({ length: 500 }, (_, i) => cpuReading('good-host', i, 1_800_000_000_000));
    const flowing = mosquittoPubLines(setup.mqttPort, 'iot-data-input', good, 'good-pub');
    await mosquittoPub(setup.mqttPort, 'iot-data-input', 'not json at all');
    await mosquittoPub(setup.mqttPort, 'iot-data-input', JSON.stringify({ hostname: 'big', cpu: 'c', usage: 1, occurred_at: 1, pad: 'x'.repeat(2000) }));
    await mosquittoPub(setup.mqttPort, 'iot-data-input', JSON.stringify({ hostname: 'shape', cpu: 'c', usage: 'high', occurred_at: 1 }));
    await mosquittoPub(setup.mqttPort, 'no/profile/here', '{"x":1}');
    // A packet far over the cap: the connection is cut before it is buffered.
    await expect(mosquittoPub(setup.mqttPort, 'iot-data-input', 'y'.repeat(200_000))).rejects.toThrow();
    await flowing;

    const dead = await consumeAll(brokers, setup.topics.deadletter, { count: 4, timeoutMs: 30_000 });
    const byCode = new Map(dead.map((r) => [JSON.parse(r.value).code as string, JSON.parse(r.value)]));
    expect([...byCode.keys()].sort()).toEqual(['WEIR_DECODE_FAILED', 'WEIR_NO_PROFILE', 'WEIR_PAYLOAD_TOO_LARGE', 'WEIR_WRONG_SHAPE']);
    for (const v of byCode.values()) {
      expect(Object.keys(v)).toEqual(expect.arrayContaining(['gateway', 'received', 'protocol', 'source', 'reason', 'payload_b64']));
      expect(v.protocol).toBe('mqtt');
      expect(v.reason.length).toBeGreaterThan(5);
    }
    expect(Buffer.from(byCode.get('WEIR_DECODE_FAILED')!.payload_b64, 'base64').toString()).toBe('not json at all');
    expect(byCode.get('WEIR_WRONG_SHAPE')!.reason).toMatch(/usage/);
    expect(byCode.get('WEIR_NO_PROFILE')!.source).toBe('no/profile/here');

    const readings = await consumeAll(brokers, setup.topics.readings, { timeoutMs: 30_000, count: 1 + 5 * 2000 + 500 });
    expect(new Set(readings.filter((r) => r.key === 'good-host').map((r) => JSON.parse(r.value).ts)).size).toBe(500);
    expect((await getJson(setup.httpPort, '/healthz')).status).toBe('ok');
  });
});
