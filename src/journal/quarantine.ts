import { existsSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from '../core/logger.js';
import { segmentLister, type Row } from './segments.js';

/** A corrupt journal, moved aside. */
export interface Quarantined {
  /** Where the corrupt file now is. */
  movedTo: string;
  reason: string;
}

/** What salvage() found besides the rows it handed over. */
export interface SalvageResult {
  /** Highest sequence seen (the new journal continues above it). */
  maxSeq: number;
  /** The old acknowledged high-water mark (0 when unreadable). */
  ackedThrough: number;
  rows: number;
}

/**
 * The integrity check at open (issue 5, self-healing journal): SQLite's quick_check
 * (https://sqlite.org/pragma.html#pragma_quick_check: the integrity check without the
 * index cross-checks, linear in the file size). A journal that fails it, or cannot be
 * opened as a database at all, is renamed aside with its WAL (journal.corrupt-<time>.sqlite),
 * and every unacknowledged record that can still be read is salvaged, so the caller can
 * start a fresh journal holding them — loudly, instead of crashing at every restart.
 *
 * Returns null when the file is absent or sound. Never throws for a corrupt file.
 */
export function checkJournal(file: string, now: number, log: Logger): Quarantined | null {
  if (!existsSync(file)) return null;
  let reason: string;
  try {
    const db = new Database(file);
    try {
      const result = db.pragma('quick_check', { simple: true });
      if (result === 'ok') return null;
      reason = `quick_check: ${String(result)}`;
    } finally {
      db.close();
    }
  } catch (err) {
    reason = (err as Error).message;
  }
  const movedTo = file.replace(/\.sqlite$/, '') + `.corrupt-${new Date(now).toISOString().replace(/[:.]/g, '-')}.sqlite`;
  for (const suffix of ['', '-wal', '-shm']) if (existsSync(file + suffix)) renameSync(file + suffix, movedTo + suffix);
  log.error({ file, movedTo, reason }, 'journal failed its integrity check: moved aside; starting a fresh journal with what can be read from it');
  return { movedTo, reason };
}

/**
 * Hands every unacknowledged record that can still be read from a quarantined journal
 * to `onRow`, table by table in sequence order, without holding them in memory: a
 * corrupt page ends that table's read, not the salvage.
 */
export function salvage(file: string, onRow: (row: Row) => void): SalvageResult {
  const out: SalvageResult = { maxSeq: 0, ackedThrough: 0, rows: 0 };
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return out;
  }
  try {
    try {
      out.ackedThrough = Number(db.prepare("SELECT value FROM meta WHERE name = 'acked_through'").pluck().get() ?? 0);
    } catch {
      // meta unreadable: treat every salvaged record as unsent (duplicates are allowed, losses are not)
    }
    out.maxSeq = out.ackedThrough;
    let ids: number[] = [];
    try {
      ids = segmentLister(db)();
    } catch {
      return out;
    }
    for (const id of ids) {
      try {
        const it = db.prepare(`SELECT seq, stream, key, received, ts, profile, body FROM seg_${id} ORDER BY seq`).raw().iterate() as IterableIterator<Row>;
        for (const row of it) {
          out.maxSeq = Math.max(out.maxSeq, row[0]);
          if (row[0] > out.ackedThrough) {
            onRow(row);
            out.rows++;
          }
        }
      } catch {
        // the rest of this table is unreadable
      }
    }
  } finally {
    db.close();
  }
  return out;
}
