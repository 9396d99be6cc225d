import type Database from 'better-sqlite3';
import type { WeirConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from '../core/metrics.js';
import { salvage, type Quarantined } from './quarantine.js';
import { cacheSizePragma, Segment, type Row } from './segments.js';
import { checkpointPages } from './wal-checkpointer.js';

/**
 * The journal's SQLite file as SqliteJournal.open() sets it up: the pragmas (page
 * size, WAL, synchronous, caches and limits), the meta table, and — after a corrupt
 * journal was moved aside (quarantine.ts) — the records salvaged from it. Apart from
 * the journal class so that open() reads as the order of its steps.
 *
 * Call order: configureFile() on the freshly opened handle, before anything else
 * touches it → restoreSalvage() when checkJournal() quarantined the old file, before
 * the segments are listed. Guarantees: a new file gets NEW_JOURNAL_PAGE_BYTES pages and
 * incremental auto_vacuum; an existing one keeps its own (SQLite ignores both then).
 * Errors: SQLite's, thrown to open() (the journal does not start).
 */

/** 2: segment tables seg_<n> with ts and profile columns. */
const SCHEMA_VERSION = 2;

/**
 * Page size of a journal created from now on (an existing file keeps its own: SQLite
 * fixes it when the first table is made, https://sqlite.org/pragma.html#pragma_page_size).
 *
 * Why 1 KiB and not SQLite's 4 KiB: a commit rewrites every page it touches — the
 * segment's last, partly filled leaf, a new leaf, their parent, the file header (the
 * database size) and auto_vacuum's pointer map — whole, however little it added. Under
 * a site's usual trickle a commit holds a few readings, so those pages are most of what
 * reaches the SD card. Measured (bench/flash-light.ts, devices waiting for each PUBACK):
 * bytes written per payload byte 24.5 → 17.1 at 100 readings/s and 8.2 → 5.2 at
 * 1,000/s; flat out, where a commit holds a thousand readings, see bench/README.md.
 */
const NEW_JOURNAL_PAGE_BYTES = 1024;

/** What configureFile() leaves for the journal: the handle, the checkpoint size and the meta table's statements. */
export interface JournalFile {
  db: Database.Database;
  /** The WAL size SQLite's automatic checkpoint waits for, in frames of this file's pages. */
  checkpointFrames: number;
  getMeta: Database.Statement;
  setMeta: Database.Statement;
}

/** Sets up the freshly opened `db` per journal.* (see above); creates the meta table. */
export function configureFile(db: Database.Database, journal: WeirConfig['journal']): JournalFile {
  // page_size and auto_vacuum must be chosen before the first table exists (both are
  // ignored for an existing file); incremental lets the operations issue return space
  // without a stalling full VACUUM.
  db.pragma(`page_size = ${NEW_JOURNAL_PAGE_BYTES}`);
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  // SQLite's automatic checkpoint counts frames: keep it at the same WAL size in bytes.
  const checkpointFrames = checkpointPages(Number(db.pragma('page_size', { simple: true })));
  db.pragma(`wal_autocheckpoint = ${checkpointFrames}`);
  // FULL's flush is WalSync's (wal-sync.ts); SQLite itself runs at NORMAL.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma(`cache_size = ${cacheSizePragma(journal.cacheBytes)}`);
  // The WAL is bounded apart from the cap: at most an eighth of it, or 64 MiB.
  const { maxBytes } = journal;
  db.pragma(`journal_size_limit = ${maxBytes > 0 ? Math.min(64 * 1024 ** 2, Math.floor(maxBytes / 8)) : 64 * 1024 ** 2}`);
  db.exec('CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
  db.prepare('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)').run('schema_version', SCHEMA_VERSION);
  const getMeta = db.prepare('SELECT value FROM meta WHERE name = ?').pluck();
  const setMeta = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value');
  return { db, checkpointFrames, getMeta, setMeta };
}

/** What restoreSalvage() reports with: the journal's logger and the gateway's metrics. */
export interface SalvageContext {
  log: Logger;
  metrics: Metrics;
}

/**
 * A fresh journal after a corrupt one was moved aside: the salvaged unsent records,
 * with their original sequences (the central tier's duplicate check keeps working),
 * and the old acknowledged mark, so the sequence continues above everything seen.
 */
export function restoreSalvage({ db, setMeta }: JournalFile, q: Quarantined, ctx: SalvageContext): void {
  const seg = new Segment(db, 1);
  seg.create();
  let batch: Row[] = [];
  const insertBatch = db.transaction((rows: Row[]) => {
    for (const [seq, stream, key, received, ts, profile, body] of rows) seg.insert(seq, stream, key, received, ts ?? undefined, profile ?? undefined, body);
  });
  const found = salvage(q.movedTo, (row) => {
    batch.push(row);
    if (batch.length < 1000) return;
    insertBatch(batch);
    batch = [];
  });
  insertBatch(batch);
  setMeta.run('acked_through', found.ackedThrough);
  setMeta.run('salvaged_max_seq', found.maxSeq);
  ctx.metrics.journalQuarantined.inc();
  ctx.log.error({ movedTo: q.movedTo, salvaged: found.rows, maxSeq: found.maxSeq }, 'fresh journal holds the unsent records salvaged from the corrupt one');
}
