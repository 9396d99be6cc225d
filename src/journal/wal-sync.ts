import { closeSync, fdatasync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { WeirError } from '../core/errors.js';

export type Durable = (err: Error | null) => void;

/** Syncs a file's data to the device and calls back (fdatasync(2) on libuv's thread pool by default). */
export type SyncFn = (done: (err: Error | null) => void) => void;

/**
 * `journal.synchronous: FULL` without stopping the event loop for the disk.
 *
 * SQLite's own FULL fsyncs the WAL inside COMMIT, on the calling thread
 * (https://sqlite.org/pragma.html#pragma_synchronous): every group commit froze the
 * event loop for one flush — 0.2 ms on this machine's SSD, 2–20 ms on a Pi's SD card,
 * during which no device is read and no PUBACK written. So the journal runs SQLite at
 * NORMAL, where COMMIT writes the WAL frames but does not sync them (SQLite still syncs
 * around its checkpoints), and this flushes the WAL file off the event loop and only
 * then releases the commits the flush covers. A commit's callback therefore runs only
 * once its frames are on the device: what FULL promises, since WAL recovery replays
 * every valid committed frame it finds (https://sqlite.org/wal.html#durability) — while
 * the next group is already being written.
 *
 * Call order: whenDurable()* after each commit returns → close() (waits for the flush
 * in flight). Guarantees: callbacks run in whenDurable() order, never synchronously,
 * each after a flush that began after its call (so after its commit's writes) has
 * succeeded; at most one flush in flight. Errors: a failed flush fails every callback
 * waiting on it and every later one — the kernel may have dropped the unwritten pages
 * after reporting the error (PostgreSQL's "fsyncgate", 2018), so a retry could
 * report success for data that is gone; the journal stays failed until a restart
 * re-reads the file.
 */
export class WalSync {
  private waiting: Durable[] = [];
  private inFlight: Promise<void> | null = null;
  private starting = false;
  private failure: Error | null = null;

  /** `sync` null: nothing to flush (synchronous=NORMAL); callbacks run on the next tick, in order. */
  constructor(private readonly sync: SyncFn | null) {}

  /** Syncing the WAL of the database at `dbFile` (which must be open in WAL mode, so the file exists). */
  static forWal(dbFile: string): { wal: WalSync; close: () => void } {
    fsyncDirectory(dirname(dbFile)); // the WAL's directory entry, as SQLite's FULL does once for a new WAL
    const fd = openSync(`${dbFile}-wal`, 'r+');
    return { wal: new WalSync((done) => fdatasync(fd, done)), close: () => closeSync(fd) };
  }

  get failed(): Error | null {
    return this.failure;
  }

  /** Calls `done` once everything committed before this call is on the device (or with the error that stopped that). */
  whenDurable(done: Durable): void {
    if (!this.sync || this.failure) {
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
        if (!this.inFlight) this.flush();
      });
    }
  }

  /** Resolves once no flush is in flight and nothing waits (for close). */
  async idle(): Promise<void> {
    while (this.inFlight || this.starting) await (this.inFlight ?? new Promise((r) => process.nextTick(r)));
  }

  private flush(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.inFlight = new Promise((resolve) => {
      this.sync!((err) => {
        if (err && !this.failure) {
          this.failure = new WeirError('WEIR_JOURNAL_FAILED', `the journal's disk failed to flush its write-ahead log (${err.message}); nothing since the last flush is acknowledged until a restart`, { cause: err });
        }
        this.inFlight = null;
        for (const done of batch) done(this.failure);
        // What was committed meanwhile takes the next flush (or the error, when failed).
        if (this.waiting.length > 0) {
          if (this.failure) for (const done of this.waiting.splice(0)) done(this.failure);
          else this.flush();
        }
        resolve();
      });
    });
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
