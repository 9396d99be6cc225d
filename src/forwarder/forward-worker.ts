/**
 * Entry point of the forwarder's thread (see forwarder-thread.ts): the Forwarder as
 * it runs in-thread, over a read-only JournalReader, with acknowledgements, state
 * changes and metrics posted back to the gateway thread, which alone writes the
 * journal. Call order of messages: commit* → stop → (posts 'stopped', exits).
 */
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../core/clock.js';
import type { Context } from '../core/context.js';
import { createLogger } from '../core/logger.js';
import { Metrics } from '../core/metrics.js';
import { quietDisabledDebug } from '../core/quiet-debug.js';
import type { JournalEntry } from '../journal/journal.js';
import { JournalReader } from '../journal/journal-reader.js';
import { WalCheckpointer } from '../journal/wal-checkpointer.js';
import { CommitSignal } from './commit-signal.js';
import { loadProducerFactory } from './create-producer.js';
import { Forwarder } from './forwarder.js';
import type { ForwardJournal } from './uplink.js';
import type { ForwardWorkerData, FromWorker, ToWorker } from './thread-messages.js';

// Before the Kafka client loads (it logs through `debug`): see quiet-debug.ts.
quietDisabledDebug();

const port = parentPort!;
const data = workerData as ForwardWorkerData;
const post = (m: FromWorker): void => port.postMessage(m);

const abort = new AbortController();
const ctx: Context = {
  config: data.config,
  log: createLogger(data.logLevel),
  clock: systemClock,
  metrics: new Metrics({ processMetrics: false }),
  signal: abort.signal,
};

const reader = new JournalReader(data.file, data.config.journal.cacheBytes);
// The journal's WAL checkpoints run here, off the gateway thread (wal-checkpointer.ts).
// Without them the writer's own fallback still bounds the WAL, so a failure here is not fatal.
let checkpointer: WalCheckpointer | null = null;
try {
  checkpointer = new WalCheckpointer(data.file, ctx.clock, ctx.log.child({ component: 'journal' }));
  checkpointer.start();
} catch (err) {
  ctx.log.warn({ err }, 'cannot checkpoint the journal from the forwarder thread; the gateway thread does');
}
const signal = new CommitSignal(data.signal);
/** The durable mark the last read stopped at. */
let readThrough = 0;
const listeners = new Set<(lastSeq: number) => void>();

/** The journal as the forwarder sees it from here: reads local, writes posted. */
const journal: ForwardJournal = {
  // Bounded by the durable mark: only what the journal announced as flushed goes to Kafka.
  read: (afterSeq, limit, maxBytes) => reader.read(afterSeq, (readThrough = signal.seq), limit, maxBytes),
  armCommitWake: () => signal.arm(readThrough),
  ack: (seq) => post({ t: 'ack', seq }),
  append: (entry: JournalEntry, done) => {
    post({ t: 'append', entry });
    process.nextTick(done, null, 0);
  },
  onCommit: (listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  committedSeq: () => signal.seq,
};

// Messages posted meanwhile wait in the port's queue: the listener below is attached after this.
const createProducer = await loadProducerFactory(ctx.config.kafka.client, ctx.log);
const forwarder = new Forwarder(ctx, journal, createProducer(ctx), {
  ackedThrough: () => data.ackedThrough,
  onState: (status) => post({ t: 'state', status }),
});

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'commit':
      for (const l of listeners) l(signal.seq);
      break;
    case 'metrics': {
      const heap = getHeapStatistics();
      ctx.metrics.forwarderHeap.set({ kind: 'total' }, heap.total_heap_size);
      ctx.metrics.forwarderHeap.set({ kind: 'used' }, heap.used_heap_size);
      // Its own young generation (worker-heap.ts): the new space's two semi-spaces as now sized.
      ctx.metrics.forwarderHeap.set({ kind: 'young' }, getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0);
      void ctx.metrics.registry.getMetricsAsJSON().then((metrics) => post({ t: 'metrics', id: m.id, metrics }));
      break;
    }
    case 'stop':
      abort.abort();
      void forwarder.stop(m.deadlineMs).finally(() => {
        reader.close();
        checkpointer?.close();
        post({ t: 'stopped' });
        port.close();
      });
      break;
  }
});

forwarder.start();
