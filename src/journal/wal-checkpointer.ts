import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import Database from 'better-sqlite3';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/**
 * WAL bytes that wait before a checkpoint copies them back: SQLite's own default
 * (https://sqlite.org/pragma.html#pragma_wal_autocheckpoint: 1,000 frames) at its
 * default 4 KiB page, kept in bytes whatever the journal's page size (journal-file.ts).
 */
export const CHECKPOINT_BYTES = 1000 * 4096;
/**
 * The writer's automatic checkpoint while a WalCheckpointer runs elsewhere, as a
 * multiple of CHECKPOINT_BYTES: a safety net only, so the WAL stays bounded (~16 MB)
 * should that thread stall.
 */
export const WRITER_FALLBACK_FACTOR = 4;

/** CHECKPOINT_BYTES in frames of a database whose pages are `pageSize` bytes. */
export function checkpointPages(pageSize: number): number {
  return Math.max(1, Math.round(CHECKPOINT_BYTES / pageSize));
}
/** How often the wal-index header is read: at full ingest the WAL grows ~1,000 frames a second. */
const POLL_MS = 100;
const POLLS_PER_SECOND = 1000 / POLL_MS;
/** After a failed checkpoint (a full or failing disk), polls skipped before the next try: 1 s, doubling, at most 30 s. */
const FAILURE_SKIP_FIRST = POLLS_PER_SECOND;
const FAILURE_SKIP_MAX = 30 * POLLS_PER_SECOND;

/** The wal-index header (https://sqlite.org/walformat.html §2.1), native byte order. */
const WALINDEX_VERSION = 3007000;
const HEADER_BYTES = 136;
const OFFSET_VERSION = 0;
const OFFSET_IS_INIT = 12;
const OFFSET_MX_FRAME = 16;
/** WalCkptInfo.nBackfill follows the two 48-byte copies of WalIndexHdr. */
const OFFSET_N_BACKFILL = 96;

/**
 * SQLite's WAL checkpoints, run on another thread than the writer's (the forwarder's).
 *
 * Why: SQLite checkpoints automatically inside the COMMIT that takes the WAL past
 * wal_autocheckpoint frames, on the committing thread — copying up to a thousand pages
 * into the database and syncing both files. On an SD card that is tens of
 * milliseconds during which the gateway thread reads no device and sends no PUBACK.
 * WAL mode lets another connection checkpoint while the writer keeps appending
 * (https://sqlite.org/wal.html §"Checkpointing"); PASSIVE never waits for readers or
 * the writer (https://sqlite.org/c3ref/wal_checkpoint_v2.html), and the writer restarts
 * the WAL from its beginning at its next commit once everything was copied back.
 *
 * When: as SQLite's own policy, once checkpointPages() frames wait to be copied. Their
 * number is read from the wal-index header in the `-shm` file (mxFrame − nBackfill), a
 * 136-byte read every POLL_MS, so an idle or slow gateway checkpoints no more often
 * than SQLite would have (each checkpoint rewrites pages and syncs the database: flash
 * wear). Should the header not be the documented version, it checkpoints once a
 * second instead, and says so once.
 *
 * A read-write connection of its own (a read-only one may not checkpoint), with a
 * small page cache: a checkpoint copies frames from the WAL file, not through it.
 *
 * Call order: constructor → start() → poll()* (the timer's, or a test's) → close().
 * Errors: a failed checkpoint is logged (once per kind of failure in a row) and
 * retried after a pause that doubles from 1 s to 30 s while it keeps failing; the
 * writer's fallback bounds the WAL meanwhile.
 */
export class WalCheckpointer {
  private readonly db: Database.Database;
  private readonly shm: string;
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private readonly readU32: (offset: number) => number;
  private cancel: (() => void) | null = null;
  private fallbackPolls = 0;
  private lastError: string | null = null;
  /** Polls still to skip after a failure, and the next failure's pause. */
  private skipPolls = 0;
  private failurePause = FAILURE_SKIP_FIRST;
  /** Checkpoints run (for tests). */
  checkpoints = 0;

  private readonly pages: number;

  /** `pages`: the threshold in frames; by default checkpointPages() of the file's page size. */
  constructor(file: string, private readonly clock: Clock, private readonly log: Logger, pages?: number) {
    this.db = new Database(file, { fileMustExist: true });
    this.pages = pages ?? checkpointPages(Number(this.db.pragma('page_size', { simple: true })));
    this.db.pragma('busy_timeout = 0');
    this.db.pragma('cache_size = -256');
    // Opening the connection in WAL mode maps the -shm file, so it exists from here on.
    this.db.prepare('SELECT 1 FROM sqlite_schema LIMIT 1').get();
    this.shm = `${file}-shm`;
    const le = endianness() === 'LE';
    this.readU32 = (o) => (le ? this.header.readUInt32LE(o) : this.header.readUInt32BE(o));
  }

  start(): void {
    const schedule = (): void => {
      this.cancel = this.clock.setTimer(POLL_MS, () => {
        this.poll();
        if (this.cancel) schedule();
      });
    };
    schedule();
  }

  /**
   * Frames in the WAL not yet copied into the database, from the wal-index header;
   * null when the header is unreadable, not initialised or not the documented version.
   */
  pendingFrames(): number | null {
    // Opened per read (ten times a second): no descriptor to leak should the thread die.
    let read = 0;
    try {
      const fd = openSync(this.shm, 'r');
      try {
        read = readSync(fd, this.header, 0, HEADER_BYTES, 0);
      } finally {
        closeSync(fd);
      }
    } catch {
      return null; // unreadable: the fallback schedule below
    }
    if (read < HEADER_BYTES) return null;
    if (this.readU32(OFFSET_VERSION) !== WALINDEX_VERSION || this.header[OFFSET_IS_INIT] !== 1) return null;
    const mxFrame = this.readU32(OFFSET_MX_FRAME);
    const nBackfill = this.readU32(OFFSET_N_BACKFILL);
    // A read racing the writer's restart of the WAL may pair the new mxFrame with the old nBackfill.
    return Math.max(0, mxFrame - nBackfill);
  }

  /** Checkpoints when due; returns whether it did. */
  poll(): boolean {
    if (this.skipPolls > 0) {
      this.skipPolls--;
      return false;
    }
    const pending = this.pendingFrames();
    if (pending === null) {
      if (this.fallbackPolls === 0) this.log.warn('unrecognised SQLite wal-index header; checkpointing the journal every second instead');
      if (this.fallbackPolls++ % POLLS_PER_SECOND !== 0) return false;
    } else if (pending < this.pages) {
      return false;
    }
    return this.checkpoint();
  }

  private checkpoint(): boolean {
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
      this.checkpoints++;
      this.lastError = null;
      this.failurePause = FAILURE_SKIP_FIRST;
      return true;
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastError) this.log.warn({ err }, 'journal checkpoint failed; retrying later (the writer\'s fallback bounds the WAL meanwhile)');
      this.lastError = message;
      this.skipPolls = this.failurePause;
      this.failurePause = Math.min(FAILURE_SKIP_MAX, this.failurePause * 2);
      return false;
    }
  }

  close(): void {
    this.cancel?.();
    this.cancel = null;
    if (this.db.open) this.db.close();
  }
}
