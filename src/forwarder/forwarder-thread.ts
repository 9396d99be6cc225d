import { Worker } from 'node:worker_threads';
import type { Context } from '../core/context.js';
import { describeError } from '../core/errors.js';
import type { SqliteJournal } from '../journal/sqlite-journal.js';
import { backoffDelay } from './backoff.js';
import { CommitSignal } from './commit-signal.js';
import type { ForwarderHandle, UplinkStatus } from './uplink.js';
import type { ForwardWorkerData, FromWorker, ToWorker } from './thread-messages.js';
import { spawnWithSemiSpace, WORKER_SEMI_SPACE_MB } from './worker-heap.js';

/** The worker: from dist/ plain JS; from the TypeScript sources (tests), through a bootstrap that registers tsx. */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './forward-worker-tsx.mjs' : './forward-worker.js', import.meta.url);

/** How long a scrape waits for the forwarder thread's metrics before going without. */
const METRICS_TIMEOUT_MS = 1000;

/**
 * The forwarder on its own thread (kafka.workerThread). On a single thread, every
 * batch's journal read, formatting, lz4 and the Kafka client's work stalled device
 * acknowledgements for milliseconds at a time; the gateway thread now only ingests
 * and commits. The worker reads the journal through its own read-only connection
 * (WAL: readers never block the writer) and posts back what must happen here, where
 * the one writer lives: acknowledgements (journal.ack), status announcements, uplink
 * state, and its metrics for each scrape (merged as prom-client merges a cluster's).
 *
 * Call order and guarantees as for Forwarder: start() → stop(deadlineMs). If the
 * thread dies, the error is logged, the uplink reported down, and a new thread
 * resumes from the journal's acknowledged sequence after a backoff — records sent
 * but not yet acknowledged are sent again with the same weir-seq (at-least-once).
 */
export class ForwarderThread implements ForwarderHandle {
  private worker: Worker | null = null;
  private mirror: UplinkStatus;
  private stopping = false;
  private failures = 0;
  private unsubscribe: (() => void) | null = null;
  private cancelRespawn: (() => void) | null = null;
  private readonly pending = new Map<number, (metrics: object[]) => void>();
  private nextId = 0;
  private lastMetrics: object[] = [];
  private readonly signal = new CommitSignal();
  private readonly log;

  constructor(private readonly ctx: Context, private readonly journal: SqliteJournal) {
    this.mirror = { state: 'connecting', since: ctx.clock.now(), lastError: null, ackedThrough: 0 };
    this.log = ctx.log.child({ component: 'forwarder' });
  }

  start(): void {
    // The worker checkpoints the WAL (forward-worker.ts), off this thread.
    this.journal.checkpointElsewhere();
    this.unsubscribe = this.journal.onCommit((lastSeq) => this.signal.publish(lastSeq) && this.send({ t: 'commit' }));
    this.ctx.metrics.addRemote(() => this.remoteMetrics());
    this.spawn();
  }

  status(): UplinkStatus {
    return { ...this.mirror };
  }

  private send(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  private spawn(): void {
    this.cancelRespawn = null;
    const stats = this.journal.stats();
    this.mirror.ackedThrough = stats.ackedThrough;
    this.signal.publish(stats.lastSeq);
    const workerData: ForwardWorkerData = {
      config: this.ctx.config, file: this.journal.file, ackedThrough: stats.ackedThrough, signal: this.signal.buffer, logLevel: this.ctx.log.level,
    };
    // Its own young generation, larger than the unit's cap for this thread (worker-heap.ts).
    const worker = spawnWithSemiSpace(WORKER_SEMI_SPACE_MB, (resourceLimits) => new Worker(WORKER_URL, { workerData, resourceLimits }));
    worker.on('message', (m: FromWorker) => this.receive(m));
    worker.on('error', (err) => {
      this.mirror = { ...this.mirror, state: 'down', since: this.ctx.clock.now(), lastError: describeError(err) };
      this.log.error({ err }, 'forwarder thread failed; records stay in the journal');
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = null;
      if (this.stopping) return;
      // Down until a new thread says otherwise: in /api/status, and in the metrics snapshot
      // that stands in for the thread's own until it answers (else weir_uplink_up stays 1).
      if (this.mirror.state !== 'down') this.mirror = { ...this.mirror, state: 'down', since: this.ctx.clock.now(), lastError: 'forwarder thread exited' };
      this.lastMetrics = withUplinkDown(this.lastMetrics);
      this.ctx.metrics.kafkaErrors.labels('thread').inc();
      const delay = backoffDelay(this.failures++, this.ctx.config.kafka.retryInitialMs, this.ctx.config.kafka.retryMaxMs);
      this.cancelRespawn = this.ctx.clock.setTimer(delay, () => this.spawn());
    });
    this.worker = worker;
  }

  private receive(m: FromWorker): void {
    switch (m.t) {
      case 'ack':
        this.journal.ack(m.seq);
        this.mirror.ackedThrough = m.seq;
        this.failures = 0;
        break;
      case 'state':
        this.mirror = m.status;
        break;
      case 'append':
        this.journal.append(m.entry, (err) => err && this.log.warn({ err }, 'could not journal a forwarder announcement'));
        break;
      case 'metrics':
        this.pending.get(m.id)?.(m.metrics);
        break;
      case 'stopped':
        break;
    }
  }

  private remoteMetrics(): Promise<object[]> {
    if (!this.worker) return Promise.resolve(this.lastMetrics);
    const id = ++this.nextId;
    return new Promise((resolve) => {
      // A busy or restarting thread answers late: the last snapshot stands in, so
      // its counters never seem to fall back to zero (a reset, to Prometheus).
      const timer = setTimeout(() => finish(this.lastMetrics), METRICS_TIMEOUT_MS);
      const finish = (metrics: object[]): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        this.lastMetrics = metrics;
        resolve(metrics);
      };
      this.pending.set(id, finish);
      this.send({ t: 'metrics', id });
    });
  }

  /** Lets the thread forward what is committed while `deadlineMs` allows; resolves once it has exited. */
  async stop(deadlineMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.cancelRespawn?.();
    this.unsubscribe?.();
    const worker = this.worker;
    if (worker) {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      this.signal.publish(this.journal.stats().lastSeq);
      this.send({ t: 'stop', deadlineMs });
      let timer: NodeJS.Timeout | undefined;
      // The worker gives up at its deadline; this margin covers its disconnect.
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, deadlineMs + 5000)))]);
      clearTimeout(timer);
      await worker.terminate();
    }
    this.mirror = { ...this.mirror, state: 'stopped', since: this.ctx.clock.now() };
  }
}

/** A metrics snapshot of the thread (prom-client's JSON) with weir_uplink_up at 0. */
function withUplinkDown(metrics: object[]): object[] {
  return metrics.map((m) => ((m as { name?: string }).name === 'weir_uplink_up' ? { ...m, values: [{ value: 0, labels: {} }] } : m));
}
