// Kafka refuses batches and records over a topic's max.message.bytes. The forwarder
// must split batches until they fit, and skip (loudly) a record that can never fit,
// rather than retrying it forever with every later record stuck behind it.
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { consumeAll, distinctSeqs } from '../support/kcat.js';
import { cpuReading, getText, metric, startInProcess, testSetup } from '../support/gateway.js';

describe.each(['platformatic', 'kafkajs'] as const)('records Kafka will not take (%s)', (client) => {
  const brokers = inject('kafkaBrokers');
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop();
  });

  it('splits oversized batches and skips a single oversized record, announcing it on weir.status', async () => {
    const setup = await testSetup(brokers, { kafka: { client, compression: 'none' } });
    const admin = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    // Small limits: a batch of ~40 readings, or one 4 KiB dead letter, is too large.
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: setup.topics.readings, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '8000' }] },
        { topic: setup.topics.deadletter, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '2000' }] },
      ],
    });
    await admin.disconnect();
    gateway = await startInProcess(setup);
    const port = setup.httpPort;
    const post = (body: string) => fetch(`http://127.0.0.1:${port}/ingest/iot-data-input`, { method: 'POST', body });

    // 300 readings in one batch body, then garbage whose dead letter is ~5 KiB, then more readings.
    expect((await post(`[${Array.from({ length: 300 }, (_, i) => cpuReading('big-batch', i)).join(',')}]`)).status).toBe(200);
    expect((await post('x'.repeat(4000))).status).toBe(422);
    expect((await post(cpuReading('big-batch', 300))).status).toBe(200);

    // Until every reading is there: copies (same weir-seq, below) do not count towards the 301.
    const readings = await consumeAll(brokers, setup.topics.readings, {
      until: distinctSeqs(301), timeoutMs: 60_000,
    });
    // A request that failed for the dead-letter partition may have written the readings
    // partition already: the resend repeats them under the same weir-seq (at least once).
    const seen = new Map<string, string>();
    for (const r of readings) {
      const prev = seen.get(r.headers['weir-seq']!);
      if (prev !== undefined) expect(r.value).toBe(prev);
      seen.set(r.headers['weir-seq']!, r.value);
    }
    const unique = [...seen.values()].map((v) => JSON.parse(v).ts - 1_700_000_000_000);
    expect(unique).toEqual(Array.from({ length: 301 }, (_, i) => i));
    // Resent requests may repeat a status record (same weir-seq): wait for the one that matters.
    const status = await consumeAll(brokers, setup.topics.status, { until: (rs) => rs.some((r) => r.value.includes('"record-rejected"')), timeoutMs: 30_000 });
    const rejected = status.map((r) => JSON.parse(r.value)).find((v) => v.event === 'record-rejected');
    expect(rejected).toMatchObject({ code: 'WEIR_KAFKA_RECORD_TOO_LARGE', stream: 'deadletter' });
    // The rejected record's seq has its own field: "seq" is the status record's identity
    // (weir-seq), which the central tier deduplicates on.
    expect(rejected.record_seq).toBeTypeOf('number');
    expect(rejected.seq).not.toBe(rejected.record_seq);
    expect(metric(await getText(port, '/metrics'), 'weir_kafka_errors_total', 'kind="too_large"')).toBeGreaterThan(0);
  });
});
