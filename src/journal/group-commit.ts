import type { Clock } from '../core/clock.js';
import { WeirError } from '../core/errors.js';

export interface GroupCommitOptions<T> {
  clock: Clock;
  /**
   * How long a group's first item waits for company. 0: the group is committed on the
   * next turn of the event loop, whatever its size (fillBytes is not consulted).
   */
  intervalMs: number;
  /**
   * A group still smaller than this after intervalMs keeps waiting for company, up to
   * maxWaitMs: see "Light traffic" below. 0 or absent: committed after intervalMs.
   */
  fillBytes?: number;
  /** With fillBytes: the longest a group's first item waits when the group stays small (≥ intervalMs). */
  maxWaitMs?: number;
  /** An item's bytes as fillBytes counts them (absent: every item 0, so fillBytes is never reached early). */
  sizeOf?(item: T): number;
  /** An item whose group must not wait for fillBytes (its sender waits for it before sending more). */
  isEager?(item: T): boolean;
  /**
   * An item committed in a transaction of its own: the group before it ends there, and
   * the items after it go in the next. So a later item's failure cannot roll it back.
   */
  isAlone?(item: T): boolean;
  /** A group this large is committed on the next turn, without waiting out the interval. */
  maxBatch: number;
  /** Items waiting beyond this are refused with WEIR_JOURNAL_BUSY. */
  maxPending: number;
  /** Commits one group durably, or throws; synchronous (better-sqlite3 is). */
  commit(items: T[]): void;
  /**
   * After a successful commit: calls back once the group is durable (the WAL flushed,
   * wal-sync.ts), or with the error that stopped that; the group's callbacks wait for
   * it. Absent: they run on the next tick.
   */
  durable?(done: (err: Error | null) => void): void;
  /** Told after every group, once it is durable or failed: `seconds` from the commit's start until then. */
  onGroup?(count: number, seconds: number, err: Error | null): void;
}

/** Told once the item is durable (err null) or failed; gets the item back, so callers need no closure per item. */
export type Done<T> = (err: Error | null, item: T) => void;

/**
 * Group commit: items arriving close together share one transaction, so one fsync
 * covers many readings (one commit per reading would cost ~50x the flash writes and
 * cap ingest at a few thousand per second). Items are committed in the order add()
 * was called; every callback runs after its group's commit, on a later turn.
 *
 * Light traffic: a commit rewrites whole database pages in the WAL (the segment's last
 * leaf, its parent, the file header: journal-file.ts) and flushes them, whatever it
 * holds. When readings trickle in, a group after intervalMs holds one or two of them,
 * so each reading cost 8 KiB of flash with 4 KiB pages (bench/flash-light.ts). So a group that after
 * intervalMs holds less than fillBytes waits on, and is committed as soon as it holds
 * fillBytes, or once its first item has waited maxWaitMs. Under load a group fills
 * within intervalMs and nothing changes; maxBatch still commits at once.
 */
export class GroupCommitter<T> {
  private items: T[] = [];
  private dones: Array<Done<T>> = [];
  private cancelTimer: (() => void) | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private closed = false;
  /** Bytes of the pending items, by sizeOf. */
  private pendingBytes = 0;
  /** The group's first item has waited intervalMs; the group waits for fillBytes or maxWaitMs. */
  private filling = false;
  /** A pending item is eager (isEager): its group does not wait for fillBytes. */
  private eagerPending = false;

  constructor(private readonly opts: GroupCommitOptions<T>) {}

  get pending(): number {
    return this.items.length;
  }

  /** Queues `item`; `done` gets null once it is durable, or the error that stopped it, and the item. */
  add(item: T, done: Done<T>): void {
    if (this.closed) return deferError(done, new WeirError('WEIR_JOURNAL_CLOSED', 'journal is closed'), item);
    if (this.items.length >= this.opts.maxPending) {
      return deferError(done, new WeirError('WEIR_JOURNAL_BUSY', `${this.items.length} records already wait for a commit`), item);
    }
    this.items.push(item);
    this.dones.push(done);
    this.tally(item);
    this.schedule();
  }

  /** Counts a pending item's bytes and eagerness toward its group's fill. */
  private tally(item: T): void {
    if (this.opts.sizeOf) this.pendingBytes += this.opts.sizeOf(item);
    if (this.opts.isEager?.(item)) this.eagerPending = true;
  }

  /**
   * Commits up to maxBatch pending items now, synchronously (callbacks still run
   * later); a remainder gets its own transaction on the next turn, so a burst never
   * holds the event loop in one huge transaction.
   */
  flush(): void {
    this.unschedule();
    if (this.items.length === 0) return;
    let n = Math.min(this.items.length, this.opts.maxBatch);
    const { isAlone } = this.opts;
    if (isAlone) {
      for (let i = 0; i < n; i++) {
        if (!isAlone(this.items[i]!)) continue;
        n = i === 0 ? 1 : i;
        break;
      }
    }
    const items = this.items.splice(0, n);
    const dones = this.dones.splice(0, n);
    // The fill of what stays (none, but after a burst beyond maxBatch): counted anew.
    this.pendingBytes = 0;
    this.eagerPending = false;
    for (const item of this.items) this.tally(item);
    if (this.items.length > 0) this.immediate = setImmediate(() => this.flush());
    const started = performance.now();
    let failure: Error | null = null;
    try {
      this.opts.commit(items);
    } catch (err) {
      failure = new WeirError('WEIR_JOURNAL_FAILED', `journal commit failed: ${(err as Error).message}`, { cause: err });
    }
    const settle = (err: Error | null): void => {
      this.opts.onGroup?.(items.length, (performance.now() - started) / 1000, err);
      for (let i = 0; i < dones.length; i++) dones[i]!(err, items[i]!);
    };
    // Callbacks on a later turn: a caller's done() must never re-enter add() mid-flush.
    if (failure || !this.opts.durable) process.nextTick(settle, failure);
    else this.opts.durable(settle);
  }

  /** Refuses new items; what is pending is committed by the caller's final drain(). */
  close(): void {
    this.closed = true;
  }

  /** Commits everything pending, in groups of at most maxBatch (for close). */
  drain(): void {
    while (this.items.length > 0) this.flush();
    this.unschedule();
  }

  private schedule(): void {
    const { maxBatch, intervalMs } = this.opts;
    if (this.items.length >= maxBatch || intervalMs === 0 || (this.filling && this.filled())) {
      if (!this.immediate) this.immediate = setImmediate(() => this.flush());
      return;
    }
    if (!this.cancelTimer) this.cancelTimer = this.opts.clock.setTimer(intervalMs, () => this.intervalElapsed());
  }

  /** The group's first item has waited intervalMs: commit, or wait on for company (light traffic). */
  private intervalElapsed(): void {
    this.cancelTimer = null;
    const { intervalMs, maxWaitMs = intervalMs } = this.opts;
    if (this.filled() || maxWaitMs <= intervalMs) return this.flush();
    this.filling = true;
    this.cancelTimer = this.opts.clock.setTimer(maxWaitMs - intervalMs, () => this.flush());
  }

  /** The group need not wait for company: it holds fillBytes (or fill is off), or an eager item. */
  private filled(): boolean {
    const { fillBytes = 0 } = this.opts;
    return fillBytes <= 0 || this.pendingBytes >= fillBytes || this.eagerPending;
  }

  private unschedule(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
    this.filling = false;
  }
}

function deferError<T>(done: Done<T>, err: Error, item: T): void {
  process.nextTick(done, err, item);
}
