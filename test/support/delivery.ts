// The delivery promise, checked on what a real consumer read from Kafka.
import { expect } from 'vitest';
import type { ConsumedRecord } from './kcat.js';

/**
 * - every acknowledged reading is on Kafka (nothing acked is lost);
 * - copies of one reading share one weir-seq (the central tier can drop them);
 * - per device, after dropping repeated weir-seqs, readings appear in publish order.
 * Returns the number of duplicate copies seen.
 */
export function checkDelivery(records: ConsumedRecord[], acked: Map<string, Set<number>>, base = 1_700_000_000_000): number {
  let duplicates = 0;
  for (const [device, indexes] of acked) {
    const mine = records.filter((r) => r.key === device).map((r) => ({ i: JSON.parse(r.value).ts - base, seq: r.headers['weir-seq']! }));
    const seqsOf = new Map<number, Set<string>>();
    for (const m of mine) {
      if (!seqsOf.has(m.i)) seqsOf.set(m.i, new Set());
      seqsOf.get(m.i)!.add(m.seq);
    }
    const missing = [...indexes].filter((i) => !seqsOf.has(i));
    expect(missing, `${device}: acknowledged readings missing on Kafka`).toEqual([]);
    const resentUnderNewSeq = [...seqsOf].filter(([, seqs]) => seqs.size > 1).map(([i]) => i);
    expect(resentUnderNewSeq, `${device}: readings on Kafka under more than one weir-seq`).toEqual([]);
    const seen = new Set<string>();
    const order = mine.filter((m) => !seen.has(m.seq) && seen.add(m.seq)).map((m) => m.i);
    duplicates += mine.length - order.length;
    const outOfOrder = order.findIndex((v, k) => k > 0 && v <= order[k - 1]!);
    expect(outOfOrder, `${device}: out of order at position ${outOfOrder}: ${order.slice(Math.max(0, outOfOrder - 3), outOfOrder + 3)}`).toBe(-1);
  }
  return duplicates;
}
