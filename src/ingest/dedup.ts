/**
 * Recently committed records, so a payload a device sends again is acknowledged
 * without being journaled twice.
 *
 * Why: MQTT QoS 1 is at-least-once (MQTT 3.1.1 §4.3.2). When the gateway is killed
 * after committing a reading but before its PUBACK left, the device resends it after
 * reconnecting — often without the DUP flag (MQTT.js never sets it). Journaled again,
 * it would reach Kafka under a new weir-seq, and the central tier could not drop it;
 * the contract says duplicates carry the same weir-seq. A record is recognised by its
 * key, event time, profile and stored body, so only a byte-equal reading of the same
 * device at the same event time counts as a repeat.
 *
 * Storage: per remembered record a 32-bit hash of that identity and its sequence, in
 * typed arrays (an open-addressing table over a ring) — ~20 B each, nothing for the
 * garbage collector to mark. The identity itself stays in the journal: a hash match is
 * confirmed by reading the record back (`lookup`) and comparing field by field, so a
 * hash collision costs one read and never drops a reading. Before, the ring held each
 * identity as a string (~300 B with its concatenation parts): ~3 MB of heap at 10,000.
 *
 * Seeded at start from the journal's tail (the journal keeps that many acknowledged
 * records on disk), so the window spans a crash. Memory is fixed by `capacity`.
 *
 * Call order: `hashOf(r)` once per record on the ingest path, `has(r, hash)` before it is
 * journaled, `add(hash, seq)` once it is committed. No errors: a record `lookup` cannot
 * find (evicted from a full disk, or a sequence from before a restore) is not a repeat.
 */
export interface RecordIdentity {
  key: string;
  ts?: number;
  profile?: string;
  body: string;
}

/** The committed record with this sequence, as ingest built its identity, or undefined when it is gone. */
export type IdentityLookup = (seq: number) => RecordIdentity | undefined;

/** Table slots per ring slot (a power of two is taken above it): probes stay short. */
const LOAD_INVERSE = 3;

export class RecentRecords {
  /** Ring, oldest overwritten first: hash and sequence of each remembered record. */
  private readonly ringHash: Int32Array;
  private readonly ringSeq: Float64Array;
  /** Open addressing, linear probing: ring slot + 1, or 0 for empty. */
  private readonly table: Int32Array;
  private readonly mask: number;
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number, private readonly lookup: IdentityLookup) {
    this.ringHash = new Int32Array(capacity);
    this.ringSeq = new Float64Array(capacity);
    let size = 8;
    while (size < capacity * LOAD_INVERSE) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
  }

  /**
   * A 32-bit hash of the identity (MurmurHash3's mixing step per two UTF-16 units and its
   * finaliser; Appleby 2011). Fields are length-prefixed, so none can bleed into the next.
   */
  static hashOf(r: RecordIdentity): number {
    let h = mixString(0x9747b28c, r.key);
    const ts = r.ts ?? -1;
    h = mix(h, ts | 0);
    h = mix(h, Math.floor(ts / 4294967296) | 0);
    h = mixString(h, r.profile ?? '');
    h = mixString(h, r.body);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  /** Whether a record equal to `r` (whose hashOf() is `hash`) is remembered. */
  has(r: RecordIdentity, hash: number): boolean {
    for (let i = hash & this.mask; this.table[i] !== 0; i = (i + 1) & this.mask) {
      const slot = this.table[i]! - 1;
      if (this.ringHash[slot] !== hash) continue;
      const stored = this.lookup(this.ringSeq[slot]!);
      if (stored && stored.key === r.key && stored.ts === r.ts && stored.profile === r.profile && stored.body === r.body) return true;
    }
    return false;
  }

  /** Remembers a committed record by its hash and sequence, forgetting the oldest beyond capacity. */
  add(hash: number, seq: number): void {
    if (this.capacity === 0) return;
    const slot = this.next;
    if (this.count === this.capacity) this.unlink(slot);
    else this.count++;
    this.ringHash[slot] = hash;
    this.ringSeq[slot] = seq;
    let i = hash & this.mask;
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = slot + 1;
    this.next = (slot + 1) % this.capacity;
  }

  get size(): number {
    return this.count;
  }

  /** Removes ring slot `slot` from the table: backward-shift deletion (Knuth, TAOCP vol. 3, §6.4, Algorithm R). */
  private unlink(slot: number): void {
    const t = this.table;
    const mask = this.mask;
    let i = this.ringHash[slot]! & mask;
    while (t[i] !== slot + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; t[j] !== 0; j = (j + 1) & mask) {
      const home = this.ringHash[t[j]! - 1]! & mask;
      // Entry j may move to the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      t[i] = t[j]!;
      i = j;
    }
    t[i] = 0;
  }
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Two UTF-16 units per mixing step. */
function mixString(h: number, s: string): number {
  h = mix(h, s.length);
  const pairs = s.length & ~1;
  for (let k = 0; k < pairs; k += 2) h = mix(h, s.charCodeAt(k) | (s.charCodeAt(k + 1) << 16));
  return pairs < s.length ? mix(h, s.charCodeAt(pairs)) : h;
}
