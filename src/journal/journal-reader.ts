import Database from 'better-sqlite3';
import { applyClockCorrections, correctionLoader, type ClockCorrection } from './clock-corrections.js';
import type { StoredRecord } from './journal.js';
import { cacheSizePragma, Page, prepareReadAfter, segmentLister, type Row } from './segments.js';

/**
 * A second, read-only connection to the journal file, for the forwarder's thread:
 * SQLite's WAL mode lets readers run beside the one writer without blocking it
 * (https://sqlite.org/wal.html §2.2), so reading a batch for Kafka never delays a
 * device's commit.
 *
 * It sees only committed transactions. The writer (SqliteJournal) appends to the
 * newest segment table only, and creates segment n+1 only once n is full; it drops a
 * segment only after every record in it was acknowledged — records this reader has
 * already passed. So a segment that yields nothing while a newer one exists is done,
 * and a dropped table ("no such table") holds nothing still needed.
 *
 * Call order: constructor → read()* → close(). Not thread-safe: one thread owns it.
 */
export class JournalReader {
  private readonly db: Database.Database;
  private segments: number[] = [];
  /** Segments below this id were read to their end. */
  private doneBelow = 0;
  private readonly stmts = new Map<number, Database.Statement>();
  private readonly segmentIds: () => number[];
  private readonly corrections: () => ClockCorrection[];

  /** `cacheBytes`: SQLite's page cache for this connection (journal.cacheBytes); absent: SQLite's build default. */
  constructor(file: string, cacheBytes?: number) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
    if (cacheBytes !== undefined) this.db.pragma(`cache_size = ${cacheSizePragma(cacheBytes)}`);
    this.segmentIds = segmentLister(this.db);
    this.corrections = correctionLoader(this.db);
    this.refresh();
  }

  private refresh(): void {
    const ids = this.segmentIds().filter((id) => id >= this.doneBelow);
    for (const id of this.stmts.keys()) if (!ids.includes(id)) this.stmts.delete(id);
    this.segments = ids;
  }

  private statement(id: number): Database.Statement {
    let s = this.stmts.get(id);
    if (!s) {
      s = prepareReadAfter(this.db, id);
      this.stmts.set(id, s);
    }
    return s;
  }

  /**
   * Committed records with afterSeq < seq ≤ throughSeq in order: at most `limit`, and
   * about `maxBytes` of key + body. `throughSeq` is the journal's durable mark (its
   * onCommit): this connection also sees commits whose flush is still under way.
   * `afterSeq` must not decrease from one call to the next (the forwarder only moves
   * forward): segments read to their end are forgotten.
   */
  read(afterSeq: number, throughSeq: number, limit: number, maxBytes: number): StoredRecord[] {
    const records = this.readPage(afterSeq, throughSeq, limit, maxBytes);
    applyClockCorrections(records, this.corrections());
    return records;
  }

  private readPage(afterSeq: number, throughSeq: number, limit: number, maxBytes: number): StoredRecord[] {
    const page = new Page(limit, maxBytes, throughSeq);
    const out = page.records;
    for (let i = 0; i < this.segments.length; i++) {
      const id = this.segments[i]!;
      const want = page.want(afterSeq);
      if (want === 0) return out;
      let rows: Row[];
      try {
        rows = this.statement(id).all(afterSeq, want) as Row[];
      } catch (err) {
        if (!/no such table/.test((err as Error).message)) throw err;
        this.refresh();
        i = -1; // the list changed under us: start over on the new one
        continue;
      }
      if (!page.add(rows)) return out;
      // An exhausted segment with a successor is finished: forget it (and its statement).
      if (rows.length === 0 && i < this.segments.length - 1 && out.length === 0) {
        this.stmts.delete(id);
        this.segments.splice(i--, 1);
        this.doneBelow = id + 1;
      }
    }
    // Not full: the writer may have started a segment since the list was read.
    const known = this.segments.length;
    this.refresh();
    if (this.segments.length > known && out.length === 0) return this.readPage(afterSeq, throughSeq, limit, maxBytes);
    return out;
  }

  close(): void {
    this.stmts.clear();
    if (this.db.open) this.db.close();
  }
}
