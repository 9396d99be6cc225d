import type Database from 'better-sqlite3';
import type { Context } from '../core/context.js';
import type { Logger } from '../core/logger.js';
import type { AckKeeper } from './ack-keeper.js';
import type { Pending } from './commit-items.js';
import { DiskGuard, type DiskUsage, type Gap } from './disk-guard.js';
import type { JournalStats } from './journal.js';
import type { ProcessorHost } from './processor-host.js';
import type { SegmentChain } from './segment-chain.js';
import { emptyCounts, type StreamName } from './streams.js';

/**
 * journal.maxBytes, journal.minFreeBytes and journal.fullPolicy: measures the journal
 * (DiskGuard, disk-guard.ts) after commits and every second, and at the cap or floor
 * first drops what Kafka has, then evicts the oldest unsent records (fullPolicy evict,
 * each step a gap record on the status stream) or refuses new readings (refuse). Apart
 * from the journal because it is one policy with its own state and timer.
 *
 * Call order: start() once the file is open → wrote() for each record written,
 * checkDisk() after each commit (forced after a failed one) → stop() at close.
 * Guarantees: a check runs at most every 250 ms unless forced or a burst wrote 1/64 of
 * the cap; none runs while the journal closes or its file is closed; an eviction step
 * and its gap record commit in one transaction. Errors: start() throws SQLite's to open();
 * after that none — a failed check or vacuum is logged, and the next one tries again.
 */
export class DiskLimit {
  private disk!: DiskGuard;
  /** fullPolicy refuse, at the cap or floor: new readings are refused (WEIR_JOURNAL_FULL). */
  private full = false;
  private lastDiskCheck = -Infinity;
  /** Approximate bytes written since the last disk check: a burst checks sooner than every 250 ms. */
  private bytesSinceCheck = 0;
  private cancelDiskTimer: (() => void) | null = null;
  private readonly evicted: Record<StreamName, number> = emptyCounts();
  private gaps = 0;

  constructor(private readonly ctx: DiskLimitContext) {}

  /** Whether new readings are refused (fullPolicy refuse, at the cap or floor). */
  get refusing(): boolean {
    return this.full;
  }

  start(db: Database.Database): void {
    this.disk = new DiskGuard(db, this.ctx.config.dataDir, this.ctx.config.journal);
    this.scheduleDiskCheck();
  }

  stop(): void {
    this.cancelDiskTimer?.();
  }

  /** About `bytes` more on disk since the last check. */
  wrote(bytes: number): void {
    this.bytesSinceCheck += bytes;
  }

  /** The disk part of the journal's stats(): usage (zero while the file is closed), limits, evictions. */
  stats(): NonNullable<JournalStats['disk']> {
    const u = this.ctx.db()?.open ? this.disk.usage() : { usedBytes: 0, fileBytes: 0, freeBytes: null };
    const { maxBytes, minFreeBytes, fullPolicy } = this.ctx.config.journal;
    return { ...u, maxBytes, minFreeBytes, policy: fullPolicy, refusing: this.full, evicted: { ...this.evicted }, gaps: this.gaps };
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
        this.ctx.log.warn({ err }, 'incremental vacuum failed');
      }
      this.scheduleDiskCheck();
    });
  }

  /**
   * At most every 250 ms (or now, when `force`): against journal.maxBytes and
   * journal.minFreeBytes, evict (fullPolicy evict) or refuse new readings (refuse).
   */
  checkDisk(force: boolean): void {
    const now = this.ctx.clock.monotonic();
    const { maxBytes } = this.ctx.config.journal;
    if (!force && now - this.lastDiskCheck < 250 && (maxBytes === 0 || this.bytesSinceCheck < maxBytes / 64)) return;
    this.lastDiskCheck = now;
    this.bytesSinceCheck = 0;
    if (this.ctx.closing() || !this.ctx.db()?.open) return;
    try {
      let u = this.disk.usage();
      // Either policy: what Kafka already has goes first (kept only for resend detection
      // and analytics replay; a checkpoint makes the replay unnecessary).
      if (this.disk.excess(u) > 0 && this.ctx.acks.dropAcked(true)) u = this.disk.usage();
      if (this.ctx.config.journal.fullPolicy === 'refuse') {
        const full = this.disk.full(u);
        if (full !== this.full) this.ctx.log.warn({ ...u, full }, full ? 'journal full: refusing new readings until the backlog drains' : 'journal has room again: accepting readings');
        this.full = full;
      } else if (this.disk.excess(u) > 0) {
        this.evict(u);
      }
    } catch (err) {
      this.ctx.log.error({ err }, 'disk check failed');
    }
  }

  /**
   * fullPolicy evict: the oldest unsent records in EVICTION_ORDER, each step announced on
   * weir.status as a gap. A step whose transaction fails (the disk full) changes nothing,
   * in the file or in memory. A step that deletes records the processor's checkpoint does
   * not cover checkpoints in the same transaction: a replay after a crash could not rebuild
   * their contribution (as dropAcked(true) does for acknowledged ones).
   */
  private evict(before: DiskUsage): void {
    const { chain } = this.ctx;
    const host = this.ctx.host();
    while (this.disk.excess() > 0) {
      const g = chain.atomically(host, this.ctx.db().transaction((): Gap | null => {
        const gap = this.disk.evictStep(chain.segments, this.ctx.acks.ackedThrough);
        if (!gap) return null;
        this.announceGap(gap);
        if (host && gap.toSeq > host.checkpointSeq) host.checkpoint(chain.lastSeq);
        return gap;
      }));
      if (!g) break;
      this.ctx.backlog.status++; // the gap record
      this.ctx.backlog[g.stream] -= g.count;
      this.evicted[g.stream] += g.count;
      this.gaps++;
      this.ctx.metrics.evicted.labels(g.stream).inc(g.count);
      this.ctx.log.warn({ stream: g.stream, fromSeq: g.fromSeq, toSeq: g.toSeq, count: g.count, devices: Object.keys(g.devices).length }, 'journal at its disk limit: evicted the oldest unsent records');
    }
    if (before.freeBytes !== null && before.freeBytes < this.ctx.config.journal.minFreeBytes) while (this.disk.vacuumStep(0) > 0);
    this.ctx.announceWhenDurable();
  }

  /** The gap record on the status stream: which devices lost how many records, and which sequences. */
  private announceGap(g: Gap): void {
    const body = JSON.stringify({ event: 'gap', stream: g.stream, from_seq: g.fromSeq, to_seq: g.toSeq, count: g.count, devices: g.devices, reason: 'journal disk limit (journal.maxBytes / journal.minFreeBytes)' });
    this.ctx.write({ stream: 'status', key: this.ctx.config.gateway.id, received: this.ctx.clock.now(), body, seq: 0 });
  }
}

/**
 * What the DiskLimit needs of its journal. The functions read what the journal sets
 * only later (it opens its file, makes its writer and begins closing after the limit is made).
 */
export interface DiskLimitContext extends Pick<Context, 'config' | 'clock' | 'metrics'> {
  log: Logger;
  /** Records not yet acknowledged, by stream: eviction takes off what it deletes. */
  backlog: Record<StreamName, number>;
  /** Drops what Kafka has before anything unsent goes. */
  acks: Pick<AckKeeper, 'ackedThrough' | 'dropAcked'>;
  db(): Database.Database;
  closing(): boolean;
  /** The segments, oldest first: eviction deletes from the oldest. */
  chain: Pick<SegmentChain, 'segments' | 'lastSeq' | 'atomically'>;
  /** The processor's host, if any: eviction checkpoints it when it deletes records its checkpoint does not cover. */
  host(): Pick<ProcessorHost, 'checkpointSeq' | 'checkpoint'> | null;
  /** Writes `r` with the next sequence, inside the current transaction (the gap record). */
  write(r: Pending): void;
  /** Tells the commit listeners once what was just written is durable. */
  announceWhenDurable(): void;
}
