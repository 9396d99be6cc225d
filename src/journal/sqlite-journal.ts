import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Context } from '../core/context.js';
import { WeirError } from '../core/errors.js';
import { GroupCommitter } from './group-commit.js';
import { RETAIN_TAIL, type CommitCallback, type Journal, type JournalEntry, type JournalStats, type StoredRecord } from './journal.js';
import { listSegments, Page, Segment, toRecord } from './segments.js';
import { STREAMS, STREAM_ID, streamName, type StreamName } from './streams.js';

/** 2: segment tables seg_<n> with ts and profile columns. */
const SCHEMA_VERSION = 2;

/** Acks are persisted (rows deleted) at most this often: deletes cost flash writes too. */
const ACK_PERSIST_MS = 1000;
/** …or as soon as this many acknowledged records are not yet recorded as such. */
const ACK_PERSIST_RECORDS = 5000;

export { RETAIN_TAIL };

interface Pending extends JournalEntry {
  seq: number;
}

/**
 * The journal on better-sqlite3: WAL, synchronous=FULL by default (the notes: WAL's
 * NORMAL can lose the last commits on a power cut), group commit, records in segment
 * tables dropped whole once acknowledged (segments.ts), and a sequence whose
 * high-water mark survives their removal (meta.acked_through).
 */
export class SqliteJournal implements Journal {
  readonly file: string;
  private db!: Database.Database;
  private committer: GroupCommitter<Pending>;
  private lastSeq = 0;
  /** Highest seq Kafka acknowledged, and the highest one already deleted from disk. */
  private ackedThrough = 0;
  private persistedAck = 0;
  private cancelAckTimer: (() => void) | null = null;
  private backlog: Record<StreamName, number> = emptyCounts();
  private listeners = new Set<(lastSeq: number) => void>();
  private segments: Segment[] = [];
  private getMeta!: Database.Statement;
  private setMeta!: Database.Statement;
  private closing: Promise<void> | null = null;
  private readonly log: Context['log'];

  constructor(private readonly ctx: Context) {
    this.file = join(ctx.config.dataDir, 'journal.sqlite');
    this.log = ctx.log.child({ component: 'journal' });
    const { journal } = ctx.config;
    this.committer = new GroupCommitter<Pending>({
      clock: ctx.clock,
      intervalMs: journal.commitIntervalMs,
      maxBatch: journal.maxBatchRecords,
      maxPending: journal.maxPendingRecords,
      commit: (items) => this.commitGroup(items),
      onGroup: (count, seconds, err) => {
        ctx.metrics.commitSeconds.observe(seconds);
        ctx.metrics.commitRecords.observe(count);
        if (err) this.log.error({ err, count }, 'journal commit failed; devices were not acknowledged');
      },
    });
  }

  open(): void {
    mkdirSync(this.ctx.config.dataDir, { recursive: true });
    const db = new Database(this.file);
    this.db = db;
    // auto_vacuum must be chosen before the first table exists; incremental lets the
    // operations issue return space without a stalling full VACUUM.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${this.ctx.config.journal.synchronous}`);
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_size_limit = 67108864');
    db.exec('CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
    db.prepare('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)').run('schema_version', SCHEMA_VERSION);
    this.getMeta = db.prepare('SELECT value FROM meta WHERE name = ?').pluck();
    this.setMeta = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value');
    this.ackedThrough = this.persistedAck = Number(this.getMeta.get('acked_through') ?? 0);
    this.segments = listSegments(db);
    if (this.segments.length === 0) this.segments.push(new Segment(db, 1).create());
    this.lastSeq = Math.max(this.ackedThrough, ...this.segments.map((g) => g.lastSeq));
    // One scan at start; afterwards the counts are kept as records come and go.
    for (const seg of this.segments) {
      for (const [id, count] of seg.countRange(this.ackedThrough, Number.MAX_SAFE_INTEGER)) this.backlog[streamName(id)] += count;
    }
    this.log.info({ file: this.file, lastSeq: this.lastSeq, segments: this.segments.length, backlog: this.backlog }, 'journal open');
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  append(entry: JournalEntry, done: CommitCallback): void {
    if (this.closing) {
      process.nextTick(done, new WeirError('WEIR_JOURNAL_CLOSED', 'journal is closing'), 0);
      return;
    }
    // The sequence is taken now, synchronously: append order is journal order.
    const seq = ++this.lastSeq;
    this.committer.add({ ...entry, seq }, (err) => done(err, seq));
  }

  private commitGroup(items: Pending[]): void {
    const per = this.ctx.config.journal.segmentRecords;
    const segmentsBefore = this.segments.length;
    const { count, firstSeq, lastSeq } = this.active;
    try {
      this.db.transaction(() => {
        for (const r of items) {
          if (this.active.count >= per) this.segments.push(new Segment(this.db, this.active.id + 1).create());
          this.active.insert(r.seq, STREAM_ID[r.stream], r.key, r.received, r.ts, r.profile, r.body);
        }
      })();
    } catch (err) {
      // Rolled back: so is the in-memory picture of the segments.
      this.segments.length = segmentsBefore;
      Object.assign(this.active, { count, firstSeq, lastSeq });
      throw err;
    }
    const before = { ...this.backlog };
    for (const r of items) this.backlog[r.stream]++;
    // One counter update per stream and group, not per record: labels() hashes on every call.
    for (const s of STREAMS) if (this.backlog[s] !== before[s]) this.ctx.metrics.committed.labels(s).inc(this.backlog[s] - before[s]);
    const last = items[items.length - 1]!.seq;
    for (const listener of this.listeners) listener(last);
  }

  read(afterSeq: number, limit: number, maxBytes: number): StoredRecord[] {
    const from = Math.max(afterSeq, this.ackedThrough);
    const page = new Page(limit, maxBytes);
    for (const seg of this.segments) {
      if (seg.count === 0 || seg.lastSeq <= from) continue;
      if (!page.add(seg.read(from, page.room))) break;
    }
    return page.records;
  }

  tail(limit: number): StoredRecord[] {
    const out: StoredRecord[] = [];
    for (let i = this.segments.length - 1; i >= 0 && out.length < limit; i--) {
      out.push(...this.segments[i]!.tail(limit - out.length).map(toRecord));
    }
    return out;
  }

  ack(throughSeq: number): void {
    if (throughSeq <= this.ackedThrough) return;
    for (const seg of this.segments) {
      if (seg.count === 0 || seg.lastSeq <= this.ackedThrough || seg.firstSeq > throughSeq) continue;
      for (const [id, count] of seg.countRange(this.ackedThrough, throughSeq)) this.backlog[streamName(id)] -= count;
    }
    this.ackedThrough = throughSeq;
    // A big unrecorded range (a catch-up after a restart: the forwarder sends thousands
    // per request) is recorded at once: a crash before the timer fired would send it all
    // to Kafka again, and crashes in a row would multiply the copies.
    if (this.ackedThrough - this.persistedAck >= ACK_PERSIST_RECORDS) {
      this.cancelAckTimer?.();
      this.persistAcks();
      return;
    }
    if (!this.cancelAckTimer) {
      this.cancelAckTimer = this.ctx.clock.setTimer(ACK_PERSIST_MS, () => this.persistAcks());
    }
  }

  /**
   * Records the acknowledged high-water mark and drops the segments it covers whole,
   * in one transaction — keeping the newest RETAIN_TAIL records and the active segment.
   */
  private persistAcks(): void {
    this.cancelAckTimer = null;
    if (this.ackedThrough <= this.persistedAck) return;
    const through = this.ackedThrough;
    const droppable = this.segments.slice(0, -1).filter((s) => s.lastSeq <= through && s.lastSeq <= this.lastSeq - RETAIN_TAIL);
    try {
      this.db.transaction(() => {
        for (const seg of droppable) seg.drop();
        this.setMeta.run('acked_through', through);
      })();
      this.persistedAck = through;
      if (droppable.length) this.segments = this.segments.filter((s) => !droppable.includes(s));
    } catch (err) {
      // Not fatal: the rows are re-sent after a restart (same weir-seq), never lost.
      this.log.warn({ err }, 'could not persist acknowledgements; will retry');
      this.cancelAckTimer = this.ctx.clock.setTimer(ACK_PERSIST_MS, () => this.persistAcks());
    }
  }

  onCommit(listener: (lastSeq: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): JournalStats {
    const seg = this.db?.open ? this.segments.find((g) => g.count > 0 && g.lastSeq > this.ackedThrough) : undefined;
    const oldest = seg?.oldestReceived(this.ackedThrough);
    return { backlog: { ...this.backlog }, oldestReceived: oldest ?? null, diskBytes: this.diskBytes(), lastSeq: this.lastSeq, ackedThrough: this.ackedThrough };
  }

  private diskBytes(): number {
    let total = 0;
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        total += statSync(this.file + suffix).size;
      } catch {
        // absent file: 0 bytes
      }
    }
    return total;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.committer.close();
      if (!this.db?.open) return; // never opened (a failed start)
      this.committer.drain();
      this.cancelAckTimer?.();
      this.persistAcks();
      // Let the last group's callbacks run before the file goes away.
      await new Promise((r) => setImmediate(r));
      this.db.close();
      this.log.info({ lastSeq: this.lastSeq }, 'journal closed');
    })();
    return this.closing;
  }
}

function emptyCounts(): Record<StreamName, number> {
  return Object.fromEntries(STREAMS.map((s) => [s, 0])) as Record<StreamName, number>;
}
