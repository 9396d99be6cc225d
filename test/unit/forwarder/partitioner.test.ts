// The forwarder's murmur2 partitioner (src/forwarder/partitioner.ts) must pick the very
// partition the Kafka client's own default did, or a device's records would change
// partition (and lose their order) on upgrade.
import { randomBytes } from 'node:crypto';
import { defaultPartitioner, murmur2 as clientMurmur2 } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { keyPartition, murmur2 } from '../../../src/forwarder/partitioner.js';

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
    for (const [key, hash] of cases) expect(murmur2(Buffer.from(key)), key).toBe(hash);
  });

  it("equals @platformatic/kafka's murmur2 and default partitioner on random keys of every length up to 64 bytes", () => {
    for (let len = 0; len <= 64; len++) {
      for (let i = 0; i < 40; i++) {
        const key = randomBytes(len);
        expect(murmur2(key)).toBe(clientMurmur2(key));
        expect(keyPartition(undefined, key)).toBe(defaultPartitioner(undefined as never, key));
      }
    }
    // Device ids as the gateway sees them, including non-ASCII ones (UTF-8 bytes).
    for (const id of ['h-1', 'h-0042', 'sensor/7', 'tür-3', '温度計-9', 'x'.repeat(200)]) {
      expect(keyPartition(undefined, Buffer.from(id))).toBe(defaultPartitioner(undefined as never, Buffer.from(id)));
    }
  });

  it('sends keyless records to partition 0, as the client does for a non-Buffer key', () => {
    expect(keyPartition(undefined, undefined)).toBe(0);
  });
});
