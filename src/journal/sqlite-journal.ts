import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Context } from '../core/context.js';
import { WeirError } from '../core/errors.js';
import { AckKeeper } from './ack-keeper.js';
import { CheckpointStore } from './checkpoint.js';
import { applyClockCorrections, CLOCK_CORRECTIONS_DDL, correctionLoader, type ClockCorrection } from './clock-corrections.js';
import { pendingOf, settleRecord } from './commit-items.js';
import { CommitWriter } from './commit-writer.js';
import { DiskLimit } from './disk-limit.js';
import { configureFile, restoreSalvage } from './journal-file.js';
import { RETAIN_TAIL, type CommitCallback, type Journal, type JournalEntry, type JournalStats, type StoredRecord } from './journal.js';
import type { RecordProcessor } from './processor.js';
import { ProcessorHost } from './processor-host.js';
import { checkJournal } from './quarantine.js';
import { SegmentChain } from './segment-chain.js';
import { listSegments, Segment } from './segments.js';
import { emptyCounts, streamName, type StreamName } from './streams.js';
import { WRITER_FALLBACK_FACTOR } from './wal-checkpointer.js';
import { WalSync } from './wal-sync.js';

export { RETAIN_TAIL };

/**
 * The journal on better-sqlite3: WAL, synchronous=FULL by default (the notes: WAL's
 * NORMAL can lose the last commits on a power cut) — done as SQLite's NORMAL plus the
 * gateway's own flush of the WAL, inline or on the thread pool as the disk's speed
 * suggests, before anything is acknowledged or forwarded (wal-sync.ts) — group commit, records in segment tables dropped whole once
 * acknowledged (segments.ts), and a sequence whose high-water mark survives their
 * removal (meta.acked_through).
 *
 * Its stages, each in its own file: the file's setup (journal-file.ts), the commit
 * (commit-writer.ts), acknowledgements (ack-keeper.ts), the disk limits
 * (disk-limit.ts); the segments and the sequence they share (segment-chain.ts).
 */
export class SqliteJournal implements Journal {
  readonly file: string;
  private db!: Database.Database;
  private processor: { processor: RecordProcessor; checkpointIntervalMs: number } | null = null;
  private host: ProcessorHost | null = null;
  private readonly chain = new SegmentChain();
  private wal = new WalSync(null);
  private closeWal = (): void => undefined;
  /** The WAL size SQLite's automatic checkpoint waits for, in frames of this file's pages (set by open()). */
  private checkpointFrames = 0;
  private readonly backlog: Record<StreamName, number> = emptyCounts();
  private loadCorrections!: () => ClockCorrection[];
  private setMeta!: Database.Statement;
  private closing: Promise<void> | null = null;
  private readonly log: Context['log'];
  /** Kafka's acknowledgements: the mark, and its persistence in batches. */
  private readonly acks: AckKeeper;
  /** journal.maxBytes / minFreeBytes / fullPolicy. */
  private readonly limits: DiskLimit;
  /** The group commit and the durable mark. */
  private readonly writer: CommitWriter;

  constructor(private readonly ctx: Context) {
    this.file = join(ctx.config.dataDir, 'journal.sqlite');
    this.log = ctx.log.child({ component: 'journal' });
    const { chain, backlog, log } = this;
    const db = (): Database.Database => this.db;
    const host = (): ProcessorHost | null => this.host;
    this.acks = new AckKeeper({ clock: ctx.clock, log, backlog, chain, db, host, setMeta: () => this.setMeta });
    this.limits = new DiskLimit({
      config: ctx.config, clock: ctx.clock, metrics: ctx.metrics, log, backlog, chain, db, host, acks: this.acks,
      closing: () => this.closing !== null,
      write: (r) => { this.writer.write(r, []); },
      announceWhenDurable: () => this.writer.announceWhenDurable(),
    });
    this.writer = new CommitWriter({ config: ctx.config, clock: ctx.clock, metrics: ctx.metrics, log, backlog, chain, db, host, limits: this.limits, wal: () => this.wal });
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
    const file = configureFile(db, this.ctx.config.journal);
    ({ checkpointFrames: this.checkpointFrames, setMeta: this.setMeta } = file);
    if (quarantined) restoreSalvage(file, quarantined, { log: this.log, metrics: this.ctx.metrics });
    this.acks.restore(Number(file.getMeta.get('acked_through') ?? 0));
    const { chain } = this;
    chain.segments = listSegments(db);
    if (chain.segments.length === 0) chain.segments.push(new Segment(db, 1).create());
    chain.lastSeq = Math.max(this.acks.ackedThrough, Number(file.getMeta.get('salvaged_max_seq') ?? 0), ...chain.segments.map((g) => g.lastSeq));
    const { synchronous, flushInlineBelowMs } = this.ctx.config.journal;
    if (synchronous === 'FULL') ({ wal: this.wal, close: this.closeWal } = WalSync.forWal(this.file, { inlineBelowMs: flushInlineBelowMs }));
    // What a new process finds in the file is what the device holds (or recovery rolls it back).
    this.writer.durableSeq = chain.lastSeq;
    // One scan at start; afterwards the counts are kept as records come and go.
    for (const seg of chain.segments) {
      for (const [id, count] of seg.countRange(this.acks.ackedThrough, Number.MAX_SAFE_INTEGER)) this.backlog[streamName(id)] += count;
    }
    db.exec(CLOCK_CORRECTIONS_DDL);
    this.loadCorrections = correctionLoader(db);
    this.writer.open(db, this.loadCorrections);
    const checkpoints = new CheckpointStore(db);
    this.limits.start(db);
    if (this.processor) {
      this.host = new ProcessorHost(this.processor.processor, checkpoints, this.processor.checkpointIntervalMs, this.ctx.clock, this.log);
      this.host.start(chain.segments, chain.lastSeq);
    } else {
      checkpoints.clear();
    }
    this.log.info({ file: this.file, lastSeq: chain.lastSeq, segments: chain.segments.length, backlog: this.backlog }, 'journal open');
  }

  append(entry: JournalEntry, done: CommitCallback): void {
    if (this.closing || !this.db?.open) {
      process.nextTick(done, new WeirError('WEIR_JOURNAL_CLOSED', this.closing ? 'journal is closing' : 'journal is not open'), 0);
      return;
    }
    if (this.limits.refusing && (entry.stream === 'readings' || entry.stream === 'deadletter')) {
      process.nextTick(done, new WeirError('WEIR_JOURNAL_FULL', 'the journal is at its disk cap (journal.fullPolicy: refuse); retry later'), 0);
      return;
    }
    // The sequence is assigned in the commit, in the order of append(): journal order.
    this.writer.committer.add(pendingOf(entry, done), settleRecord);
  }

  /** Queues a processing-time tick for the processor, in order with the records (no-op without one). */
  tick(now: number): void {
    if (!this.host || this.closing) return;
    this.writer.committer.add({ tick: now }, () => undefined);
  }

  /**
   * The gateway clock synced: records stamped before now are corrected by `offsetMs`
   * when forwarded (clock-corrections.ts), and the processor's processing times move.
   * A 'jump' (a synced clock stepped) corrects no record — none was provisional — but
   * moves processing times all the same: stamps step with the wall while the time that
   * passed is the monotonic clock's, so idle timeouts must not see the step.
   */
  correctClock(offsetMs: number, reason: 'sync' | 'jump' = 'sync'): void {
    if (this.closing) return;
    this.writer.committer.add({ shift: offsetMs, jump: reason === 'jump' }, (err) => {
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
      this.writer.committer.add({ barrier: change }, (err) => (err ? reject(err) : resolve()));
    });
  }

  read(afterSeq: number, limit: number, maxBytes: number): StoredRecord[] {
    if (!this.db?.open) return [];
    const records = this.chain.read(Math.max(afterSeq, this.acks.ackedThrough), this.writer.durableSeq, limit, maxBytes);
    applyClockCorrections(records, this.loadCorrections());
    return records;
  }

  tail(limit: number): StoredRecord[] {
    if (!this.db?.open) return [];
    return this.chain.tail(limit);
  }

  record(seq: number): StoredRecord | undefined {
    // Closed (or never opened): nothing to read, and a caller on the ingest path must not throw.
    if (!this.db?.open) return undefined;
    return this.chain.find(seq);
  }

  ack(throughSeq: number): void {
    this.acks.ack(throughSeq);
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
    return this.writer.onCommit(listener);
  }

  /** The durable mark alone (stats().lastSeq without the rest's queries): for the forwarder, before every request. */
  committedSeq(): number {
    return this.writer.durableSeq;
  }

  stats(): JournalStats {
    const { ackedThrough } = this.acks;
    // The first segment with an unsent record: one whose unsent tail was evicted may hold none past the mark.
    let oldest: number | undefined;
    if (this.db?.open) {
      for (const g of this.chain.segments) {
        if (g.count > 0 && g.lastSeq > ackedThrough && (oldest = g.oldestReceived(ackedThrough)) !== undefined) break;
      }
    }
    const disk = this.limits.stats();
    return {
      backlog: { ...this.backlog }, oldestReceived: oldest ?? null, diskBytes: this.diskBytes(), lastSeq: this.writer.durableSeq, ackedThrough,
      ...(this.wal.failed ? { failed: this.wal.failed.message } : {}),
      disk,
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
      const { committer } = this.writer;
      committer.close();
      this.limits.stop();
      if (!this.db?.open) return; // never opened (a failed start)
      committer.drain();
      if (this.host?.dirty) {
        try {
          this.db.transaction(() => this.host!.checkpoint(this.chain.lastSeq))();
        } catch (err) {
          this.log.warn({ err }, 'could not checkpoint analytics at close; the next start replays from the previous checkpoint');
        }
      }
      this.acks.close();
      // The last groups' flush, then their callbacks, before the file goes away.
      await this.wal.idle();
      await new Promise((r) => setImmediate(r));
      this.closeWal();
      this.db.close();
      this.log.info({ lastSeq: this.chain.lastSeq }, 'journal closed');
    })();
    return this.closing;
  }
}
