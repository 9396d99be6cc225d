import type { JournalEntry, StoredRecord } from './journal.js';

/**
 * A stage that derives records from the journal's own records, inside the journal's
 * commit (edge analytics: aggregates and alerts from readings). Running inside the
 * transaction is what makes it exact across crashes: a reading, the records derived
 * from it and the processor's progress commit together or not at all.
 *
 * Call order: restore(checkpoint) once at open → replay(record)* and replayTick(now)*
 * for what the journal holds after that checkpoint, in sequence order → then, live,
 * process(entry)* and tick(now)* inside commits, committed(derived) after each
 * successful commit, snapshot() whenever the journal checkpoints. After a failed
 * commit the journal calls restore() and replays again: process() had seen entries
 * that were rolled back.
 *
 * Guarantees the processor must give: output is a function of the calls alone (no
 * clock, no randomness), so a replay rebuilds exactly the state of the live run; a
 * tick(now) that returns nothing has changed nothing, unless tickChanged() says so
 * (the journal logs only ticks that derived records or changed state, and replays
 * just those). Errors: none for bad data; a throw
 * is a bug and fails the commit.
 */
export interface RecordProcessor {
  /** Starts from what snapshot() returned, or empty state when null. May throw on a snapshot it cannot read. */
  restore(snapshot: string | Uint8Array | null): void;
  /**
   * A record about to be committed (seq assigned). Returns the records it derives, to
   * be committed right after it. May add to entry.body (e.g. flags), before it is written;
   * ingest's resend detection must be able to take the addition off again (Ingest.open).
   */
  process(entry: JournalEntry & { seq: number }): JournalEntry[];
  /** Processing time passed: idle windows, stale devices. */
  tick(now: number): JournalEntry[];
  /**
   * A tick that derived records, replayed from the journal (its records are there
   * already). Optional: without it, tick() is called and its output discarded. A
   * processor whose restore() can create output that no journaled tick emitted (the
   * resolves of alerts whose rule changed across a restart) keeps it for a live tick.
   */
  replayTick?(now: number): void;
  /**
   * Whether the last tick() changed state although it derived no records (analytics:
   * it forgot long-silent devices). The journal then logs that tick too, so a replay
   * repeats it. Optional: without it, a tick that derives nothing must change nothing.
   */
  tickChanged?(): boolean;
  /** The gateway clock was corrected by `offsetMs`: processing times seen so far move with it. */
  shiftClock(offsetMs: number): void;
  /** Replays a committed record (derived records are discarded: they are in the journal). */
  replay(record: StoredRecord): void;
  /** State after every call so far, for the checkpoint (text or bytes; restore() gets it back as stored). */
  snapshot(): string | Uint8Array;
  /** After a successful commit: the derived records it wrote (for side effects such as local MQTT). */
  committed(derived: ReadonlyArray<JournalEntry & { seq: number }>): void;
}
