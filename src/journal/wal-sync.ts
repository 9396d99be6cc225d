import { closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { WeirError } from '../core/errors.js';

export type Durable = (err: Error | null) => void;

/** How a WAL is flushed: on the event loop (inline, throws) or on libuv's thread pool (calls back). */
export interface Flusher {
  inline(): void;
  offThread(done: (err: Error | null) => void): void;
}

export interface WalSyncOptions {
  /**
   * Flushes whose moving average is below this run inline, right after the commit; slower
   * ones on the thread pool. 0: always the thread pool. (journal.flushInlineBelowMs)
   */
  inlineBelowMs: number;
  /** Milliseconds, monotonic (replaceable in tests). */
  now?: () => number;
}

/**
 * `journal.synchronous: FULL`, with the flush where it costs least.
 *
 * SQLite's own FULL fsyncs the WAL inside COMMIT, on the calling thread
 * (https://sqlite.org/pragma.html#pragma_synchronous). On a Pi's SD card a flush takes
 * milliseconds, during which the event loop reads no device and writes no PUBACK. So
 * the journal runs SQLite at NORMAL, where COMMIT writes the WAL frames without syncing
 * them (SQLite still syncs around its checkpoints), and this flushes the WAL file and
 * only then releases the commits the flush covers. A commit's callback therefore runs
 * only once its frames are on the device: what FULL promises, since WAL recovery
 * replays every valid committed frame it finds (https://sqlite.org/wal.html).
 *
 * Where: a slow flush (moving average ≥ inlineBelowMs) goes to libuv's thread pool,
 * and the next group is written meanwhile. Only a flush about as cheap as handing it
 * to a pool thread and being woken back (~0.1 ms: a fast NVMe) runs inline, on the
 * next tick: inline, the event loop stops for the whole flush — and for a slow
 * outlier, which the moving average cannot foresee. On a 0.6 ms virtual disk the
 * event loop's longest stall was 20–40 % shorter with the pool, p99 latency within the
 * noise (bench/README.md).
 *
 * Call order: whenDurable()* after each commit returns → idle() before closing.
 * Guarantees: callbacks run in whenDurable() order, never synchronously, each after a
 * flush that began after its call (so after its commit's writes) has succeeded; at
 * most one flush in flight. Errors: a failed flush fails every callback waiting on it
 * and every later one — the kernel may have dropped the unwritten pages after
 * reporting the error (PostgreSQL's "fsyncgate", 2018), so a retry could report
 * success for data that is gone; the journal stays failed until a restart re-reads
 * the file.
 */
export class WalSync {
  private waiting: Durable[] = [];
  private inFlight: Promise<void> | null = null;
  private starting = false;
  private failure: Error | null = null;
  /** Moving average of flush time, ms (inline: the syscall; off-thread: until the callback). */
  private averageMs = 0;
  private readonly now: () => number;

  /** `flusher` null: nothing to flush (synchronous=NORMAL); callbacks run on the next tick, in order. */
  constructor(private readonly flusher: Flusher | null, private readonly opts: WalSyncOptions = { inlineBelowMs: 0 }) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Flushing the WAL of the database at `dbFile` (open in WAL mode, so the file exists). */
  static forWal(dbFile: string, opts: WalSyncOptions): { wal: WalSync; close: () => void } {
    fsyncDirectory(dirname(dbFile)); // the WAL's directory entry, as SQLite's FULL does once for a new WAL
    const fd = openSync(`${dbFile}-wal`, 'r+');
    const flusher: Flusher = { inline: () => fdatasyncSync(fd), offThread: (done) => fdatasync(fd, done) };
    return { wal: new WalSync(flusher, opts), close: () => closeSync(fd) };
  }

  get failed(): Error | null {
    return this.failure;
  }

  /** Whether the next flush runs on the thread pool. */
  get offThread(): boolean {
    return this.averageMs >= this.opts.inlineBelowMs;
  }

  /** Calls `done` once everything committed before this call is on the device (or with the error that stopped that). */
  whenDurable(done: Durable): void {
    if (!this.flusher || this.failure) {
      process.nextTick(done, this.failure);
      return;
    }
    this.waiting.push(done);
    // Started on the next tick: everything a commit registers (the journal's notice, the
    // group's callbacks) rides on one flush.
    if (!this.inFlight && !this.starting) {
      this.starting = true;
      process.nextTick(() => {
        this.starting = false;
        // An inline flush may already have taken them (a callback that waited for a later commit).
        if (!this.inFlight && this.waiting.length > 0) this.flush();
      });
    }
  }

  /** Resolves once no flush is in flight or about to start (for close). */
  async idle(): Promise<void> {
    while (this.inFlight || this.starting) await (this.inFlight ?? new Promise((r) => process.nextTick(r)));
  }

  private flush(): void {
    const batch = this.waiting;
    this.waiting = [];
    const started = this.now();
    if (!this.offThread) {
      let err: Error | null = null;
      try {
        this.flusher!.inline();
      } catch (e) {
        err = e as Error;
      }
      this.settle(batch, err, started);
      return;
    }
    this.inFlight = new Promise((resolve) => {
      this.flusher!.offThread((err) => {
        this.inFlight = null;
        this.settle(batch, err, started);
        resolve();
      });
    });
  }

  private settle(batch: Durable[], err: Error | null, started: number): void {
    this.averageMs += (this.now() - started - this.averageMs) / 8;
    if (err && !this.failure) {
      this.failure = new WeirError('WEIR_JOURNAL_FAILED', `the journal's disk failed to flush its write-ahead log (${err.message}); nothing since the last flush is acknowledged until a restart`, { cause: err });
    }
    for (const done of batch) done(this.failure);
    // What was committed meanwhile takes the next flush (or the error, when failed).
    if (this.waiting.length === 0) return;
    if (this.failure) for (const done of this.waiting.splice(0)) done(this.failure);
    else this.flush();
  }
}

/** fsync(2) of a directory: makes a file created in it findable after a power cut. */
function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
