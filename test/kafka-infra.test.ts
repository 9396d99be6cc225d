// Proves the real-Kafka test infrastructure itself: the shared broker from the
// global setup, kcat read-back, kafkajs against Kafka 4.x (idempotent, acks=all),
// and a private broker surviving stop/restart on the same port and data dir —
// the mechanism every outage test relies on.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import { KafkaBroker, createTopics } from './support/kafka-broker.js';
import { consumeAll } from './support/kcat.js';

const uniq = () => randomBytes(4).toString('hex');

function producerFor(brokers: string): Producer {
  const kafka = new Kafka({ clientId: 'weir-infra-test', brokers: brokers.split(','), logLevel: logLevel.WARN });
  // The settings the forwarder depends on: idempotence, one request in flight, acks=all.
  return kafka.producer({
    idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner, // explicit: silences kafkajs' v2 migration warning
  });
}

describe('shared Kafka broker', () => {
  const brokers = inject('kafkaBrokers');

  it('round-trips keyed records with headers: kafkajs produces, kcat reads', async () => {
    const topic = `infra-roundtrip-${uniq()}`;
    await createTopics(brokers, [topic], 3);
    const producer = producerFor(brokers);
    await producer.connect();
    try {
      const messages = ['dev-1', 'dev-2', 'dev-3'].map((key, i) => ({
        key,
        value: JSON.stringify({ device: key, seq: i + 1 }),
        headers: { 'weir-gateway': 'gw-test', 'weir-seq': String(i + 1), 'weir-schema': '1' },
      }));
      const res = await producer.send({ topic, acks: -1, messages });
      expect(res.every((r) => r.errorCode === 0)).toBe(true);
    } finally {
      await producer.disconnect();
    }

    const records = await consumeAll(brokers, topic, { count: 3, timeoutMs: 30_000 });
    expect(records).toHaveLength(3);
    const byKey = new Map(records.map((r) => [r.key, r]));
    for (const [i, key] of ['dev-1', 'dev-2', 'dev-3'].entries()) {
      const r = byKey.get(key);
      expect(r, key).toBeDefined();
      expect(JSON.parse(r!.value)).toEqual({ device: key, seq: i + 1 });
      expect(r!.headers).toEqual({ 'weir-gateway': 'gw-test', 'weir-seq': String(i + 1), 'weir-schema': '1' });
      expect(r!.partition).toBeGreaterThanOrEqual(0);
      expect(r!.partition).toBeLessThan(3);
    }
  });

  it('kafkajs consumer group reads what the idempotent producer wrote (Kafka 4.x protocol check)', async () => {
    const topic = `infra-consume-${uniq()}`;
    await createTopics(brokers, [topic], 2);
    const kafka = new Kafka({ clientId: 'weir-infra-test', brokers: brokers.split(','), logLevel: logLevel.WARN });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const values = Array.from({ length: 50 }, (_, i) => `v${i}`);
    await producer.sendBatch({
      acks: -1,
      topicMessages: [{ topic, messages: values.map((value, i) => ({ key: `k${i % 5}`, value })) }],
    });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `infra-${uniq()}` });
    await consumer.connect();
    const seen: string[] = [];
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`consumed ${seen.length}/50`)), 60_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            seen.push(message.value!.toString());
            if (seen.length === values.length) {
              clearTimeout(timer);
              resolve();
            }
          },
        }).catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    expect(seen.sort()).toEqual([...values].sort());
  });
});

describe('private KafkaBroker', () => {
  let broker: KafkaBroker | undefined;
  afterAll(async () => {
    await broker?.destroy();
  });

  it('stops and restarts on the same port, keeping its data', async () => {
    broker = await KafkaBroker.start();
    const before = broker.brokers;
    const topic = `infra-restart-${uniq()}`;
    await createTopics(broker.brokers, [topic], 2);

    const send = async (prefix: string) => {
      const producer = producerFor(broker!.brokers);
      await producer.connect();
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: 10 }, (_, i) => ({ key: `d${i % 3}`, value: `${prefix}-${i}` })),
      });
      await producer.disconnect();
    };
    await send('before');

    await broker.stop();
    expect(broker.running).toBe(false);
    await broker.restart();
    expect(broker.brokers).toBe(before);

    const afterRestart = await consumeAll(broker.brokers, topic, { count: 10, timeoutMs: 30_000 });
    expect(afterRestart.map((r) => r.value).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `before-${i}`).sort(),
    );

    // The restarted broker accepts writes again; old and new records are all there.
    await send('after');
    const all = await consumeAll(broker.brokers, topic, { count: 20, timeoutMs: 30_000 });
    expect(all).toHaveLength(20);
  });
});
