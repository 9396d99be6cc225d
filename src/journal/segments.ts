import type Database from 'better-sqlite3';
import type { StoredRecord } from './journal.js';
import { streamName } from './streams.js';

/** A row as SQLite returns it with .raw(): [seq, stream, key, received, ts, profile, body]. */
export type Row = [number, number, string, number, number | null, string | null, string];

const COLUMNS = 'seq, stream, key, received, ts, profile, body';

/** The read of one segment table: rows with seq > ?, in order, at most ? of them (raw). */
export function prepareReadAfter(db: Database.Database, id: number): Database.Statement {
  return db.prepare(`SELECT ${COLUMNS} FROM seg_${id} WHERE seq > ? ORDER BY seq LIMIT ?`).raw();
}

export function toRecord(row: Row): StoredRecord {
  const [seq, stream, key, received, ts, profile, body] = row;
  const r: StoredRecord = { seq, stream: streamName(stream), key, received, body };
  if (ts !== null) r.ts = ts;
  if (profile !== null) r.profile = profile;
  return r;
}

/**
 * One segment of the journal: a table `seg_<id>` holding a contiguous range of
 * sequences. Why segments: deleting acknowledged rows one by one rewrites every page
 * they sit on (in the WAL, then again at checkpoint), doubling the flash writes per
 * reading; dropping a whole table only frees its pages. A segment is dropped once all
 * its records are acknowledged and a newer segment holds the retained tail.
 */
export class Segment {
  readonly table: string;
  count = 0;
  firstSeq = 0;
  lastSeq = 0;
  private stmts: ReturnType<Segment['prepare']> | null = null;

  constructor(private readonly db: Database.Database, readonly id: number) {
    this.table = `seg_${id}`;
  }

  /** Creates the table (inside the caller's transaction, if any). */
  create(): this {
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${this.table} (
      seq INTEGER PRIMARY KEY, stream INTEGER NOT NULL, key TEXT NOT NULL,
      received INTEGER NOT NULL, ts INTEGER, profile TEXT, body TEXT NOT NULL)`);
    return this;
  }

  /** Reads count and sequence range of an existing table (at open). */
  load(): this {
    const [count, first, last] = this.db.prepare(`SELECT count(*), min(seq), max(seq) FROM ${this.table}`).raw().get() as [number, number | null, number | null];
    this.count = count;
    this.firstSeq = first ?? 0;
    this.lastSeq = last ?? 0;
    return this;
  }

  private prepare() {
    const t = this.table;
    return {
      insert: this.db.prepare(`INSERT INTO ${t} (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      read: prepareReadAfter(this.db, this.id),
      tail: this.db.prepare(`SELECT ${COLUMNS} FROM ${t} ORDER BY seq DESC LIMIT ?`).raw(),
      get: this.db.prepare(`SELECT ${COLUMNS} FROM ${t} WHERE seq = ?`).raw(),
      countRange: this.db.prepare(`SELECT stream, count(*) FROM ${t} WHERE seq > ? AND seq <= ? GROUP BY stream`).raw(),
      oldest: this.db.prepare(`SELECT received FROM ${t} WHERE seq > ? ORDER BY seq LIMIT 1`).pluck(),
      oldestOf: this.db.prepare(`SELECT seq, key FROM ${t} WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?`).raw(),
      deleteRange: this.db.prepare(`DELETE FROM ${t} WHERE stream = ? AND seq >= ? AND seq <= ?`),
      deleteThrough: this.db.prepare(`DELETE FROM ${t} WHERE seq <= ?`),
    };
  }

  private get s() {
    return (this.stmts ??= this.prepare());
  }

  insert(seq: number, stream: number, key: string, received: number, ts: number | undefined, profile: string | undefined, body: string): void {
    this.s.insert.run(seq, stream, key, received, ts ?? null, profile ?? null, body);
    if (this.count++ === 0) this.firstSeq = seq;
    this.lastSeq = seq;
  }

  read(afterSeq: number, limit: number): Row[] {
    return this.s.read.all(afterSeq, limit) as Row[];
  }

  tail(limit: number): Row[] {
    return this.s.tail.all(limit) as Row[];
  }

  /** The row with this sequence, if the table holds it. */
  get(seq: number): Row | undefined {
    return this.s.get.get(seq) as Row | undefined;
  }

  countRange(afterSeq: number, throughSeq: number): Array<[number, number]> {
    return this.s.countRange.all(afterSeq, throughSeq) as Array<[number, number]>;
  }

  oldestReceived(afterSeq: number): number | undefined {
    return this.s.oldest.get(afterSeq) as number | undefined;
  }

  /** The oldest `limit` records of one stream after `afterSeq`: [seq, key] rows (eviction). */
  oldestOf(stream: number, afterSeq: number, limit: number): Array<[number, string]> {
    return this.s.oldestOf.all(stream, afterSeq, limit) as Array<[number, string]>;
  }

  /** Deletes one stream's records with fromSeq ≤ seq ≤ toSeq (eviction); returns how many. */
  deleteRange(stream: number, fromSeq: number, toSeq: number): number {
    const n = this.s.deleteRange.run(stream, fromSeq, toSeq).changes;
    this.count -= n;
    return n;
  }

  /** Deletes every record with seq ≤ throughSeq (acknowledged ones, at the disk limit); returns how many. */
  deleteThrough(throughSeq: number): number {
    const n = this.s.deleteThrough.run(throughSeq).changes;
    this.count -= n;
    return n;
  }

  drop(): void {
    this.stmts = null;
    this.db.exec(`DROP TABLE IF EXISTS ${this.table}`);
  }
}

/**
 * `PRAGMA cache_size` for a page cache of `bytes`: a negative value is in KiB
 * (https://sqlite.org/pragma.html#pragma_cache_size), so it holds whatever the page size.
 */
export function cacheSizePragma(bytes: number): number {
  return -Math.max(1, Math.floor(bytes / 1024));
}

/** A function listing the ids of the segment tables in a database, oldest first (prepared once, for repeated calls). */
export function segmentLister(db: Database.Database): () => number[] {
  const names = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'seg_[0-9]*'").pluck();
  return () => (names.all() as string[]).map((n) => Number(n.slice(4))).sort((a, b) => a - b);
}

/** The segment tables present in a database, oldest first. */
export function listSegments(db: Database.Database): Segment[] {
  return segmentLister(db)().map((id) => new Segment(db, id).load());
}

/**
 * One page of records for the forwarder, filled segment by segment: at most `limit`
 * records and about `maxBytes` of key + body — but never empty when a record is
 * offered, however large it is — and none past `throughSeq` (committed but not yet
 * flushed to the device: wal-sync.ts).
 */
export class Page {
  readonly records: StoredRecord[] = [];
  private bytes = 0;

  constructor(private readonly limit: number, private readonly maxBytes: number, private readonly throughSeq = Infinity) {}

  /** How many more records the page takes. */
  get room(): number {
    return this.limit - this.records.length;
  }

  /**
   * How many rows to ask a segment for, reading after `afterSeq`: the room, but no
   * more than the sequences left up to `throughSeq` (0: the page is done). Why: the
   * forwarder reads up to the durable mark, and a commit whose flush is under way is
   * already visible; asked for the whole room, a segment returned that commit's rows
   * too, converted only to be dropped here and read again next time: a third of the
   * rows the forwarder read at full ingest. Sequences are unique integers, so at most
   * throughSeq − last of them can still belong on the page (fewer after eviction
   * gaps, when a few rows past the mark may still come and are dropped by add()).
   */
  want(afterSeq: number): number {
    const last = this.records.length > 0 ? this.records[this.records.length - 1]!.seq : afterSeq;
    return Math.max(0, Math.min(this.room, this.throughSeq - last));
  }

  /** Adds rows in order; false once the page is full (by count or bytes) or reached `throughSeq`. */
  add(rows: Row[]): boolean {
    for (const row of rows) {
      if (row[0] > this.throughSeq) return false;
      const r = toRecord(row);
      this.bytes += r.body.length + r.key.length;
      if (this.records.length > 0 && this.bytes > this.maxBytes) return false;
      this.records.push(r);
    }
    return this.records.length < this.limit;
  }
}
