import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { CheckpointStore } from './checkpoint.js';
import type { JournalEntry } from './journal.js';
import type { RecordProcessor } from './processor.js';
import type { Segment } from './segments.js';

/**
 * The journal's side of a RecordProcessor (processor.ts): restores it at open, runs its
 * ticks, clock shifts and reconfigurations in order with the records, checkpoints its
 * state with the sequence it covers, and rebuilds it after a rolled-back commit.
 *
 * Call order: start() once at open → inside each commit, per item: tick() / shift() /
 * barrier(), and afterCommitWrites() at the end → recover() after a failed commit →
 * checkpoint() whenever the journal needs one (eviction, close). Every method but
 * start() and recover() runs inside the journal's transaction, so its writes commit
 * with the records. Errors: those of the store (SQLite) and of the processor propagate
 * and fail the commit; start() and recover() log and carry on instead.
 */
export class ProcessorHost {
  /** The sequence the last checkpoint covers: segments after it are kept for a replay. */
  checkpointSeq = 0;
  private lastCheckpointAt = 0;
  private processedSince = 0;

  constructor(
    readonly processor: RecordProcessor,
    private readonly store: CheckpointStore,
    private readonly intervalMs: number,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /**
   * Restores the processor from its checkpoint and replays the records after it. Without
   * a checkpoint — or with one the journal can no longer replay exactly (records after
   * it gone, or a state this version cannot read) — it starts empty at `lastSeq`, and says so.
   */
  start(segments: readonly Segment[], lastSeq: number): void {
    const cp = this.store.load();
    const first = segments.find((g) => g.count > 0 && g.lastSeq > (cp?.seq ?? 0));
    let fresh = !cp;
    if (cp && first && first.firstSeq > cp.seq + 1) {
      this.log.warn({ checkpointSeq: cp.seq, firstSeq: first.firstSeq }, 'analytics checkpoint is older than the journal holds; starting analytics afresh');
      fresh = true;
    }
    if (cp && !fresh) {
      try {
        const started = performance.now();
        const replayed = this.store.replay(this.processor, cp, segments);
        this.checkpointSeq = cp.seq;
        this.log.info({ checkpointSeq: cp.seq, replayed, ms: Math.round(performance.now() - started) }, 'analytics state restored');
      } catch (err) {
        this.log.error({ err }, 'analytics checkpoint unreadable; starting analytics afresh');
        fresh = true;
      }
    }
    if (fresh) {
      this.processor.restore(null);
      this.checkpoint(lastSeq);
    }
    this.lastCheckpointAt = this.clock.monotonic();
  }

  /** Saves the state as covering every record with seq ≤ lastSeq. */
  checkpoint(lastSeq: number): void {
    this.store.save(lastSeq, this.processor.snapshot());
    this.checkpointSeq = lastSeq;
    this.processedSince = 0;
  }

  /** Whether anything was processed since the last checkpoint. */
  get dirty(): boolean {
    return this.processedSince > 0;
  }

  /** A processing-time tick after every record ≤ lastSeq; logged (for replay) only when it derived records or changed state. */
  tick(now: number, lastSeq: number): JournalEntry[] {
    const out = this.processor.tick(now);
    if (out.length > 0 || this.processor.tickChanged?.() === true) this.store.logTick(lastSeq, now);
    return out;
  }

  /** A correction of the gateway clock after every record ≤ lastSeq. */
  shift(offsetMs: number, lastSeq: number): void {
    this.processor.shiftClock(offsetMs);
    this.store.logShift(lastSeq, offsetMs);
  }

  /** A reconfiguration, between two checkpoints, so no replay crosses it. */
  barrier(change: () => void, lastSeq: number): void {
    this.checkpoint(lastSeq);
    change();
    this.checkpoint(lastSeq);
  }

  /** At the end of a commit that wrote `written` records: a checkpoint when one is due. */
  afterCommitWrites(written: number, lastSeq: number): void {
    this.processedSince += written;
    const now = this.clock.monotonic();
    if (this.processedSince > 0 && now - this.lastCheckpointAt >= this.intervalMs) {
      this.checkpoint(lastSeq);
      this.lastCheckpointAt = now;
    }
  }

  /** After a rolled-back commit: the processor's state back to what the journal holds. */
  recover(segments: readonly Segment[]): void {
    try {
      const cp = this.store.load();
      if (cp) {
        this.checkpointSeq = cp.seq; // a checkpoint of the failed commit was rolled back with it
        this.store.replay(this.processor, cp, segments);
      }
    } catch (err) {
      this.log.error({ err }, 'could not rebuild analytics state after a failed commit');
    }
  }
}
