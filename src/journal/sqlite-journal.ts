import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Context } from '../core/context.js';
import { WeirError } from '../core/errors.js';
import { GroupCommitter } from './group-commit.js';
import type { CommitCallback, Journal, JournalEntry, JournalStats, StoredRecord } from './journal.js';
import { STREAMS, STREAM_ID, streamName, type StreamName } from './streams.js';

const SCHEMA_VERSION = 1;

/** Acks are persisted (rows deleted) at most this often: deletes cost flash writes too. */
const ACK_PERSIST_MS = 1000;

/**
 * Acknowledged records kept on disk anyway, newest first: ingest seeds its resend
 * detector from them after a crash (src/ingest/dedup.ts). About 1 MB.
 */
export const RETAIN_TAIL = 10_000;

interface Pending extends JournalEntry {
  seq: number;
}

/**
 * The journal on better-sqlite3: WAL, synchronous=FULL by default (the notes: WAL's
 * NORMAL can lose the last commits on a power cut), group commit, and a sequence
 * whose high-water mark survives deletion (meta.acked_through).
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
  private stmts!: ReturnType<SqliteJournal['prepare']>;
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
    db.exec(`
      CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY,
        stream INTEGER NOT NULL,
        key TEXT NOT NULL,
        received INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    db.prepare('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)').run('schema_version', SCHEMA_VERSION);
    this.stmts = this.prepare();
    this.ackedThrough = this.persistedAck = Number(this.stmts.getMeta.pluck().get('acked_through') ?? 0);
    const maxSeq = Number(db.prepare('SELECT max(seq) FROM records').pluck().get() ?? 0);
    this.lastSeq = Math.max(maxSeq, this.ackedThrough);
    // One scan at start; afterwards the counts are kept as records come and go.
    const rows = db.prepare('SELECT stream, count(*) FROM records WHERE seq > ? GROUP BY stream').raw().all(this.ackedThrough) as [number, number][];
    for (const [id, count] of rows) this.backlog[streamName(id)] = count;
    this.log.info({ file: this.file, lastSeq: this.lastSeq, backlog: this.backlog }, 'journal open');
  }

  private prepare() {
    const db = this.db;
    return {
      insert: db.prepare('INSERT INTO records (seq, stream, key, received, body) VALUES (?, ?, ?, ?, ?)'),
      read: db.prepare('SELECT seq, stream, key, received, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?').raw(),
      tail: db.prepare('SELECT seq, stream, key, received, body FROM records ORDER BY seq DESC LIMIT ?').raw(),
      countRange: db.prepare('SELECT stream, count(*) FROM records WHERE seq > ? AND seq <= ? GROUP BY stream').raw(),
      oldest: db.prepare('SELECT received FROM records WHERE seq > ? ORDER BY seq LIMIT 1').pluck(),
      deleteThrough: db.prepare('DELETE FROM records WHERE seq <= ?'),
      getMeta: db.prepare('SELECT value FROM meta WHERE name = ?'),
      setMeta: db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value'),
    };
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
    const { insert } = this.stmts;
    this.db.transaction(() => {
      for (const r of items) insert.run(r.seq, STREAM_ID[r.stream], r.key, r.received, r.body);
    })();
    for (const r of items) {
      this.backlog[r.stream]++;
      this.ctx.metrics.committed.labels(r.stream).inc();
    }
    const last = items[items.length - 1]!.seq;
    for (const listener of this.listeners) listener(last);
  }

  read(afterSeq: number, limit: number, maxBytes: number): StoredRecord[] {
    const rows = this.stmts.read.all(Math.max(afterSeq, this.ackedThrough), limit) as [number, number, string, number, string][];
    const out: StoredRecord[] = [];
    let bytes = 0;
    for (const [seq, stream, key, received, body] of rows) {
      bytes += body.length + key.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push({ seq, stream: streamName(stream), key, received, body });
    }
    return out;
  }

  tail(limit: number): StoredRecord[] {
    const rows = this.stmts.tail.all(limit) as [number, number, string, number, string][];
    return rows.map(([seq, stream, key, received, body]) => ({ seq, stream: streamName(stream), key, received, body }));
  }

  ack(throughSeq: number): void {
    if (throughSeq <= this.ackedThrough) return;
    const counts = this.stmts.countRange.all(this.ackedThrough, throughSeq) as [number, number][];
    for (const [id, count] of counts) this.backlog[streamName(id)] -= count;
    this.ackedThrough = throughSeq;
    if (!this.cancelAckTimer) {
      this.cancelAckTimer = this.ctx.clock.setTimer(ACK_PERSIST_MS, () => this.persistAcks());
    }
  }

  /** Deletes acknowledged rows and records the high-water mark, in one transaction. */
  private persistAcks(): void {
    this.cancelAckTimer = null;
    if (this.ackedThrough <= this.persistedAck) return;
    const through = this.ackedThrough;
    try {
      this.db.transaction(() => {
        this.stmts.deleteThrough.run(Math.min(through, this.lastSeq - RETAIN_TAIL));
        this.stmts.setMeta.run('acked_through', through);
      })();
      this.persistedAck = through;
    } catch (err) {
      // Not fatal: the rows are re-sent after a restart (same weir-seq), never lost.
      this.log.warn({ err }, 'could not delete acknowledged records; will retry');
      this.cancelAckTimer = this.ctx.clock.setTimer(ACK_PERSIST_MS, () => this.persistAcks());
    }
  }

  onCommit(listener: (lastSeq: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): JournalStats {
    const oldest = this.db?.open ? (this.stmts.oldest.get(this.ackedThrough) as number | undefined) : undefined;
    return { backlog: { ...this.backlog }, oldestReceived: oldest ?? null, diskBytes: this.diskBytes(), lastSeq: this.lastSeq };
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
