import type Database from 'better-sqlite3';
import type { Context } from '../core/context.js';
import type { Logger } from '../core/logger.js';
import type { ClockCorrection } from './clock-corrections.js';
import { pendingOf, rowBytes, type Item, type Pending } from './commit-items.js';
import type { DiskLimit } from './disk-limit.js';
import { GroupCommitter } from './group-commit.js';
import type { ProcessorHost } from './processor-host.js';
import type { SegmentChain } from './segment-chain.js';
import { Segment } from './segments.js';
import { STREAMS, STREAM_ID, type StreamName } from './streams.js';
import type { WalSync } from './wal-sync.js';

/**
 * The journal's write side: its GroupCommitter (group-commit.ts) and what a group's
 * transaction does — records get their sequences in queue order, the processor runs
 * on them (derived records take the sequences right after), ticks, clock corrections
 * and reconfigurations take effect between them — and, once the group is flushed, the
 * durable mark and the commit listeners. Apart from the journal so that the one path
 * that writes records reads in one place.
 *
 * Call order: open() once the file is open → committer.add()* (the journal's append()
 * and its kin) → the committer calls commitGroup(); write() also inside another
 * transaction (the gap record) → committer.close() and drain() at close.
 * Guarantees: a group is one transaction; on failure the chain, the sequence and the
 * processor's state roll back with it; listeners hear only flushed sequences, in order.
 * Errors: a failed commit is thrown to the committer, which fails the group's callbacks.
 */
export class CommitWriter {
  readonly committer: GroupCommitter<Item>;
  /** Highest seq on the device (flushed): all that read(), stats() and onCommit() show (the journal's open() sets the start). */
  durableSeq = 0;
  private listeners = new Set<(lastSeq: number) => void>();
  private insertCorrection!: Database.Statement;
  private lastCorrectedSeq = 0;

  constructor(private readonly ctx: CommitContext) {
    const { journal } = ctx.config;
    this.committer = new GroupCommitter<Item>({
      clock: ctx.clock,
      intervalMs: journal.commitIntervalMs,
      fillBytes: journal.commitFillBytes,
      maxWaitMs: journal.commitMaxWaitMs,
      sizeOf: rowBytes,
      isEager: (item) => 'eager' in item && item.eager === true,
      // A reconfiguration commits alone: readings that fail after it (a full disk) must not
      // roll it back while the processor keeps the new configuration (reconfigureProcessor()).
      isAlone: (item) => 'barrier' in item,
      maxBatch: journal.maxBatchRecords,
      maxPending: journal.maxPendingRecords,
      commit: (items) => this.commitGroup(items),
      durable: (done) => this.ctx.wal().whenDurable(done),
      onGroup: (count, seconds, err) => {
        ctx.metrics.commitSeconds.observe(seconds);
        ctx.metrics.commitRecords.observe(count);
        if (err) ctx.log.error({ err, count }, 'journal commit failed; devices were not acknowledged');
      },
    });
  }

  /** The clock_corrections table exists: prepares its insert and notes the last correction. */
  open(db: Database.Database, loadCorrections: () => ClockCorrection[]): void {
    this.insertCorrection = db.prepare('INSERT OR REPLACE INTO clock_corrections (through_seq, offset_ms) VALUES (?, ?)');
    this.lastCorrectedSeq = loadCorrections().at(-1)?.throughSeq ?? 0;
  }

  onCommit(listener: (lastSeq: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private commitGroup(items: Item[]): void {
    const { chain } = this.ctx;
    const host = this.ctx.host();
    const segmentsBefore = chain.segments.length;
    const seqBefore = chain.lastSeq;
    const { count, firstSeq, lastSeq } = chain.active;
    const written: Pending[] = [];
    const derived: Pending[] = [];
    try {
      this.ctx.db().transaction(() => {
        for (const item of items) {
          if ('tick' in item) {
            const out = host?.tick(item.tick, chain.lastSeq) ?? [];
            for (const e of out) derived.push(this.write(pendingOf(e), written));
            continue;
          }
          if ('barrier' in item) {
            host?.barrier(item.barrier, chain.lastSeq);
            continue;
          }
          if ('shift' in item) {
            if (item.jump !== true) {
              if (chain.lastSeq > this.lastCorrectedSeq) this.insertCorrection.run(chain.lastSeq, item.shift);
              this.lastCorrectedSeq = chain.lastSeq;
            }
            host?.shift(item.shift, chain.lastSeq);
            continue;
          }
          item.seq = chain.lastSeq + 1;
          const out = host?.processor.process(item) ?? [];
          this.write(item, written);
          for (const e of out) derived.push(this.write(pendingOf(e), written));
        }
        host?.afterCommitWrites(written.length, chain.lastSeq);
      })();
    } catch (err) {
      // Rolled back: so is the in-memory picture of the segments, the sequence, and the
      // processor's state (it saw records that are not in the journal after all).
      chain.segments.length = segmentsBefore;
      Object.assign(chain.active, { count, firstSeq, lastSeq });
      chain.lastSeq = seqBefore;
      host?.recover(chain.segments);
      // SQLITE_FULL (ENOSPC, or the cap's max page count): make room now, or start refusing.
      this.ctx.limits.checkDisk(true);
      throw err;
    }
    this.ctx.limits.checkDisk(false);
    if (written.length === 0) return;
    const { backlog } = this.ctx;
    const before = { ...backlog };
    for (const r of written) backlog[r.stream]++;
    // One counter update per stream and group, not per record: labels() hashes on every call.
    for (const s of STREAMS) if (backlog[s] !== before[s]) this.ctx.metrics.committed.labels(s).inc(backlog[s] - before[s]);
    this.announceWhenDurable(derived);
  }

  /**
   * Once what was just committed is flushed: moves the durable mark, tells the
   * listeners (the forwarder) and the processor. Nothing reaches Kafka or the site's
   * MQTT before it is on the device: a power cut could otherwise lose a record Kafka
   * has, and give its sequence to another record after the restart.
   */
  announceWhenDurable(derived: Pending[] = []): void {
    const seq = this.ctx.chain.lastSeq;
    this.ctx.wal().whenDurable((err) => {
      if (err) return; // the group's callbacks carry the error; the journal stays failed
      this.durableSeq = Math.max(this.durableSeq, seq);
      if (derived.length > 0) this.ctx.host()!.processor.committed(derived);
      for (const listener of this.listeners) listener(this.durableSeq);
    });
  }

  /** Inserts one record with the next sequence, opening a new segment when the active one is full. */
  write(r: Pending, written: Pending[]): Pending {
    const { chain } = this.ctx;
    if (chain.active.count >= this.ctx.config.journal.segmentRecords) chain.segments.push(new Segment(this.ctx.db(), chain.active.id + 1).create());
    r.seq = ++chain.lastSeq;
    this.ctx.limits.wrote(r.body.length + r.key.length + 48);
    chain.active.insert(r.seq, STREAM_ID[r.stream], r.key, r.received, r.ts, r.profile, r.body);
    written.push(r);
    return r;
  }
}

/**
 * What the CommitWriter needs of its journal. The functions read what the journal sets
 * only later (it opens its file, its WAL flusher and its processor after the writer is made).
 */
export interface CommitContext extends Pick<Context, 'config' | 'clock' | 'metrics'> {
  log: Logger;
  chain: SegmentChain;
  /** Records not yet acknowledged, by stream: each commit adds what it wrote. */
  backlog: Record<StreamName, number>;
  limits: Pick<DiskLimit, 'checkDisk' | 'wrote'>;
  db(): Database.Database;
  host(): ProcessorHost | null;
  wal(): WalSync;
}
