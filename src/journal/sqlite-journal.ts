import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Context } from '../core/context.js';
import { WeirError } from '../core/errors.js';
import { CheckpointStore } from './checkpoint.js';
import { checkJournal, salvage, type Quarantined } from './quarantine.js';
import { DiskGuard, type DiskUsage, type Gap } from './disk-guard.js';
import { applyClockCorrections, CLOCK_CORRECTIONS_DDL, correctionLoader, type ClockCorrection } from './clock-corrections.js';
import { GroupCommitter } from './group-commit.js';
import { RETAIN_TAIL, type CommitCallback, type Journal, type JournalEntry, type JournalStats, type StoredRecord } from './journal.js';
import type { RecordProcessor } from './processor.js';
import { ProcessorHost } from './processor-host.js';
import { cacheSizePragma, listSegments, Page, Segment, toRecord, type Row } from './segments.js';
import { STREAMS, STREAM_ID, streamName, type StreamName } from './streams.js';
import { checkpointPages, WRITER_FALLBACK_FACTOR } from './wal-checkpointer.js';
import { WalSync } from './wal-sync.js';

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

/** Acks are persisted (rows deleted) at most this often: deletes cost flash writes too. */
const ACK_PERSIST_MS = 1000;
/** …or as soon as this many acknowledged records are not yet recorded as such. */
const ACK_PERSIST_RECORDS = 5000;

export { RETAIN_TAIL };

/** A record waiting for its commit; its seq is assigned inside the commit, in append order. */
interface Pending extends JournalEntry {
  seq: number;
  /** The appender's callback (records derived in a commit have none). */
  done?: CommitCallback;
}
/** A processing-time tick for the RecordProcessor, ordered among the records. */
interface Tick {
  tick: number;
}
/** A correction of the gateway clock, ordered after every record stamped before it. */
interface Shift {
  shift: number;
}
/** A change of the processor's configuration, applied between two checkpoints. */
interface Barrier {
  barrier: () => void;
}
type Item = Pending | Tick | Shift | Barrier;

/** About what a record adds to its segment's pages (key, body, the integer columns, the cell header); 0 for the other items. */
function rowBytes(item: Item): number {
  return 'body' in item ? item.body.length + item.key.length + 32 : 0;
}

/**
 * The journal's own copy of an entry, with its callback riding on it (no closure per
 * record). Spelled out, not spread: a sampling heap profile put `{ ...entry, seq }` at
 * 8 % of all the gateway thread allocated at full ingest, and one literal shape keeps
 * every pending record on the same hidden class.
 */
function pendingOf(e: JournalEntry, done?: CommitCallback): Pending {
  return { stream: e.stream, key: e.key, received: e.received, ts: e.ts, profile: e.profile, body: e.body, reading: e.reading, eager: e.eager, seq: 0, done };
}

function settleRecord(err: Error | null, item: Item): void {
  const p = item as Pending;
  p.done!(err, p.seq);
}

/**
 * The journal on better-sqlite3: WAL, synchronous=FULL by default (the notes: WAL's
 * NORMAL can lose the last commits on a power cut) — done as SQLite's NORMAL plus the
 * gateway's own flush of the WAL, inline or on the thread pool as the disk's speed
 * suggests, before anything is acknowledged or forwarded (wal-sync.ts) — group commit, records in segment tables dropped whole once
 * acknowledged (segments.ts), and a sequence whose high-water mark survives their
 * removal (meta.acked_through).
 */
export class SqliteJournal implements Journal {
  readonly file: string;
  private db!: Database.Database;
  private committer: GroupCommitter<Item>;
  private processor: { processor: RecordProcessor; checkpointIntervalMs: number } | null = null;
  private host: ProcessorHost | null = null;
  private lastSeq = 0;
  /** Highest seq on the device (flushed): all that read(), stats() and onCommit() show. */
  private durableSeq = 0;
  private wal = new WalSync(null);
  private closeWal = (): void => undefined;
  /** Highest seq Kafka acknowledged, and the highest one already deleted from disk. */
  private ackedThrough = 0;
  /** The WAL size SQLite's automatic checkpoint waits for, in frames of this file's pages (set by open()). */
  private checkpointFrames = 0;
  private persistedAck = 0;
  private cancelAckTimer: (() => void) | null = null;
  private backlog: Record<StreamName, number> = emptyCounts();
  private listeners = new Set<(lastSeq: number) => void>();
  private segments: Segment[] = [];
  private getMeta!: Database.Statement;
  private insertCorrection!: Database.Statement;
  private loadCorrections!: () => ClockCorrection[];
  private lastCorrectedSeq = 0;
  private disk!: DiskGuard;
  /** fullPolicy refuse, at the cap or floor: new readings are refused (WEIR_JOURNAL_FULL). */
  private refusing = false;
  private lastDiskCheck = -Infinity;
  /** Approximate bytes written since the last disk check: a burst checks sooner than every 250 ms. */
  private bytesSinceCheck = 0;
  private cancelDiskTimer: (() => void) | null = null;
  private readonly evicted: Record<StreamName, number> = emptyCounts();
  private gaps = 0;
  private setMeta!: Database.Statement;
  private closing: Promise<void> | null = null;
  private readonly log: Context['log'];

  constructor(private readonly ctx: Context) {
    this.file = join(ctx.config.dataDir, 'journal.sqlite');
    this.log = ctx.log.child({ component: 'journal' });
    const { journal } = ctx.config;
    this.committer = new GroupCommitter<Item>({
      clock: ctx.clock,
      intervalMs: journal.commitIntervalMs,
      fillBytes: journal.commitFillBytes,
      maxWaitMs: journal.commitMaxWaitMs,
      sizeOf: rowBytes,
      isEager: (item) => 'eager' in item && item.eager === true,
      maxBatch: journal.maxBatchRecords,
      maxPending: journal.maxPendingRecords,
      commit: (items) => this.commitGroup(items),
      durable: (done) => this.wal.whenDurable(done),
      onGroup: (count, seconds, err) => {
        ctx.metrics.commitSeconds.observe(seconds);
        ctx.metrics.commitRecords.observe(count);
        if (err) this.log.error({ err, count }, 'journal commit failed; devices were not acknowledged');
      },
    });
  }

  /**
   * Runs `processor` inside every commit (see processor.ts), checkpointing its state
   * every `checkpointIntervalMs` of monotonic time. Call before open().
   */
  setProcessor(processor: RecordProcessor, checkpointIntervalMs: number): void {
    this.processor = { processor, checkpointIntervalMs };
  }

  open(): void {
    mkdirSync(this.ctx.config.dataDir, { recursive: true });
    const quarantined = checkJournal(this.file, this.ctx.clock.now(), this.log);
    const db = new Database(this.file);
    this.db = db;
    // page_size and auto_vacuum must be chosen before the first table exists (both are
    // ignored for an existing file); incremental lets the operations issue return space
    // without a stalling full VACUUM.
    db.pragma(`page_size = ${NEW_JOURNAL_PAGE_BYTES}`);
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    // SQLite's automatic checkpoint counts frames: keep it at the same WAL size in bytes.
    this.checkpointFrames = checkpointPages(Number(db.pragma('page_size', { simple: true })));
    db.pragma(`wal_autocheckpoint = ${this.checkpointFrames}`);
    // FULL's flush is WalSync's (wal-sync.ts); SQLite itself runs at NORMAL.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma(`cache_size = ${cacheSizePragma(this.ctx.config.journal.cacheBytes)}`);
    // The WAL is bounded apart from the cap: at most an eighth of it, or 64 MiB.
    const { maxBytes } = this.ctx.config.journal;
    db.pragma(`journal_size_limit = ${maxBytes > 0 ? Math.min(64 * 1024 ** 2, Math.floor(maxBytes / 8)) : 64 * 1024 ** 2}`);
    db.exec('CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
    db.prepare('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)').run('schema_version', SCHEMA_VERSION);
    this.getMeta = db.prepare('SELECT value FROM meta WHERE name = ?').pluck();
    this.setMeta = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value');
    if (quarantined) this.restoreSalvage(db, quarantined);
    this.ackedThrough = this.persistedAck = Number(this.getMeta.get('acked_through') ?? 0);
    this.segments = listSegments(db);
    if (this.segments.length === 0) this.segments.push(new Segment(db, 1).create());
    this.lastSeq = Math.max(this.ackedThrough, Number(this.getMeta.get('salvaged_max_seq') ?? 0), ...this.segments.map((g) => g.lastSeq));
    const { synchronous, flushInlineBelowMs } = this.ctx.config.journal;
    if (synchronous === 'FULL') ({ wal: this.wal, close: this.closeWal } = WalSync.forWal(this.file, { inlineBelowMs: flushInlineBelowMs }));
    // What a new process finds in the file is what the device holds (or recovery rolls it back).
    this.durableSeq = this.lastSeq;
    // One scan at start; afterwards the counts are kept as records come and go.
    for (const seg of this.segments) {
      for (const [id, count] of seg.countRange(this.ackedThrough, Number.MAX_SAFE_INTEGER)) this.backlog[streamName(id)] += count;
    }
    db.exec(CLOCK_CORRECTIONS_DDL);
    this.insertCorrection = db.prepare('INSERT OR REPLACE INTO clock_corrections (through_seq, offset_ms) VALUES (?, ?)');
    this.loadCorrections = correctionLoader(db);
    this.lastCorrectedSeq = this.loadCorrections().at(-1)?.throughSeq ?? 0;
    const checkpoints = new CheckpointStore(db);
    this.disk = new DiskGuard(db, this.ctx.config.dataDir, this.ctx.config.journal);
    this.scheduleDiskCheck();
    if (this.processor) {
      this.host = new ProcessorHost(this.processor.processor, checkpoints, this.processor.checkpointIntervalMs, this.ctx.clock, this.log);
      this.host.start(this.segments, this.lastSeq);
    } else {
      checkpoints.clear();
    }
    this.log.info({ file: this.file, lastSeq: this.lastSeq, segments: this.segments.length, backlog: this.backlog }, 'journal open');
  }

  /**
   * A fresh journal after a corrupt one was moved aside: the salvaged unsent records,
   * with their original sequences (the central tier's duplicate check keeps working),
   * and the old acknowledged mark, so the sequence continues above everything seen.
   */
  private restoreSalvage(db: Database.Database, q: Quarantined): void {
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
    this.setMeta.run('acked_through', found.ackedThrough);
    this.setMeta.run('salvaged_max_seq', found.maxSeq);
    this.ctx.metrics.journalQuarantined.inc();
    this.log.error({ movedTo: q.movedTo, salvaged: found.rows, maxSeq: found.maxSeq }, 'fresh journal holds the unsent records salvaged from the corrupt one');
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  append(entry: JournalEntry, done: CommitCallback): void {
    if (this.closing) {
      process.nextTick(done, new WeirError('WEIR_JOURNAL_CLOSED', 'journal is closing'), 0);
      return;
    }
    if (this.refusing && (entry.stream === 'readings' || entry.stream === 'deadletter')) {
      process.nextTick(done, new WeirError('WEIR_JOURNAL_FULL', 'the journal is at its disk cap (journal.fullPolicy: refuse); retry later'), 0);
      return;
    }
    // The sequence is assigned in the commit, in the order of append(): journal order.
    this.committer.add(pendingOf(entry, done), settleRecord);
  }

  /** Queues a processing-time tick for the processor, in order with the records (no-op without one). */
  tick(now: number): void {
    if (!this.host || this.closing) return;
    this.committer.add({ tick: now }, () => undefined);
  }

  /**
   * The gateway clock synced: records stamped before now are corrected by `offsetMs`
   * when forwarded (clock-corrections.ts), and the processor's processing times move.
   */
  correctClock(offsetMs: number): void {
    if (this.closing) return;
    this.committer.add({ shift: offsetMs }, (err) => {
      if (err) this.log.error({ err, offsetMs }, 'could not journal a clock correction');
    });
  }

  /**
   * Runs `change` (reconfiguring the processor) inside a commit, in order with the
   * records, with a checkpoint just before and just after it: a replay never crosses
   * it, so records before it are never replayed under the new configuration. The
   * promise settles once that commit is durable (or failed: then nothing changed).
   */
  reconfigureProcessor(change: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.host) return reject(new Error('the journal has no processor to reconfigure'));
      this.committer.add({ barrier: change }, (err) => (err ? reject(err) : resolve()));
    });
  }

  private commitGroup(items: Item[]): void {
    const segmentsBefore = this.segments.length;
    const seqBefore = this.lastSeq;
    const { count, firstSeq, lastSeq } = this.active;
    const written: Pending[] = [];
    const derived: Pending[] = [];
    try {
      this.db.transaction(() => {
        for (const item of items) {
          if ('tick' in item) {
            const out = this.host?.tick(item.tick, this.lastSeq) ?? [];
            for (const e of out) derived.push(this.write(pendingOf(e), written));
            continue;
          }
          if ('barrier' in item) {
            this.host?.barrier(item.barrier, this.lastSeq);
            continue;
          }
          if ('shift' in item) {
            if (this.lastSeq > this.lastCorrectedSeq) this.insertCorrection.run(this.lastSeq, item.shift);
            this.lastCorrectedSeq = this.lastSeq;
            this.host?.shift(item.shift, this.lastSeq);
            continue;
          }
          item.seq = this.lastSeq + 1;
          const out = this.host?.processor.process(item) ?? [];
          this.write(item, written);
          for (const e of out) derived.push(this.write(pendingOf(e), written));
        }
        this.host?.afterCommitWrites(written.length, this.lastSeq);
      })();
    } catch (err) {
      // Rolled back: so is the in-memory picture of the segments, the sequence, and the
      // processor's state (it saw records that are not in the journal after all).
      this.segments.length = segmentsBefore;
      Object.assign(this.active, { count, firstSeq, lastSeq });
      this.lastSeq = seqBefore;
      this.host?.recover(this.segments);
      // SQLITE_FULL (ENOSPC, or the cap's max page count): make room now, or start refusing.
      this.checkDisk(true);
      throw err;
    }
    this.checkDisk(false);
    if (written.length === 0) return;
    const before = { ...this.backlog };
    for (const r of written) this.backlog[r.stream]++;
    // One counter update per stream and group, not per record: labels() hashes on every call.
    for (const s of STREAMS) if (this.backlog[s] !== before[s]) this.ctx.metrics.committed.labels(s).inc(this.backlog[s] - before[s]);
    this.announceWhenDurable(derived);
  }

  /**
   * Once what was just committed is flushed: moves the durable mark, tells the
   * listeners (the forwarder) and the processor. Nothing reaches Kafka or the site's
   * MQTT before it is on the device: a power cut could otherwise lose a record Kafka
   * has, and give its sequence to another record after the restart.
   */
  private announceWhenDurable(derived: Pending[] = []): void {
    const seq = this.lastSeq;
    this.wal.whenDurable((err) => {
      if (err) return; // the group's callbacks carry the error; the journal stays failed
      this.durableSeq = Math.max(this.durableSeq, seq);
      if (derived.length > 0) this.host!.processor.committed(derived);
      for (const listener of this.listeners) listener(this.durableSeq);
    });
  }

  private scheduleDiskCheck(): void {
    this.cancelDiskTimer = this.ctx.clock.setTimer(1000, () => {
      this.checkDisk(true);
      // Space freed as the backlog drains goes back to the filesystem, a step per second —
      // but not near the cap, where eviction frees pages that new records reuse at once
      // (vacuuming them would move pages to and fro: flash writes for nothing).
      try {
        const { maxBytes } = this.ctx.config.journal;
        if (maxBytes === 0 || this.disk.usage().usedBytes < maxBytes * 0.8) this.disk.vacuumStep();
      } catch (err) {
        this.log.warn({ err }, 'incremental vacuum failed');
      }
      this.scheduleDiskCheck();
    });
  }

  /**
   * At most every 250 ms (or now, when `force`): against journal.maxBytes and
   * journal.minFreeBytes, evict (fullPolicy evict) or refuse new readings (refuse).
   */
  private checkDisk(force: boolean): void {
    const now = this.ctx.clock.monotonic();
    const { maxBytes } = this.ctx.config.journal;
    if (!force && now - this.lastDiskCheck < 250 && (maxBytes === 0 || this.bytesSinceCheck < maxBytes / 64)) return;
    this.lastDiskCheck = now;
    this.bytesSinceCheck = 0;
    if (this.closing || !this.db?.open) return;
    try {
      let u = this.disk.usage();
      // Either policy: what Kafka already has goes first (kept only for resend detection
      // and analytics replay; a checkpoint makes the replay unnecessary).
      if (this.disk.excess(u) > 0 && this.dropAcked(true)) u = this.disk.usage();
      if (this.ctx.config.journal.fullPolicy === 'refuse') {
        const full = this.disk.full(u);
        if (full !== this.refusing) this.log.warn({ ...u, full }, full ? 'journal full: refusing new readings until the backlog drains' : 'journal has room again: accepting readings');
        this.refusing = full;
      } else if (this.disk.excess(u) > 0) {
        this.evict(u);
      }
    } catch (err) {
      this.log.error({ err }, 'disk check failed');
    }
  }

  /**
   * Records the acknowledged mark and drops what Kafka has, in one transaction. In
   * normal running: the segments acknowledged in full, but not the newest RETAIN_TAIL
   * records, nor what a replay from the processor's checkpoint needs. At the disk limit
   * (`atLimit`): everything acknowledged — the segment straddling the mark loses its
   * acknowledged rows too — after a checkpoint, so no replay needs them; then nothing
   * is written when nothing can go. Returns whether any record went.
   */
  private dropAcked(atLimit: boolean): boolean {
    const through = this.ackedThrough;
    const keepAfter = atLimit ? Infinity : Math.min(this.lastSeq - RETAIN_TAIL, this.host?.checkpointSeq ?? Infinity);
    const droppable = this.segments.slice(0, -1).filter((g) => g.lastSeq <= through && g.lastSeq <= keepAfter);
    const straddling = !atLimit ? undefined
      : this.segments.find((g) => g.count > 0 && g.firstSeq <= through && g.lastSeq > through)
        ?? (this.active.count > 0 && this.active.lastSeq <= through ? this.active : undefined);
    if (atLimit && droppable.length === 0 && !straddling) return false;
    this.db.transaction(() => {
      if (atLimit) this.host?.checkpoint(this.lastSeq);
      for (const seg of droppable) seg.drop();
      if (straddling) {
        straddling.deleteThrough(through);
        straddling.firstSeq = through + 1;
      }
      this.setMeta.run('acked_through', through);
    })();
    this.persistedAck = through;
    if (droppable.length > 0) this.segments = this.segments.filter((g) => !droppable.includes(g));
    return droppable.length > 0 || straddling !== undefined;
  }

  /** fullPolicy evict: the oldest unsent records in EVICTION_ORDER, each step announced on weir.status as a gap. */
  private evict(before: DiskUsage): void {
    while (this.disk.excess() > 0) {
      let gap: Gap | null = null;
      this.db.transaction(() => {
        gap = this.disk.evictStep(this.segments, this.ackedThrough);
        if (gap) this.announceGap(gap);
      })();
      if (!gap) break;
      const g: Gap = gap;
      this.backlog[g.stream] -= g.count;
      this.evicted[g.stream] += g.count;
      this.gaps++;
      this.ctx.metrics.evicted.labels(g.stream).inc(g.count);
      this.log.warn({ stream: g.stream, fromSeq: g.fromSeq, toSeq: g.toSeq, count: g.count, devices: Object.keys(g.devices).length }, 'journal at its disk limit: evicted the oldest unsent records');
    }
    if (before.freeBytes !== null && before.freeBytes < this.ctx.config.journal.minFreeBytes) while (this.disk.vacuumStep(0) > 0);
    this.announceWhenDurable();
  }

  /** The gap record on the status stream: which devices lost how many records, and which sequences. */
  private announceGap(g: Gap): void {
    const body = JSON.stringify({ event: 'gap', stream: g.stream, from_seq: g.fromSeq, to_seq: g.toSeq, count: g.count, devices: g.devices, reason: 'journal disk limit (journal.maxBytes / journal.minFreeBytes)' });
    this.write({ stream: 'status', key: this.ctx.config.gateway.id, received: this.ctx.clock.now(), body, seq: 0 }, []);
    this.backlog.status++;
  }

  /** Inserts one record with the next sequence, opening a new segment when the active one is full. */
  private write(r: Pending, written: Pending[]): Pending {
    if (this.active.count >= this.ctx.config.journal.segmentRecords) this.segments.push(new Segment(this.db, this.active.id + 1).create());
    r.seq = ++this.lastSeq;
    this.bytesSinceCheck += r.body.length + r.key.length + 48;
    this.active.insert(r.seq, STREAM_ID[r.stream], r.key, r.received, r.ts, r.profile, r.body);
    written.push(r);
    return r;
  }

  read(afterSeq: number, limit: number, maxBytes: number): StoredRecord[] {
    const from = Math.max(afterSeq, this.ackedThrough);
    const page = new Page(limit, maxBytes, this.durableSeq);
    for (const seg of this.segments) {
      if (seg.count === 0 || seg.lastSeq <= from) continue;
      if (!page.add(seg.read(from, page.room))) break;
    }
    applyClockCorrections(page.records, this.loadCorrections());
    return page.records;
  }

  tail(limit: number): StoredRecord[] {
    const out: StoredRecord[] = [];
    for (let i = this.segments.length - 1; i >= 0 && out.length < limit; i--) {
      out.push(...this.segments[i]!.tail(limit - out.length).map(toRecord));
    }
    return out;
  }

  record(seq: number): StoredRecord | undefined {
    // Closed (or never opened): nothing to read, and a caller on the ingest path must not throw.
    if (!this.db?.open) return undefined;
    const row = this.segments.find((g) => g.count > 0 && g.firstSeq <= seq && seq <= g.lastSeq)?.get(seq);
    return row ? toRecord(row) : undefined;
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

  /** Persists the acknowledged high-water mark and drops the segments it covers (dropAcked). */
  private persistAcks(): void {
    this.cancelAckTimer = null;
    if (this.ackedThrough <= this.persistedAck) return;
    try {
      this.dropAcked(false);
    } catch (err) {
      // Not fatal: the rows are re-sent after a restart (same weir-seq), never lost.
      this.log.warn({ err }, 'could not persist acknowledgements; will retry');
      this.cancelAckTimer = this.ctx.clock.setTimer(ACK_PERSIST_MS, () => this.persistAcks());
    }
  }

  /**
   * Hands the WAL's checkpoints to a WalCheckpointer on another thread (the forwarder's):
   * the writer's automatic checkpoint stays only as a fallback, at a larger WAL, should
   * that thread stall or die. Call after open().
   */
  checkpointElsewhere(): void {
    this.db.pragma(`wal_autocheckpoint = ${WRITER_FALLBACK_FACTOR * this.checkpointFrames}`);
  }

  onCommit(listener: (lastSeq: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The durable mark alone (stats().lastSeq without the rest's queries): for the forwarder, before every request. */
  committedSeq(): number {
    return this.durableSeq;
  }

  stats(): JournalStats {
    const seg = this.db?.open ? this.segments.find((g) => g.count > 0 && g.lastSeq > this.ackedThrough) : undefined;
    const oldest = seg?.oldestReceived(this.ackedThrough);
    const u = this.db?.open ? this.disk.usage() : { usedBytes: 0, fileBytes: 0, freeBytes: null };
    const { maxBytes, minFreeBytes, fullPolicy } = this.ctx.config.journal;
    return {
      backlog: { ...this.backlog }, oldestReceived: oldest ?? null, diskBytes: this.diskBytes(), lastSeq: this.durableSeq, ackedThrough: this.ackedThrough,
      ...(this.wal.failed ? { failed: this.wal.failed.message } : {}),
      disk: { ...u, maxBytes, minFreeBytes, policy: fullPolicy, refusing: this.refusing, evicted: { ...this.evicted }, gaps: this.gaps },
    };
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
      this.cancelDiskTimer?.();
      if (!this.db?.open) return; // never opened (a failed start)
      this.committer.drain();
      if (this.host?.dirty) {
        try {
          this.db.transaction(() => this.host!.checkpoint(this.lastSeq))();
        } catch (err) {
          this.log.warn({ err }, 'could not checkpoint analytics at close; the next start replays from the previous checkpoint');
        }
      }
      this.cancelAckTimer?.();
      this.persistAcks();
      // The last groups' flush, then their callbacks, before the file goes away.
      await this.wal.idle();
      await new Promise((r) => setImmediate(r));
      this.closeWal();
      this.db.close();
      this.log.info({ lastSeq: this.lastSeq }, 'journal closed');
    })();
    return this.closing;
  }
}

function emptyCounts(): Record<StreamName, number> {
  return Object.fromEntries(STREAMS.map((s) => [s, 0])) as Record<StreamName, number>;
}
