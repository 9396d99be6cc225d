// A send to a cluster of several brokers can fail at one broker while another wrote its
// partitions and acknowledged them (the client reports those in the error's
// `produced`). Sent again as a whole, those records would get new sequence numbers and
// be written twice, so PlatformaticProducer leaves them out when the forwarder resends
// the same batch (src/forwarder/platformatic-producer.ts, notePartlyAcked).
//
// The client library inside the adapter is a fake here: the suite runs one Kafka
// broker, and a cluster where one broker fails on cue while another answers cannot be
// made with it. The fake keeps the client's shape: send({ messages }), currentMetadata.
import { describe, expect, it } from 'vitest';
import { keyPartition } from '../../../src/forwarder/partitioner.js';
import { PlatformaticProducer } from '../../../src/forwarder/platformatic-producer.js';
import type { OutRecord } from '../../../src/forwarder/producer.js';
import { makeContext } from '../support.js';

type Sent = Array<{ topic: string; key: string }>;

function fakeClient(failures: Array<Array<{ topic: string; partition: number }>>) {
  const calls: Sent[] = [];
  return {
    calls,
    currentMetadata: { topics: new Map([['readings', { partitionsCount: 3 }]]) } as { topics: Map<string, { partitionsCount: number }> } | undefined,
    async send({ messages }: { messages: Sent }): Promise<void> {
      calls.push(messages.map((m) => ({ topic: m.topic, key: m.key })));
      const acked = failures.shift();
      if (acked) throw Object.assign(new Error('Producing messages failed.'), { produced: { offsets: acked.map((o) => ({ ...o, offset: 0n })) } });
    },
  };
}

const partitionOf = (key: string) => keyPartition(undefined, Buffer.from(key)) % 3;

describe('PlatformaticProducer, a batch partly acknowledged', () => {
  const records: OutRecord[] = Array.from({ length: 30 }, (_, i) => ({
    topic: 'readings', key: `dev-${i}`, value: '{}', headers: { 'weir-seq': String(i + 1) },
  }));
  const partitions = new Set(records.map((r) => partitionOf(r.key)));

  it('resends only the partitions Kafka did not acknowledge, and all of them to a new array', async () => {
    expect(partitions.size).toBe(3); // the keys spread over every partition
    const done = partitionOf(records[0]!.key);
    const client = fakeClient([[{ topic: 'readings', partition: done }], [{ topic: 'readings', partition: (done + 1) % 3 }]]);
    const producer = new PlatformaticProducer(makeContext());
    (producer as unknown as { producer: unknown }).producer = client;

    await expect(producer.send(records)).rejects.toMatchObject({ code: 'WEIR_KAFKA_SEND_FAILED' });
    expect(client.calls[0]).toHaveLength(30);
    // Again, the same array: the acknowledged partition is left out; this try acknowledges a second one.
    await expect(producer.send(records)).rejects.toMatchObject({ code: 'WEIR_KAFKA_SEND_FAILED' });
    expect(client.calls[1]).toEqual(records.filter((r) => partitionOf(r.key) !== done).map((r) => ({ topic: r.topic, key: r.key })));
    // The third try carries only the last partition: both acknowledged ones are remembered.
    await producer.send(records);
    expect(client.calls[2]).toEqual(records.filter((r) => partitionOf(r.key) === (done + 2) % 3).map((r) => ({ topic: r.topic, key: r.key })));
    // A different batch is sent whole.
    const next = records.map((r) => ({ ...r }));
    await producer.send(next);
    expect(client.calls[3]).toHaveLength(30);
  });

  it('sends everything again when it cannot tell the partitions (no metadata): copies, never a loss', async () => {
    const client = fakeClient([[{ topic: 'readings', partition: 0 }]]);
    const producer = new PlatformaticProducer(makeContext());
    (producer as unknown as { producer: unknown }).producer = client;
    client.currentMetadata = undefined; // as after the client dropped its metadata
    await expect(producer.send(records)).rejects.toMatchObject({ code: 'WEIR_KAFKA_SEND_FAILED' });
    await producer.send(records);
    expect(client.calls[1]).toHaveLength(30);
  });
});
