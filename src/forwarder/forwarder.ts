import type { Context } from '../core/context.js';
import { describeError, isWeirError } from '../core/errors.js';
import type { StoredRecord } from '../journal/journal.js';
import { STREAMS } from '../journal/streams.js';
import { backoffDelay } from './backoff.js';
import type { KafkaProducerPort, OutRecord } from './producer.js';
import { makeFormatter } from './record-format.js';
import { ResendPolicy } from './resend-policy.js';
import type { ForwarderHandle, ForwarderOptions, ForwardJournal, UplinkState, UplinkStatus } from './uplink.js';
import { Waits } from './waits.js';

/** Longest the forwarder waits for a failed Kafka client to close (dropClient). */
export const DISCONNECT_WAIT_MS = 5000;

/**
 * Moves committed records from the journal to Kafka, in journal order, one request
 * at a time: with a single request in flight, a retry can never overtake what
 * follows it, so each device's order holds across retries, outages and restarts
 * (after a restart the journal hands back everything not yet acknowledged). A batch
 * that failed is sent again as it was, by the same idempotent producer where it can
 * (resend-policy.ts), so that Kafka drops what it already has: copies are left only to a
 * crash or a producer Kafka no longer knows (PRODUCT.md, delivery promise). Under
 * steady traffic requests begin at least kafka.lingerMs apart (lingerLeft). Its pauses
 * (idle, backoff, linger) are waits.ts's.
 *
 * Call order: start() → stop(deadlineMs). start() returns at once; connecting,
 * sending and reconnecting (exponential backoff, full jitter) run in the background.
 * A record is acked in the journal only after Kafka acknowledged it (acks=all).
 * The uplink going down is logged once, and its return once, with the outage length.
 */
export class Forwarder implements ForwarderHandle {
  private state: UplinkState = 'connecting';
  private since: number;
  private lastError: string | null = null;
  private cursor = 0;
  /** Records per request: halved when Kafka says a batch is too large, regrown on success. */
  private limit: number;
  private connected = false;
  private attempt = 0;
  private stopping = false;
  private readonly waits: Waits;
  private loop: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly format;
  /** Monotonic time the last request began (lingerLeft). */
  private lastSendAt = Number.NEGATIVE_INFINITY;
  /**
   * A batch Kafka did not acknowledge, kept to be sent again exactly as it was, by the
   * same client (resend-policy.ts): records committed meanwhile wait for the next batch.
   */
  private unacked: { records: StoredRecord[]; out: OutRecord[] } | null = null;
  private readonly resends = new ResendPolicy();
  private readonly log;

  constructor(
    private readonly ctx: Context,
    private readonly journal: ForwardJournal,
    private readonly producer: KafkaProducerPort,
    private readonly opts: ForwarderOptions = {},
  ) {
    this.since = ctx.clock.now();
    this.limit = ctx.config.kafka.batchMaxRecords;
    this.format = makeFormatter(ctx.config);
    this.log = ctx.log.child({ component: 'forwarder' });
    this.waits = new Waits(ctx.clock);
  }

  start(): void {
    this.cursor = this.opts.ackedThrough?.() ?? 0;
    this.unsubscribe = this.journal.onCommit(() => this.waits.committed());
    this.loop = this.run();
  }

  status(): UplinkStatus {
    return { state: this.state, since: this.since, lastError: this.lastError, ackedThrough: this.cursor };
  }

  private setState(state: UplinkState, err?: unknown): void {
    if (err) this.lastError = describeError(err);
    if (state === this.state) return;
    const now = this.ctx.clock.now();
    if (state === 'down') {
      this.log.warn({ brokers: this.ctx.config.kafka.brokers, err: this.lastError },
        'Kafka uplink is down; still accepting and buffering in the journal (logged once until it is back)');
    } else if (state === 'up' && this.state === 'down') {
      this.log.info({ outageSeconds: Math.round((now - this.since) / 1000), unsent: this.journal.committedSeq() - this.cursor }, 'Kafka uplink is back; draining the backlog');
    }
    this.state = state;
    this.since = now;
    this.ctx.metrics.uplinkUp.set(state === 'up' ? 1 : 0);
    this.opts.onState?.(this.status());
  }

  /**
   * How long the next request should still wait for company: what is left of
   * `kafka.lingerMs` since the last request began, or 0 when lingering is off or a full
   * batch is waiting already. This is the Java producer's linger.ms (5 ms by default
   * since Kafka 4.0, KIP-1030), counted from the last request instead of a batch's first
   * record: a reading after a quiet spell goes at once, and a backlog never waits. It
   * only acts while Kafka answers within the linger; over a WAN the round trip already
   * spaces requests further apart. Fullness is looked at once, before the wait: a batch
   * that fills during it waits for the rest of it (at most lingerMs), and the next
   * request, finding a full batch, goes at once.
   * `committedSeq() − cursor` is what read() would return (every stream is forwarded),
   * or more after the disk cap evicted some: then a short batch goes at once.
   */
  private lingerLeft(): number {
    const lingerMs = this.ctx.config.kafka.lingerMs;
    if (lingerMs <= 0) return 0;
    const left = this.lastSendAt + lingerMs - this.ctx.clock.monotonic();
    if (left <= 0 || this.journal.committedSeq() - this.cursor >= this.limit) return 0;
    return left;
  }

  private async run(): Promise<void> {
    const { kafka } = this.ctx.config;
    while (!this.stopping) {
      if (!this.connected) {
        try {
          await this.producer.connect();
          if (kafka.createTopics) await this.producer.ensureTopics(STREAMS.map((s) => kafka.topics[s]), kafka.partitions, kafka.replicationFactor);
        } catch (err) {
          this.ctx.metrics.kafkaErrors.labels('connect').inc();
          this.setState('down', err);
          await this.dropClient();
          // stop() came during the attempt: its interrupt is spent, so no backoff may begin.
          if (!this.stopping) await this.waits.hold(backoffDelay(this.attempt++, kafka.retryInitialMs, kafka.retryMaxMs));
          continue;
        }
        // stop() may have closed the client already and returned while this attempt ran:
        // close the one it brought, or it holds its sockets (and the process) open.
        if (this.stopping) {
          await this.dropClient();
          break;
        }
        this.connected = true;
        this.resends.connected();
        this.setState('up');
      }
      let batch = this.unacked;
      if (!batch) {
        const linger = this.lingerLeft();
        if (linger > 0) {
          await this.waits.hold(linger);
          continue;
        }
        const records = this.journal.read(this.cursor, this.limit, kafka.batchMaxBytes);
        if (records.length === 0) {
          if (!this.journal.armCommitWake?.()) await this.waits.idle(1000);
          continue;
        }
        batch = { records, out: records.map(this.format) };
      }
      const { records } = batch;
      try {
        this.lastSendAt = this.ctx.clock.monotonic();
        await this.producer.send(batch.out);
      } catch (err) {
        this.unacked = null;
        if (isWeirError(err, 'WEIR_KAFKA_RECORD_TOO_LARGE')) {
          this.ctx.metrics.kafkaErrors.labels('too_large').inc();
          if (records.length > 1) {
            this.limit = Math.max(1, Math.floor(records.length / 2));
            continue;
          }
          this.skip(records[0]!, err);
          continue;
        }
        const { keepClient, kind } = this.resends.failed(err);
        this.ctx.metrics.kafkaErrors.labels(kind).inc();
        // Down from the moment a send failed, not once the client has closed.
        this.setState('down', err);
        if (keepClient) {
          this.unacked = batch;
        } else {
          if (kind === 'producer_reset') {
            this.log.warn({ err: describeError(err), records: records.length }, 'Kafka no longer knows this producer; a new one sends the batch again (records Kafka already had may appear twice, with the same weir-seq)');
          }
          this.connected = false;
          await this.dropClient();
        }
        if (!this.stopping) await this.waits.hold(backoffDelay(this.attempt++, kafka.retryInitialMs, kafka.retryMaxMs));
        continue;
      }
      this.unacked = null;
      this.resends.succeeded();
      this.attempt = 0;
      if (this.state !== 'up') this.setState('up');
      this.acknowledged(records);
    }
  }

  /** Kafka acknowledged `records`: the journal may let them go; counted and timed. */
  private acknowledged(records: StoredRecord[]): void {
    this.limit = Math.min(this.ctx.config.kafka.batchMaxRecords, this.limit * 2);
    const last = records[records.length - 1]!;
    this.cursor = last.seq;
    this.journal.ack(last.seq);
    const counts = new Map<string, number>();
    for (const r of records) counts.set(r.stream, (counts.get(r.stream) ?? 0) + 1);
    // Per batch, its oldest and newest record: the extremes, at two observations a request.
    const now = this.ctx.clock.now();
    this.ctx.metrics.forwardLatency.observe((now - records[0]!.received) / 1000);
    if (records.length > 1) this.ctx.metrics.forwardLatency.observe((now - last.received) / 1000);
    for (const [stream, n] of counts) this.ctx.metrics.forwarded.labels(stream).inc(n);
  }

  /**
   * Closes the Kafka client, waiting at most DISCONNECT_WAIT_MS. A socket to a broker
   * that vanished mid-request (a cellular link cut, a host powered off: no FIN, no RST)
   * may never finish closing — Node's destroySoon() waits until its buffered bytes
   * reach the kernel — and the forwarder must go on reconnecting meanwhile. The
   * abandoned socket dies at TCP's retransmission timeout; what it carried is resent
   * (a copy arriving late repeats its weir-seq, as any redelivery does).
   */
  private async dropClient(): Promise<void> {
    let cancel = (): void => undefined;
    await Promise.race([
      this.producer.disconnect(),
      new Promise<void>((resolve) => (cancel = this.ctx.clock.setTimer(DISCONNECT_WAIT_MS, resolve))),
    ]);
    cancel();
  }

  /**
   * A single record Kafka will never accept (larger than its message.max.bytes) would
   * block every record behind it forever: it is skipped, loudly, and the skip is
   * announced on the status stream so the central tier sees the gap.
   */
  private skip(record: StoredRecord, err: unknown): void {
    this.log.error({ seq: record.seq, stream: record.stream, key: record.key, bytes: record.body.length, err: describeError(err) },
      'Kafka refuses this record as too large; skipping it');
    this.cursor = record.seq;
    this.journal.ack(record.seq);
    const body = JSON.stringify({ event: 'record-rejected', code: 'WEIR_KAFKA_RECORD_TOO_LARGE', record_seq: record.seq, stream: record.stream, device: record.key, bytes: record.body.length });
    this.journal.append({ stream: 'status', key: this.ctx.config.gateway.id, received: this.ctx.clock.now(), body }, () => undefined);
  }

  /**
   * Stops after the request in flight; while `deadlineMs` allows, first forwards
   * what is already committed (the last forward of a graceful stop).
   */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.loop) return;
    const deadline = this.ctx.clock.monotonic() + deadlineMs;
    while (this.connected && this.state === 'up' && this.ctx.clock.monotonic() < deadline && this.journal.committedSeq() > this.cursor) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.stopping = true;
    this.waits.interrupt();
    this.unsubscribe?.();
    // A request to an unreachable broker may hang until its timeout: do not wait past
    // the deadline; disconnecting aborts it, and its records stay in the journal.
    const left = Math.max(0, deadline - this.ctx.clock.monotonic());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise((r) => (timer = setTimeout(r, left)))]);
    clearTimeout(timer);
    await this.dropClient();
    this.state = 'stopped';
    this.opts.onState?.(this.status());
  }
}
