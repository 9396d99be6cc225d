// The benchmark suite: Weir against its peers on this machine, as ratios.
//
//   npm run bench                              # everything, full size (~13 min)
//   npm run bench -- --only ingest,latency     # some scenarios (ingest, latency, drain, memory)
//   npm run bench -- --quick                   # scaled down, results in bench/results/quick.json
//   npm run bench -- --only drain --max-rate 20000   # skip measuring the max rate first
//   npm run bench -- --table                   # print the table of the last results again
//   --no-wait-quiet: do not wait for other processes to go quiet before each measurement
// Experiments (results in bench/results/experiment.json, never latest.json):
//   --profile  V8 CPU profile of each gateway into bench/results/profiles/ (read it with bench/prof-top.ts)
//   --nodelay  TCP_NODELAY on the gateway's sockets;  --commit-ms N  journal.commitIntervalMs = N
//   --node-flags="--max-semi-space-size=4 …"  V8/Node flags for the gateway (the = is needed)
//
// Runs the built gateway (dist/): `npm run build` first. See bench/README.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO } from '../test/support/gateway.js';
import { distStale } from './dist.js';
import { drain, memory } from './outage.js';
import { benchDir, killAll, startKafka } from './peers.js';
import { fsType, loadAverage, waitQuiet } from './procfs.js';
import { printTable } from './report.js';
import { ingest, latency, weirIngest, type Ctx } from './throughput.js';

const { values: a } = parseArgs({
  options: {
    only: { type: 'string', default: 'ingest,latency,drain,memory' }, quick: { type: 'boolean', default: false },
    n: { type: 'string' }, clients: { type: 'string', default: '100' }, window: { type: 'string', default: '32' },
    'latency-s': { type: 'string' }, 'latency-repeat': { type: 'string' }, 'outage-s': { type: 'string' }, backlog: { type: 'string' },
    'many-clients': { type: 'string', default: '1000' }, 'max-rate': { type: 'string' }, profile: { type: 'boolean', default: false },
    'no-wait-quiet': { type: 'boolean', default: false }, nodelay: { type: 'boolean', default: false }, 'commit-ms': { type: 'string' },
    'node-flags': { type: 'string' }, table: { type: 'boolean', default: false },
  },
});
const q = a.quick;
const opt = {
  n: Number(a.n ?? (q ? 50_000 : 300_000)), latencyS: Number(a['latency-s'] ?? (q ? 8 : 20)), latencyRepeat: Number(a['latency-repeat'] ?? (q ? 1 : 3)),
  outageS: Number(a['outage-s'] ?? (q ? 10 : 60)), backlog: Number(a.backlog ?? (q ? 100_000 : 1_000_000)),
  manyClients: Number(a['many-clients']),
};
const scenarios = new Set(a.only!.split(','));
const log = (s: string) => console.error(s);
// Experiments change the gateway, so their figures never land in latest.json.
const experiment = a.profile || a.nodelay || a['commit-ms'] !== undefined || a['node-flags'] !== undefined;
const RESULTS = join(REPO, 'bench/results', experiment ? 'experiment.json' : q ? 'quick.json' : 'latest.json');
const PROFILE_DIR = join(REPO, 'bench/results/profiles');

function meta() {
  const git = (args: string[]) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout.trim();
  return {
    date: new Date().toISOString(), quick: q, options: opt, experiment: { profile: a.profile, nodelay: a.nodelay, commitMs: a['commit-ms'], nodeFlags: a['node-flags'] }, clients: Number(a.clients), window: Number(a.window),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGB: Math.round(totalmem() / 2 ** 30), node: process.version,
      mosquitto: spawnSync('mosquitto', ['-h'], { encoding: 'utf8' }).stdout.split('\n')[0], benchDirFs: fsType(process.env.WEIR_BENCH_DIR ?? '/tmp') },
    commit: git(['rev-parse', '--short', 'HEAD']), uncommittedSrcFiles: git(['status', '--porcelain', 'src']).split('\n').filter(Boolean).length,
    loadAverageAtStart: loadAverage(),
  };
}

async function main(): Promise<void> {
  if (a.table) return printTable(JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>); // reprint, run nothing
  if (!existsSync(join(REPO, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  if (distStale()) log('warning: src/ is newer than dist/ — `npm run build` to bench the current code');
  rmSync(benchDir(), { recursive: true }); // fails early on tmpfs
  const results: Record<string, unknown> = { meta: meta() };
  log(`load average ${loadAverage()}; starting Kafka…`);
  const { broker, pid: kafkaPid } = await startKafka();
  // Before each measurement, wait (≤ 10 min) for other users' processes to go quiet.
  const quiet = async (pids: number[]) => a['no-wait-quiet'] ? 0 : waitQuiet([process.pid, kafkaPid() ?? 0, ...pids], 0.3, 600_000, log);
  const weir: Ctx['weir'] = { nodeArgs: [] };
  if (a.profile) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    weir.nodeArgs!.push('--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`); // Node 20 refuses --cpu-prof in NODE_OPTIONS
  }
  if (a.nodelay) weir.nodeArgs!.push('--import', join(REPO, 'bench/nodelay-preload.mjs'));
  if (a['commit-ms'] !== undefined) weir.commitIntervalMs = Number(a['commit-ms']);
  if (a['node-flags']) weir.nodeArgs!.push(...a['node-flags'].split(/\s+/).filter(Boolean));
  const ctx: Ctx = { brokers: broker.brokers, kafkaPid, clients: Number(a.clients), window: Number(a.window), log, quiet, weir };
  try {
    let maxRate = a['max-rate'] ? Number(a['max-rate']) : undefined;
    if (scenarios.has('ingest')) {
      log(`ingest: ${opt.n} readings, ${ctx.clients} clients, window ${ctx.window}`);
      const r = await ingest(ctx, opt.n);
      results.ingest = r;
      maxRate ??= r.weir.endToEndPerSec;
    }
    const needsMax = ['latency', 'drain'].some((s) => scenarios.has(s));
    if (needsMax && maxRate === undefined) {
      log('measuring Weir\'s max end-to-end rate for the paced scenarios…');
      maxRate = (await weirIngest(ctx, Math.min(opt.n, 150_000))).endToEndPerSec;
    }
    if (scenarios.has('latency')) {
      log(`latency: 20 % and 50 % of ${Math.round(maxRate!)}/s, ${opt.latencyS} s each, ${opt.latencyRepeat} times`);
      results.latency = await latency(ctx, maxRate!, opt.latencyS, opt.latencyRepeat);
    }
    if (scenarios.has('drain')) {
      log(`drain: 50 % load, Kafka stopped for ${opt.outageS} s`);
      results.drain = await drain(ctx, broker, maxRate!, opt.outageS);
    }
    if (scenarios.has('memory')) {
      log(`memory: idle, ${opt.manyClients} clients, backlog of ${opt.backlog}`);
      results.memory = await memory(ctx, broker, opt.backlog, opt.manyClients);
    }
  } finally {
    await broker.destroy().catch(() => undefined);
    killAll();
  }
  (results.meta as Record<string, unknown>).loadAverageAtEnd = loadAverage();
  // Scenarios not run this time keep their previous figures, each with its own meta.
  const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {};
  const merged: Record<string, unknown> = { ...previous };
  for (const [k, v] of Object.entries(results)) if (k !== 'meta') merged[k] = { ...(v as object), meta: results.meta };
  mkdirSync(join(REPO, 'bench/results'), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(merged, null, 2) + '\n');
  printTable(merged);
  log(`\nraw results: ${RESULTS}`);
}

// Ctrl-C: kill every child (Weir, Mosquitto, generators, the Kafka JVM) before leaving.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAll(); process.exit(130); });

main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
