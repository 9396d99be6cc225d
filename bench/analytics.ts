// Issue 4's benchmark: what edge analytics costs. 10,000 devices (100 MQTT clients ×
// 100 devices each), three metrics per reading, two windows per metric (1-minute and
// 5-minute tumbling, avg/max + the core aggregates, 10 s lateness; with --rule also a threshold rule),
// against the same gateway and the same readings with analytics.enabled: false — run in
// the same go, alternating, so the machine's noise hits both. Event times are simulated
// (a device's k-th reading at T0 + k × --period-ms, default 1 s), so windows open and close during the run.
//
//   npm run build && node --import tsx bench/analytics.ts [--n 300000] [--rounds 2] [--quick]
//
// Figures: gateway CPU-seconds per 1M readings with and without analytics (received →
// journaled → forwarded to Kafka, aggregates included), the ratio, RSS at 10,000 devices
// with every window key open, and heap per open window key. Results: bench/results/analytics.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { metric, REPO, sleep } from '../test/support/gateway.js';
import { distStale } from './dist.js';
import { startLoad } from './load.js';
import { benchDir, deployedEnv, deployedNodeFlags, killAll, startKafka, startWeir } from './peers.js';
import { cpuSeconds, loadAverage, memoryBreakdownMB, memoryMB, rssSampler, waitQuiet } from './procfs.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string' }, rounds: { type: 'string' }, quick: { type: 'boolean', default: false }, 'period-ms': { type: 'string', default: '1000' },
  // CPU profiles of every run (both threads) into bench/results/profiles/, for bench/prof-top.ts.
  profile: { type: 'boolean', default: false },
  // Adds a threshold rule on usage to the profile (the issue's shape is windows only).
  rule: { type: 'boolean', default: false },
  // Experiments only (results go to analytics-experiment.json): node flags after the unit's, extra
  // environment for the gateway (NAME=value,…), and which of the two configurations to run.
  'node-flags': { type: 'string' }, env: { type: 'string' }, only: { type: 'string' },
  // Also measure RSS again after this many seconds idle (V8's memory reducer starts after 8 s).
  'settle-s': { type: 'string', default: '0' },
  // Paced: readings per second across all devices (0: as fast as the gateway acknowledges).
  // 10,000 at --period-ms 1000 is the issue's site in real time: every device reports once a second.
  rate: { type: 'string', default: '0' },
} });
const EXPERIMENT = a['node-flags'] !== undefined || a.env !== undefined;
// NAME=value: split at the first '=' only, so values may contain '='.
const EXTRA_ENV = Object.fromEntries((a.env ?? '').split(',').filter(Boolean).map((kv) => {
  const at = kv.indexOf('=');
  if (at <= 0) throw new Error(`--env: "${kv}" is not NAME=value`);
  return [kv.slice(0, at), kv.slice(at + 1)];
}));
if (a.only !== undefined && a.only !== 'on' && a.only !== 'off') throw new Error(`--only: "${a.only}" is neither on nor off`);
const EXTRA_FLAGS = a['node-flags']?.split(/\s+/).filter(Boolean) ?? [];
const SETTLE_S = Number(a['settle-s']);
const RATE = Number(a.rate);
const N = Number(a.n ?? (a.quick ? 300_000 : 1_200_000));
/** Event time between one device's readings: 1 s (a CPU monitor's pace) by default; --period-ms 10000 closes windows 10x as often per reading. */
const PERIOD_MS = Number(a['period-ms']);
const ROUNDS = Number(a.rounds ?? (a.quick ? 1 : 2));
const CLIENTS = 100;
const PER_CLIENT = 100;
const log = (s: string) => console.error(s);

const PROFILE = `# The analytics benchmark's device: three metrics, two windows each (and with --rule, a threshold rule).
name: bench-3m
match: [{ protocol: mqtt, topic: bench-3m }]
decoder: { type: json }
device: { field: hostname }
time: { field: occurred_at, format: ms }
tags: { cpu: { field: cpu } }
metrics:
  usage: { field: usage, min: 0, max: 100 }
  temp: { field: temp }
  freq: { field: freq }
windows:
  - { name: w1m, type: tumbling, sizeMs: 60000, aggregates: [avg, max], allowedLatenessMs: 10000, groupByTags: [cpu] }
  - { name: w5m, type: tumbling, sizeMs: 300000, aggregates: [avg, max], allowedLatenessMs: 10000, groupByTags: [cpu] }
${a.rule ? 'rules:\n  - { name: usage-high, kind: threshold, metric: usage, above: 90, by: [cpu] }\n' : ''}samples:
  - payload: '{"hostname":"h-1-2","cpu":"cpu0","usage":1.5,"temp":40.1,"freq":1200,"occurred_at":1700000000000}'
    expect: [{ device: h-1-2, ts: 1700000000000, tags: { cpu: cpu0 }, metrics: { usage: 1.5, temp: 40.1, freq: 1200 } }]
`;

interface Run {
  analytics: boolean; readings: number; elapsedS: number; acksPerSec: number; cpuS: number; cpuSecondsPer1M: number;
  rssMB: number; peakRssMB: number; settledRssMB?: number; heapUsedMB: number; openWindows: number; aggregates: number; windowDevices: number;
  /** Where the RSS was right after the run: smaps (procfs.ts), and each isolate's V8 heap as the gateway reports it. */
  where: ReturnType<typeof memoryBreakdownMB> & { mainHeapTotalMB: number; forwarderHeapTotalMB: number; forwarderHeapUsedMB: number };
}

async function once(brokers: string, profileDir: string, analytics: boolean): Promise<Run> {
  // Node names each file CPU.<date>.<time>.<pid>.<thread>.<seq>: the run with analytics on is the later pid.
  const nodeArgs = [...(a.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(REPO, 'bench/results/profiles')}`] : []), ...EXTRA_FLAGS];
  const weir = await startWeir(brokers, { nodeArgs, env: EXTRA_ENV, config: { profiles: { bundled: false, dirs: [profileDir] }, analytics: { enabled: analytics } } });
  try {
    await waitQuiet([process.pid, weir.pid], 0.3, 120_000, log);
    const cpu0 = cpuSeconds(weir.pid);
    const load = startLoad({ port: weir.mqttPort, clients: CLIENTS, window: 32, count: N, rate: RATE, topic: 'bench-3m', devicesPerClient: PER_CLIENT, eventPeriodMs: PERIOD_MS });
    const rss = rssSampler(weir.pid, 500);
    const r = await load.result;
    await weir.allForwarded(N);
    const cpuS = cpuSeconds(weir.pid) - cpu0;
    const text = await weir.metricsText();
    const m = (name: string, labels = '') => metric(text, name, labels) ?? 0;
    const mem = rss.stop();
    const where = {
      ...memoryBreakdownMB(weir.pid), mainHeapTotalMB: m('weir_nodejs_heap_size_total_bytes') / 2 ** 20,
      forwarderHeapTotalMB: m('weir_forwarder_thread_heap_bytes', 'kind="total"') / 2 ** 20,
      forwarderHeapUsedMB: m('weir_forwarder_thread_heap_bytes', 'kind="used"') / 2 ** 20,
    };
    const status = (await weir.status()) as unknown as { analytics: { openWindows: number; windowDevices: number } | null };
    return {
      analytics, readings: r.acked, elapsedS: r.elapsedS, acksPerSec: r.acksPerSec, cpuS, cpuSecondsPer1M: (cpuS / N) * 1e6,
      rssMB: mem.endMB, peakRssMB: mem.maxMB, heapUsedMB: m('weir_nodejs_heap_size_used_bytes') / 2 ** 20,
      openWindows: status.analytics?.openWindows ?? 0, windowDevices: status.analytics?.windowDevices ?? 0,
      aggregates: m('weir_analytics_aggregates_total'), where,
      ...(SETTLE_S > 0 ? { settledRssMB: await settledRss(weir.pid) } : {}),
    };
  } finally {
    await weir.stop();
  }
}

/** RSS after SETTLE_S seconds with no readings: what holding 10,000 devices' state costs once the burst's garbage is collected. */
async function settledRss(pid: number): Promise<number> {
  await sleep(SETTLE_S * 1000);
  return memoryMB(pid).rss;
}

async function main(): Promise<void> {
  if (distStale()) throw new Error('dist/ is older than src/: run `npm run build` first');
  const dir = benchDir();
  const profileDir = join(dir, 'profiles');
  mkdirSync(profileDir, { recursive: true });
  writeFileSync(join(profileDir, 'bench-3m.yaml'), PROFILE);
  const { broker } = await startKafka();
  const runs: Run[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so a drift in the machine's load hits both alike.
      for (const on of (round % 2 === 0 ? [false, true] : [true, false]).filter((x) => a.only === undefined || a.only === (x ? 'on' : 'off'))) {
        const r = await once(broker.brokers, profileDir, on);
        log(`analytics ${on ? 'on ' : 'off'}: ${r.acksPerSec.toFixed(0)}/s, ${r.cpuSecondsPer1M.toFixed(1)} CPU-s/1M, RSS ${r.rssMB.toFixed(0)} MB (peak ${r.peakRssMB.toFixed(0)})${r.settledRssMB !== undefined ? ` (${r.settledRssMB.toFixed(0)} MB after ${SETTLE_S} s idle)` : ''}, heap ${r.heapUsedMB.toFixed(0)} MB, ${r.openWindows} open window keys, ${r.aggregates} aggregates`);
        const w = r.where;
        log(`  RSS right after: files ${w.file.toFixed(0)}, V8 pages ${w.v8Pages.toFixed(0)} (main heap ${w.mainHeapTotalMB.toFixed(0)}, forwarder thread ${w.forwarderHeapTotalMB.toFixed(0)} total / ${w.forwarderHeapUsedMB.toFixed(0)} used), malloc ${w.malloc.toFixed(0)}, other anonymous ${w.otherAnon.toFixed(0)} MB`);
        runs.push(r);
      }
    }
  } finally {
    await broker.stop();
  }
  const mean = (on: boolean, f: (r: Run) => number) => {
    const v = runs.filter((r) => r.analytics === on).map(f);
    return v.reduce((s, x) => s + x, 0) / v.length;
  };
  const cpuOff = mean(false, (r) => r.cpuSecondsPer1M);
  const cpuOn = mean(true, (r) => r.cpuSecondsPer1M);
  const on = runs.filter((r) => r.analytics);
  const rssOn = Math.max(...on.map((r) => r.rssMB));
  const heapPerKey = ((mean(true, (r) => r.heapUsedMB) - mean(false, (r) => r.heapUsedMB)) * 2 ** 20) / mean(true, (r) => r.openWindows);
  const result = {
    date: new Date().toISOString(), n: N, rounds: ROUNDS, eventPeriodMs: PERIOD_MS, thresholdRule: a.rule, nodeFlags: [...deployedNodeFlags(), ...EXTRA_FLAGS], env: { ...deployedEnv(), ...EXTRA_ENV }, aggregatesPerReading: mean(true, (r) => r.aggregates) / N, devices: CLIENTS * PER_CLIENT, metrics: 3, windowsPerMetric: 2,
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAverage: loadAverage() },
    runs,
    cpuSecondsPer1M: { off: cpuOff, on: cpuOn }, analyticsOverhead: cpuOn / cpuOff - 1,
    rssMBAt10kDevices: rssOn, peakRssMBAt10kDevices: Math.max(...on.map((r) => r.peakRssMB)),
    ...(SETTLE_S > 0 ? { settledRssMB: { off: Math.max(...runs.filter((r) => !r.analytics).map((r) => r.settledRssMB!)), on: Math.max(...on.map((r) => r.settledRssMB!)) } } : {}),
    heapBytesPerOpenWindowKey: heapPerKey,
  };
  writeFileSync(join(REPO, `bench/results/analytics${PERIOD_MS === 1000 ? '' : `-${PERIOD_MS}ms`}${a.rule ? '-rule' : ''}${RATE > 0 ? `-${RATE}rps` : ''}${EXPERIMENT || a.only ? '-experiment' : ''}.json`), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nEdge analytics — ${result.date}, ${N} readings from ${CLIENTS * PER_CLIENT} devices × 3 metrics × 2 windows${a.rule ? ' + a threshold rule' : ''}, node ${result.nodeFlags.join(' ')}, a reading per device every ${PERIOD_MS} ms of event time (${result.aggregatesPerReading.toFixed(3)} aggregates per reading), ${ROUNDS} round(s)`);
  // With --only, one side is not measured: say so rather than print NaN.
  const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'not measured');
  console.log(`CPU-s per 1M readings: without analytics ${fmt(cpuOff)}, with ${fmt(cpuOn)} → analytics adds ${fmt(100 * result.analyticsOverhead)} % (target ≤ 20 %)`);
  if (on.length === 0) return;
  console.log(`RSS at 10,000 devices, every window key open: ${rssOn.toFixed(0)} MB after the run, ${result.peakRssMBAt10kDevices.toFixed(0)} MB peak${result.settledRssMB ? `, ${result.settledRssMB.on.toFixed(0)} MB after ${SETTLE_S} s idle (off: ${result.settledRssMB.off.toFixed(0)})` : ''} (target ≤ 150 MB); ${on[0]?.openWindows} open window keys, heap ≈ ${fmt(heapPerKey, 0)} B per key`);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAll(); process.exit(130); });
main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
