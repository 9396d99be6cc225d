import type Database from 'better-sqlite3';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { RETAIN_TAIL } from './journal.js';
import type { ProcessorHost } from './processor-host.js';
import type { SegmentChain } from './segment-chain.js';
import { streamName, type StreamName } from './streams.js';

/** Acks are persisted (rows deleted) at most this often: deletes cost flash writes too. */
const ACK_PERSIST_MS = 1000;
/** …or as soon as this many acknowledged records are not yet recorded as such. */
const ACK_PERSIST_RECORDS = 5000;

/**
 * Kafka's acknowledgements, in memory at once and on disk in batches: the acknowledged
 * mark (meta.acked_through) and the removal of what it covers. Why batches: deleting
 * rows and dropping segments costs flash writes too, so an ack is persisted at most
 * every ACK_PERSIST_MS — unless ACK_PERSIST_RECORDS are waiting (see ack()).
 *
 * Call order: restore() once at open, with the mark the file holds → ack()* as Kafka
 * acknowledges, dropAcked() from the disk check → close() once, while the file is still
 * open. Guarantees: ackedThrough never goes back; the mark and the drop it allows commit
 * in one transaction, so a restart resends at most what was acknowledged but not yet
 * persisted (same weir-seq), never loses a record. Errors: a failed persist is logged
 * and retried after ACK_PERSIST_MS; dropAcked() throws SQLite's errors to its caller.
 */
export class AckKeeper {
  /** Highest seq Kafka acknowledged, and the highest one already deleted from disk. */
  private acked = 0;
  private persistedAck = 0;
  private cancelAckTimer: (() => void) | null = null;
  /** close() ran: the file goes away, so a failed persist is not retried. */
  private closed = false;

  constructor(private readonly ctx: AckContext) {}

  get ackedThrough(): number {
    return this.acked;
  }

  /** The mark the file holds, at open: acknowledged and persisted alike. */
  restore(ackedThrough: number): void {
    this.acked = this.persistedAck = ackedThrough;
  }

  ack(throughSeq: number): void {
    // After close(): Kafka's answer to a send that outlived the stop. Not recorded (the
    // file is closing or gone); the next start resends those records, same weir-seq.
    if (this.closed || throughSeq <= this.acked) return;
    for (const seg of this.ctx.chain.segments) {
      if (seg.count === 0 || seg.lastSeq <= this.acked || seg.firstSeq > throughSeq) continue;
      for (const [id, count] of seg.countRange(this.acked, throughSeq)) this.ctx.backlog[streamName(id)] -= count;
    }
    this.acked = throughSeq;
    // A big unrecorded range (a catch-up after a restart: the forwarder sends thousands
    // per request) is recorded at once: a crash before the timer fired would send it all
    // to Kafka again, and crashes in a row would multiply the copies.
    if (this.acked - this.persistedAck >= ACK_PERSIST_RECORDS) {
      this.cancelAckTimer?.();
      this.persistAcks();
      return;
    }
    if (!this.cancelAckTimer) {
      this.cancelAckTimer = this.ctx.clock.setTimer(ACK_PERSIST_MS, () => this.persistAcks());
    }
  }

  /** At close: persists what is acknowledged now, and stops the timer. */
  close(): void {
    this.cancelAckTimer?.();
    this.closed = true;
    this.persistAcks();
  }

  /**
   * Records the acknowledged mark and drops what Kafka has, in one transaction. In
   * normal running: the segments acknowledged in full, but not the newest RETAIN_TAIL
   * records, nor what a replay from the processor's checkpoint needs. At the disk limit
   * (`atLimit`): everything acknowledged — the segment straddling the mark loses its
   * acknowledged rows too — after a checkpoint, so no replay needs them; then nothing
   * is written when nothing can go. Returns whether any record went.
   */
  dropAcked(atLimit: boolean): boolean {
    const through = this.acked;
    const { chain } = this.ctx;
    const host = this.ctx.host();
    const keepAfter = atLimit ? Infinity : Math.min(chain.lastSeq - RETAIN_TAIL, host?.checkpointSeq ?? Infinity);
    const droppable = chain.segments.slice(0, -1).filter((g) => g.lastSeq <= through && g.lastSeq <= keepAfter);
    const straddling = !atLimit ? undefined
      : chain.segments.find((g) => g.count > 0 && g.firstSeq <= through && g.lastSeq > through)
        ?? (chain.active.count > 0 && chain.active.lastSeq <= through ? chain.active : undefined);
    if (atLimit && droppable.length === 0 && !straddling) return false;
    // On failure the straddling segment's count and range, and the checkpoint's sequence, roll back with the file.
    chain.atomically(host, this.ctx.db().transaction(() => {
      if (atLimit) host?.checkpoint(chain.lastSeq);
      for (const seg of droppable) seg.drop();
      if (straddling) {
        straddling.deleteThrough(through);
        straddling.firstSeq = through + 1;
      }
      this.ctx.setMeta().run('acked_through', through);
    }));
    this.persistedAck = through;
    if (droppable.length > 0) chain.segments = chain.segments.filter((g) => !droppable.includes(g));
    return droppable.length > 0 || straddling !== undefined;
  }

  /** Persists the acknowledged high-water mark and drops the segments it covers (dropAcked). */
  private persistAcks(): void {
    this.cancelAckTimer = null;
    if (this.acked <= this.persistedAck) return;
    try {
      this.dropAcked(false);
    } catch (err) {
      // Not fatal: the rows are re-sent after a restart (same weir-seq), never lost.
      // At close no retry: its timer would outlive the file (and keep the process alive).
      this.ctx.log.warn({ err }, this.closed ? 'could not persist acknowledgements at close; the next start resends them' : 'could not persist acknowledgements; will retry');
      if (!this.closed) this.cancelAckTimer = this.ctx.clock.setTimer(ACK_PERSIST_MS, () => this.persistAcks());
    }
  }
}

/**
 * What the AckKeeper needs of its journal. The functions read what the journal sets
 * only later (it opens its file and its processor after the keeper is made).
 */
export interface AckContext {
  clock: Clock;
  log: Logger;
  /** Records not yet acknowledged, by stream: ack() takes off what it acknowledges. */
  backlog: Record<StreamName, number>;
  db(): Database.Database;
  /** The meta table's upsert (name, value). */
  setMeta(): Database.Statement;
  /** The segments (replaced once dropped ones are gone from the list) and the sequence. */
  chain: Pick<SegmentChain, 'segments' | 'lastSeq' | 'active' | 'atomically'>;
  host(): ProcessorHost | null;
}
