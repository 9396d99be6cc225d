import { describe, expect, it } from 'vitest';
import { createRecord, createRecordsBatch, readRecordsBatch, Reader } from '@platformatic/kafka';
import { batchEncoderPatched } from '../../../src/forwarder/platformatic-producer.js';

/**
 * patches/@platformatic+kafka+1.35.0.patch: the client's record batches are written into
 * one Buffer (the forwarder's largest per-record cost and most of its garbage). These
 * tests hold the patched encoder to the client's own per-record writer, createRecord
 * (left as it was), byte for byte, and to the client's own batch reader.
 */

type Message = Parameters<typeof createRecordsBatch>[0][number];

/** A fixed-seed generator, so a failure repeats. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function bytes(rnd: () => number, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
}

function messages(rnd: () => number, n: number, base: bigint, spreadMs: number): Message[] {
  return Array.from({ length: n }, () => {
    const headers = new Map<Buffer, Buffer>();
    for (let j = Math.floor(rnd() * 4); j > 0; j--) headers.set(bytes(rnd, 1 + Math.floor(rnd() * 12)), bytes(rnd, Math.floor(rnd() * 300)));
    return {
      topic: 't', partition: 0,
      // null key/value: Kafka's length -1 (record format v2).
      key: rnd() < 0.1 ? undefined : bytes(rnd, Math.floor(rnd() * 200)),
      // Now and then a value past one varint byte of length, and past two (16 KiB).
      value: bytes(rnd, Math.floor(rnd() * (rnd() < 0.1 ? 40_000 : 300))),
      headers: rnd() < 0.1 ? undefined : headers,
      timestamp: base + BigInt(Math.floor((rnd() - 0.3) * spreadMs)),
    } as Message;
  });
}

/** The records section of a batch: after the 61-byte v2 batch header (KIP-98's RecordBatch). */
const RECORDS_AT = 61;

describe('Kafka record batches (patched encoder)', () => {
  it('writes the same bytes as the client\'s own per-record writer', () => {
    const rnd = random(7);
    for (let round = 0; round < 200; round++) {
      const msgs = messages(rnd, 1 + Math.floor(rnd() * 60), 1_760_000_000_000n, 100_000);
      const batch = createRecordsBatch(msgs.map((m) => ({ ...m }))).buffer;
      const first = msgs[0]!.timestamp as bigint;
      const reference = Buffer.concat(msgs.map((m, i) => createRecord(m, i, first).buffer));
      expect(batch.subarray(RECORDS_AT).equals(reference), `round ${round}`).toBe(true);
    }
  });

  it('reads back what was written, compressed too, with headers, null keys and the batch\'s timestamps', () => {
    const rnd = random(11);
    for (const compression of ['none', 'lz4', 'gzip'] as const) {
      const msgs = messages(rnd, 500, 1_760_000_000_000n, 60_000);
      const batch = readRecordsBatch(Reader.from(createRecordsBatch(msgs.map((m) => ({ ...m })), { compression }).buffer));
      expect(batch.records).toHaveLength(500);
      const stamps = msgs.map((m) => m.timestamp as bigint);
      expect(batch.maxTimestamp).toBe(stamps.reduce((a, b) => (b > a ? b : a)));
      batch.records.forEach((r, i) => {
        const m = msgs[i]!;
        expect(r.offsetDelta).toBe(i);
        expect(batch.firstTimestamp + r.timestampDelta).toBe(m.timestamp);
        expect(r.key ?? undefined).toEqual(m.key === undefined ? undefined : m.key);
        expect(Buffer.compare(r.value!, m.value as Buffer)).toBe(0);
        const headers = [...((m.headers as Map<Buffer, Buffer> | undefined) ?? new Map<Buffer, Buffer>())];
        expect(r.headers).toEqual(headers);
      });
    }
  });

  it('is what this install loads (the forwarder warns at connect when it is not)', () => {
    expect(batchEncoderPatched()).toBe(true);
  });

  it('keeps timestamp deltas beyond 2^31 ms (the unpatched client zigzag-encoded them on 32 bits)', () => {
    const base = 1_760_000_000_000n;
    // 30 and 400 days after the first record, and 30 days before it.
    const stamps = [base, base + 2_592_000_000n, base + 34_560_000_000n, base - 2_592_000_000n];
    const msgs = stamps.map((timestamp) => ({ topic: 't', partition: 0, key: Buffer.from('k'), value: Buffer.from('v'), timestamp }) as Message);
    const batch = readRecordsBatch(Reader.from(createRecordsBatch(msgs).buffer));
    expect(batch.records.map((r) => batch.firstTimestamp + r.timestampDelta)).toEqual(stamps);
  });
});
