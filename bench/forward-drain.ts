// The forwarder alone: how fast its thread empties a backlog into a real Kafka broker,
// and what that costs per record. No MQTT, no live load: a journal is filled with
// readings shaped as ingest stores them (seed 001's cpu-monitor), then the gateway's
// ForwarderThread (dist/, as deployed: its own worker, JournalReader, the default
// client, lz4, acks=all) sends it all; the run ends when the journal's acknowledged
// sequence reaches the last one. Each round uses a fresh journal and fresh topics.
//
//   npm run build && node --import tsx bench/forward-drain.ts [--n 300000] [--rounds 3]
//   node --cpu-prof --cpu-prof-dir=bench/results/profiles --import tsx bench/forward-drain.ts --rounds 1
//
// Figures per round: records/s, CPU-seconds per 1M records of this process (all
// threads: the worker's reads, formatting, compression and the client; the main
// thread's acknowledgements) — the forwarder's share of the gateway's cost while
// draining. Kafka's JVM is a separate process on the same cores (its CPU is printed).
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, sleep } from '../test/support/gateway.js';
import { distStale, distUrl } from './dist.js';
import { benchDir, createBenchTopics, deployedEnv, deployedNodeFlags, killAll, startKafka } from './peers.js';
import { cpuSeconds, loadAverage, waitQuiet } from './procfs.js';

const { values: a } = parseArgs({
  options: {
    n: { type: 'string', default: '300000' },
    rounds: { type: 'string', default: '3' },
    'no-wait-quiet': { type: 'boolean', default: false },
    // Experiments: run with this process's own flags and environment, not the unit's.
    'as-is': { type: 'boolean', default: false },
    // Experiments: kafka.batchMaxRecords other than the default.
    batch: { type: 'string' },
  },
});
// This process is the gateway here: it runs with the unit's heap flags and allocator
// settings (the worker's young generation is the process's), re-executing itself if needed.
const flags = deployedNodeFlags();
if (!a['as-is'] && !flags.every((f) => process.execArgv.includes(f))) {
  const r = spawnSync(process.execPath, [...flags, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...deployedEnv() } });
  process.exit(r.status ?? 1);
}
const N = Number(a.n);
const ROUNDS = Number(a.rounds);
if (distStale(['journal', 'forwarder'])) throw new Error('dist/ is older than src/: run `npm run build` first');
const { SqliteJournal } = await import(distUrl('journal/sqlite-journal.js')) as typeof import('../src/journal/sqlite-journal.js');
const { ForwarderThread } = await import(distUrl('forwarder/forwarder-thread.js')) as typeof import('../src/forwarder/forwarder-thread.js');
const { configSchema } = await import(distUrl('config/schema.js')) as typeof import('../src/config/schema.js');
const { systemClock } = await import(distUrl('core/clock.js')) as typeof import('../src/core/clock.js');
const { silentLogger } = await import(distUrl('core/logger.js')) as typeof import('../src/core/logger.js');
const { Metrics } = await import(distUrl('core/metrics.js')) as typeof import('../src/core/metrics.js');

const log = (s: string) => console.error(s);

/** Fills a fresh journal with N readings (100 hosts × 4 cpus), in commit groups of 2,000. */
async function fill(journal: InstanceType<typeof SqliteJournal>): Promise<void> {
  const t0 = 1_795_000_000_000;
  for (let i = 0; i < N; i += 2000) {
    const group: Array<Promise<void>> = [];
    for (let k = i; k < Math.min(N, i + 2000); k++) {
      const host = `h-${k % 100}`;
      const body = JSON.stringify({ tags: { hostname: host, cpu: `cpu${k % 4}` }, metrics: { usage: (k % 1000) / 10 } });
      group.push(new Promise((resolve, reject) => journal.append(
        { stream: 'readings', key: host, received: t0 + k, ts: t0 + k - 5, profile: 'cpu-monitor', body },
        (err) => (err ? reject(err) : resolve()))));
    }
    await Promise.all(group);
  }
}

async function round(brokers: string, kafkaPid: () => number | undefined, r: number) {
  const prefix = `fd${r}${Date.now().toString(36)}`;
  const topics = { readings: `${prefix}.readings`, aggregates: `${prefix}.aggregates`, alerts: `${prefix}.alerts`, deadletter: `${prefix}.deadletter`, status: `${prefix}.status` };
  await createBenchTopics(brokers, Object.values(topics));
  const ctx = {
    config: configSchema.parse({ dataDir: benchDir(), kafka: { brokers: brokers.split(','), topics, createTopics: false, ...(a.batch ? { batchMaxRecords: Number(a.batch) } : {}) } }),
    log: silentLogger, clock: systemClock, metrics: new Metrics({ processMetrics: false }), signal: new AbortController().signal,
  };
  const journal = new SqliteJournal(ctx);
  journal.open();
  await fill(journal);
  if (!a['no-wait-quiet']) await waitQuiet([process.pid, kafkaPid()!], 0.3, 600_000, log);
  const last = journal.stats().lastSeq;
  const thread = new ForwarderThread(ctx, journal);
  const cpu0 = process.cpuUsage();
  const kafka0 = cpuSeconds(kafkaPid()!);
  const t0 = performance.now();
  thread.start();
  while (thread.status().ackedThrough < last) await sleep(5);
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const kafkaS = cpuSeconds(kafkaPid()!) - kafka0;
  await thread.stop(1000);
  journal.close();
  const res = { records: N, wallS, perSec: N / wallS, cpuSecondsPer1M: cpuS / N * 1e6, kafkaCpuSecondsPer1M: kafkaS / N * 1e6 };
  log(`round ${r + 1}: ${Math.round(res.perSec).toLocaleString('en')} records/s, ${res.cpuSecondsPer1M.toFixed(1)} CPU-s per 1M (Kafka ${res.kafkaCpuSecondsPer1M.toFixed(1)})`);
  return res;
}

const { broker, pid } = await startKafka();
try {
  const runs = [];
  for (let r = 0; r < ROUNDS; r++) runs.push(await round(broker.brokers, pid, r));
  const out = { date: new Date().toISOString(), n: N, loadAverage: loadAverage(), runs };
  writeFileSync(join(REPO, 'bench/results/forward-drain.json'), `${JSON.stringify(out, null, 1)}\n`);
} finally {
  await broker.stop();
  killAll();
}
