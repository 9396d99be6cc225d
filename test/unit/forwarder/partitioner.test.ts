// The forwarder's partitioner (src/forwarder/partitioner.ts) must put a key on the
// partition Apache Kafka's Java producer picks for it — `toPositive(murmur2(key)) % n` —
// whichever Kafka client Weir runs: KafkaJS's default partitioner is that one
// (test/e2e/mqtt-to-kafka.test.ts checks both clients against the Java producer itself).
import { randomBytes } from 'node:crypto';
import { defaultPartitioner, murmur2 as clientMurmur2 } from '@platformatic/kafka';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { keyPartition, murmur2 } from '../../../src/forwarder/partitioner.js';

/** KafkaJS's default (Java-compatible) partitioner over a topic of `n` partitions. */
function kafkaJsPartition(key: Buffer, n: number): number {
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: n }, (_, partitionId) => ({
    partitionErrorCode: 0, partitionId, leader: 1, replicas: [1], isr: [1], offlineReplicas: [],
  }));
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key, value: null } });
}

describe('murmur2 partitioner', () => {
  it("gives Apache Kafka's own test vectors (UtilsTest.testMurmur2)", () => {
    const cases: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of cases) {
      expect(murmur2(Buffer.from(key)), key).toBe(hash);
      // Utils.toPositive: the sign bit cleared, not the 32 bits read as unsigned.
      expect(keyPartition(undefined, Buffer.from(key)), key).toBe(hash & 0x7fffffff);
    }
    expect(keyPartition(undefined, Buffer.from('21'))).toBe(1173551340);
  });

  it("hashes as @platformatic/kafka's murmur2, and partitions as KafkaJS's default partitioner, on random keys up to 64 bytes", () => {
    let differsFromPlatformatic = 0;
    for (let len = 0; len <= 64; len++) {
      for (let i = 0; i < 40; i++) {
        const key = randomBytes(len);
        expect(murmur2(key)).toBe(clientMurmur2(key));
        for (const n of [1, 3, 6, 12]) expect(keyPartition(undefined, key) % n).toBe(kafkaJsPartition(key, n));
        if (keyPartition(undefined, key) % 6 !== defaultPartitioner(undefined as never, key) % 6) differsFromPlatformatic++;
      }
    }
    // @platformatic/kafka's own default reads the hash as unsigned: about half the keys
    // (negative hashes) land elsewhere on 6 partitions — why Weir passes its own.
    expect(differsFromPlatformatic).toBeGreaterThan(800);
    // Device ids as the gateway sees them, including non-ASCII ones (UTF-8 bytes).
    for (const id of ['h-1', 'h-0042', 'sensor/7', 'tür-3', '温度計-9', 'x'.repeat(200)]) {
      expect(keyPartition(undefined, Buffer.from(id)) % 6).toBe(kafkaJsPartition(Buffer.from(id), 6));
    }
  });

  it('sends keyless records to partition 0', () => {
    expect(keyPartition(undefined, undefined)).toBe(0);
  });
});
