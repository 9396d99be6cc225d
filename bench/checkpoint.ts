// Where the journal's WAL checkpoints run, measured on the journal alone (no MQTT, no
// Kafka, so the machine's noise stays small): SQLite's automatic checkpoint inside the
// writer's commits on the event loop ("writer", how the journal ran before), against a
// WalCheckpointer on a worker thread with the writer's own only as a fallback
// ("thread", what the forwarder's thread does in the gateway). Same code (dist/), same
// paced load of appends, alternating, each on a fresh journal on a real disk.
//
//   npm run build && node --import tsx bench/checkpoint.ts [--rate 20000] [--seconds 20] [--rounds 3]
//   # an SD card's flush on this SSD (bench/slow-fsync.c):
//   SLOWSYNC_US=5000 LD_PRELOAD=/tmp/slow-fsync.so node --import tsx bench/checkpoint.ts
//
// Figures per run: append → durable callback latency (what a device's PUBACK waits
// for) p50 / p99 / p99.9 / max, the event loop's delay p99 / max and its utilisation
// (the share of the gateway thread the journal took), checkpoints run by the thread.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { REPO } from '../test/support/gateway.js';
import { distStale, distUrl } from './dist.js';
import { benchDir } from './peers.js';
import { loadAverage, waitQuiet } from './procfs.js';
import { percentile } from './report.js';

const { values: a } = parseArgs({
  options: {
    rate: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    'no-wait-quiet': { type: 'boolean', default: false },
  },
});
const RATE = Number(a.rate);
const SECONDS = Number(a.seconds);
const ROUNDS = Number(a.rounds);
if (distStale(['journal'])) throw new Error('dist/ is older than src/journal: run `npm run build` first');
const { SqliteJournal } = await import(distUrl('journal/sqlite-journal.js')) as typeof import('../src/journal/sqlite-journal.js');
const { configSchema } = await import(distUrl('config/schema.js')) as typeof import('../src/config/schema.js');
const { systemClock } = await import(distUrl('core/clock.js')) as typeof import('../src/core/clock.js');
const { silentLogger } = await import(distUrl('core/logger.js')) as typeof import('../src/core/logger.js');
const { Metrics } = await import(distUrl('core/metrics.js')) as typeof import('../src/core/metrics.js');

/** The checkpointer's thread: what forward-worker.ts starts, without the forwarder. */
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
Promise.all([import(workerData.cp), import(workerData.clock), import(workerData.logger)]).then(([{ WalCheckpointer }, { systemClock }, { silentLogger }]) => {
  const cp = new WalCheckpointer(workerData.file, systemClock, silentLogger);
  cp.start();
  parentPort.postMessage('started');
  parentPort.on('message', () => { const n = cp.checkpoints; cp.close(); parentPort.postMessage(n); parentPort.close(); });
});`;

type Mode = 'writer' | 'thread';

async function run(mode: Mode) {
  const ctx = {
    config: configSchema.parse({ dataDir: benchDir() }), log: silentLogger, clock: systemClock,
    metrics: new Metrics({ processMetrics: false }), signal: new AbortController().signal,
  };
  const j = new SqliteJournal(ctx);
  j.open();
  let worker: Worker | null = null;
  if (mode === 'thread') {
    j.checkpointElsewhere();
    worker = new Worker(WORKER, { eval: true, workerData: { file: j.file, cp: distUrl('journal/wal-checkpointer.js'), clock: distUrl('core/clock.js'), logger: distUrl('core/logger.js') } });
    await new Promise((r) => worker!.once('message', r));
  }
  const latencies: number[] = [];
  let outstanding = 0;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const body = `{"usage":42.5,"temp":61.25,"fan":1200,"pad":"${'x'.repeat(120)}"}`;
  const TICK_MS = 5;
  let n = 0;
  const started = performance.now();
  const elu0 = performance.eventLoopUtilization();
  delay.enable();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      // Paced by the clock, not the ticks: a late tick appends what it owes.
      const due = Math.min(RATE * SECONDS, Math.round(((performance.now() - started) / 1000) * RATE));
      for (; n < due; n++) {
        const t0 = performance.now();
        outstanding++;
        j.append({ stream: 'readings', key: `dev-${n % 100}`, received: Date.now(), body }, (err) => {
          if (err) throw err;
          latencies.push(performance.now() - t0);
          outstanding--;
        });
      }
      if (n >= RATE * SECONDS) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  while (outstanding > 0) await new Promise((r) => setTimeout(r, 5));
  delay.disable();
  const elu = performance.eventLoopUtilization(elu0);
  let checkpoints: number | null = null;
  if (worker) {
    const w = worker;
    checkpoints = await new Promise<number>((r) => { w.once('message', r); w.postMessage('stop'); });
  }
  await j.close();
  latencies.sort((x, y) => x - y);
  const q = (p: number) => Math.round(percentile(latencies, p) * 10) / 10;
  return {
    mode, readings: latencies.length, durableMs: { p50: q(0.5), p99: q(0.99), p999: q(0.999), max: q(1) },
    loopDelayMs: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 }, loopUtilisation: Math.round(elu.utilization * 1000) / 1000, checkpoints,
  };
}

const log = (s: string) => console.error(s);
log(`load average ${loadAverage()}; ${RATE}/s for ${SECONDS} s, ${ROUNDS} rounds, SLOWSYNC_US=${process.env.SLOWSYNC_US ?? '(none)'}`);
const results = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of ['writer', 'thread'] as Mode[]) {
    if (!a['no-wait-quiet']) await waitQuiet([process.pid], 0.3, 600_000, log);
    const res = await run(mode);
    results.push(res);
    const d = res.durableMs;
    log(`${mode.padEnd(6)} durable p50/p99/p99.9/max ${d.p50} / ${d.p99} / ${d.p999} / ${d.max} ms; loop delay p99/max ${res.loopDelayMs.p99.toFixed(1)} / ${res.loopDelayMs.max.toFixed(1)} ms; loop busy ${(res.loopUtilisation * 100).toFixed(1)} %${res.checkpoints === null ? '' : `; ${res.checkpoints} checkpoints on the thread`}`);
  }
}
const out = join(REPO, 'bench/results/checkpoint.json');
writeFileSync(out, JSON.stringify({ meta: { date: new Date().toISOString(), rate: RATE, seconds: SECONDS, slowSyncUs: process.env.SLOWSYNC_US ?? null }, results }, null, 2));
log(`raw results: ${out}`);
