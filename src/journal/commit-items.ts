import type { CommitCallback, JournalEntry } from './journal.js';

/**
 * What SqliteJournal hands its GroupCommitter (group-commit.ts): records and, in order
 * among them, the processor's ticks, clock corrections and reconfigurations. Why one
 * queue: each takes effect exactly between the records appended before and after it.
 *
 * Call order: pendingOf() when a record is appended (or derived inside a commit) →
 * the commit assigns its seq → settleRecord() once its group is durable or failed.
 * Guarantees: rowBytes() is 0 for everything but a record. Errors: none thrown here;
 * settleRecord() passes the commit's error to the appender's callback.
 */

/** A record waiting for its commit; its seq is assigned inside the commit, in append order. */
export interface Pending extends JournalEntry {
  seq: number;
  /** The appender's callback (records derived in a commit have none). */
  done?: CommitCallback;
}
/** A processing-time tick for the RecordProcessor, ordered among the records. */
export interface Tick {
  tick: number;
}
/** A correction of the gateway clock, ordered after every record stamped before it. */
export interface Shift {
  shift: number;
  /**
   * A step of a synced clock: no stamp before it was provisional, so nothing is recorded
   * for forwarding (clock-corrections.ts); only the processor's processing times move.
   */
  jump?: boolean;
}
/** A change of the processor's configuration, applied between two checkpoints. */
export interface Barrier {
  barrier: () => void;
}
export type Item = Pending | Tick | Shift | Barrier;

/** About what a record adds to its segment's pages (key, body, the integer columns, the cell header); 0 for the other items. */
export function rowBytes(item: Item): number {
  return 'body' in item ? item.body.length + item.key.length + 32 : 0;
}

/**
 * The journal's own copy of an entry, with its callback riding on it (no closure per
 * record). Spelled out, not spread: a sampling heap profile put `{ ...entry, seq }` at
 * 8 % of all the gateway thread allocated at full ingest, and one literal shape keeps
 * every pending record on the same hidden class.
 */
export function pendingOf(e: JournalEntry, done?: CommitCallback): Pending {
  return { stream: e.stream, key: e.key, received: e.received, ts: e.ts, profile: e.profile, body: e.body, reading: e.reading, eager: e.eager, seq: 0, done };
}

/** A record's commit settled: its appender's callback, with the error or the sequence. */
export function settleRecord(err: Error | null, item: Item): void {
  const p = item as Pending;
  p.done!(err, p.seq);
}
