import type { StoredRecord } from './journal.js';
import { Page, toRecord, type Segment } from './segments.js';

/**
 * The journal's segments in sequence order and its sequence counter: the state every
 * stage of the journal shares (the commit writes it, acknowledgement and eviction drop
 * from it, reads walk it), held in one object so each can be handed exactly this.
 *
 * Call order: the journal fills it at open (listSegments, lastSeq) → the commit appends
 * (CommitWriter.write) and rolls back; AckKeeper replaces `segments` when it drops some;
 * read()/tail()/find() at any time. Guarantees: segments are ordered by id and so by
 * sequence, the last one the active one (there is always one once open); lastSeq is
 * the highest sequence written, in the commit under way too. Errors: SQLite's, thrown.
 */
export class SegmentChain {
  /** Oldest first; the last is the active one, where records are written. */
  segments: Segment[] = [];
  /** Highest sequence written (committed, or in the commit under way). */
  lastSeq = 0;

  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /**
   * Runs `txn` — one SQLite transaction that may delete, drop or write records anywhere
   * in the chain — and returns what it returns. If it throws, SQLite has rolled the file
   * back, and this puts the in-memory picture back with it: the segment list, each
   * segment's count and range, lastSeq, and `host`'s checkpointSeq (a checkpoint written
   * inside is gone too). (The commit, which only appends, keeps a cheaper undo of its own.)
   */
  atomically<T>(host: { checkpointSeq: number } | null, txn: () => T): T {
    const segments = [...this.segments];
    const fields = segments.map((g) => ({ count: g.count, firstSeq: g.firstSeq, lastSeq: g.lastSeq }));
    const lastSeq = this.lastSeq;
    const checkpointSeq = host?.checkpointSeq;
    try {
      return txn();
    } catch (err) {
      segments.forEach((g, i) => Object.assign(g, fields[i]));
      this.segments = segments;
      this.lastSeq = lastSeq;
      if (host && checkpointSeq !== undefined) host.checkpointSeq = checkpointSeq;
      throw err;
    }
  }

  /** Records with from < seq ≤ throughSeq in order: at most `limit`, about `maxBytes` of key + body (Page). */
  read(from: number, throughSeq: number, limit: number, maxBytes: number): StoredRecord[] {
    const page = new Page(limit, maxBytes, throughSeq);
    for (const seg of this.segments) {
      if (seg.count === 0 || seg.lastSeq <= from) continue;
      const want = page.want(from);
      if (want === 0 || !page.add(seg.read(from, want))) break;
    }
    return page.records;
  }

  /** The last `limit` records written, newest first. */
  tail(limit: number): StoredRecord[] {
    const out: StoredRecord[] = [];
    for (let i = this.segments.length - 1; i >= 0 && out.length < limit; i--) {
      out.push(...this.segments[i]!.tail(limit - out.length).map(toRecord));
    }
    return out;
  }

  /** The record with this sequence, while a segment holds it. */
  find(seq: number): StoredRecord | undefined {
    const row = this.segments.find((g) => g.count > 0 && g.firstSeq <= seq && seq <= g.lastSeq)?.get(seq);
    return row ? toRecord(row) : undefined;
  }
}
