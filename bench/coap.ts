// CoAP benchmark (issue 3): Confirmable ingest rate and latency with many client
// endpoints, Weir (durable: journal synchronous=FULL, forwarded to a real Kafka) against
// libcoap's coap-server (in memory, nothing durable) on the same machine, in the same run.
//
//   npm run build                                  # the bench runs dist/, as deployed
//   node --import tsx bench/coap.ts                # full (~4 min), into bench/results/coap.json ("full")
//   node --import tsx bench/coap.ts --quick        # scaled down (~1 min), same file ("quick")
//   node --import tsx bench/coap.ts --table        # reprint the last full table (--quick --table: the quick one)
//   --clients 256 --window 1 --weir-s 15 --libcoap-s 8 --paced-s 20 --no-wait-quiet
//
// Scenarios (bench/coap-load.ts is the generator, its own process):
//   max rate   flat out for a few seconds, every endpoint keeping `window` CON POSTs
//              outstanding: libcoap, Weir, libcoap again (full run; the reference is the
//              mean). The rate is 2.xx responses/s in the steady window (after 1 s of
//              ramp-up, until sending stops: not the tail of retransmissions); for Weir
//              each 2.04 follows the journal commit, and the end-to-end rate is readings
//              Kafka acknowledged per second over the same window.
//   latency    paced at 20 % and 50 % of Weir's max rate, on a fresh server each time,
//              Weir and libcoap at the same offered rates: send → response p50/p99/max.
// See bench/README.md ("CoAP").
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { ConfigInput } from '../src/config/schema.js';
import { freePort, getJson, getText, metric, REPO, sleep } from '../test/support/gateway.js';
import { distStale } from './dist.js';
import { benchDir, createBenchTopics, deployedEnv, deployedNodeFlags, killAll, spawnTracked, startKafka, stopChild } from './peers.js';
import { CpuMeter, fsType, loadAverage, rssSampler, waitQuiet } from './procfs.js';

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false }, table: { type: 'boolean', default: false },
    clients: { type: 'string', default: '256' }, window: { type: 'string', default: '1' },
    'weir-s': { type: 'string' }, 'libcoap-s': { type: 'string' }, 'paced-s': { type: 'string' },
    'no-wait-quiet': { type: 'boolean', default: false },
  },
});
const q = a.quick;
const opt = {
  clients: Number(a.clients), window: Number(a.window),
  /** Flat-out runs: seconds of sending (the first `flatSkipS` are ramp-up), after a warm-up run of `warmup` requests. */
  weirS: Number(a['weir-s'] ?? (q ? 4 : 15)), libcoapS: Number(a['libcoap-s'] ?? (q ? 3 : 8)), flatSkipS: 1,
  warmup: q ? 3_000 : 20_000, libcoapWarmup: q ? 3_000 : 10_000,
  /** Paced runs: `skipS` of warm-up (not counted), then `pacedS` measured. */
  pacedS: Number(a['paced-s'] ?? (q ? 3 : 20)), skipS: q ? 2 : 3,
};
const T0 = Date.now();
const log = (s: string) => console.error(`[${String(Math.round((Date.now() - T0) / 1000)).padStart(3)} s] ${s}`);
const RESULTS = join(REPO, 'bench/results/coap.json');
const KEY = q ? 'quick' : 'full';
/** RFC 7252 §4.8.2: a Message ID may be reused by an endpoint only after EXCHANGE_LIFETIME. */
const PER_ENDPOINT_MAX = 65_536 / 247;
const PATH = 'iot-data-input';

// ───────────── peers ─────────────

/** libcoap's example server: Debian ships it as coap-server-{notls,gnutls,openssl}. */
const LIBCOAP_BIN = ['coap-server', 'coap-server-notls', 'coap-server-openssl', 'coap-server-gnutls']
  .find((b) => !spawnSync('which', [b], { stdio: 'ignore' }).status) ?? 'coap-server-notls';

interface CoapPeer { name: 'weir' | 'libcoap'; pid: number; coapPort: number; stop(): Promise<void> }

interface WeirPeer extends CoapPeer {
  name: 'weir'; httpPort: number;
  forwarded(): Promise<number>;
  metricsText(): Promise<string>;
  coapStatus(): Promise<Record<string, unknown>>;
}

/** A port free for both UDP and TCP on 127.0.0.1 (coap-server also listens on TCP). */
async function freeUdpPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => { s.close(); resolve(false); });
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free UDP port');
}

/** A CoAP ping (empty CON, §4.3): true when the server answers with RST. */
function coapPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (v: boolean) => { clearTimeout(t); s.close(); resolve(v); };
    const t = setTimeout(() => done(false), 300);
    s.on('message', (m) => done(m.length >= 4 && ((m[0]! >> 4) & 3) === 3));
    s.on('error', () => done(false));
    s.send(Buffer.from([0x40, 0x00, 0x12, 0x34]), port, '127.0.0.1');
  });
}

/**
 * libcoap's coap-server on 127.0.0.1. `-d 10` lets a POST/PUT to an unknown path create
 * a dynamic resource (2.01 once, then 2.04), so it takes the very same POST
 * /iot-data-input as Weir; without -d only PUT /example_data is accepted. The resource
 * keeps the last payload in memory: nothing is durable.
 */
async function startLibcoap(): Promise<CoapPeer> {
  const port = await freeUdpPort();
  const child = spawnTracked(LIBCOAP_BIN, ['-A', '127.0.0.1', '-p', String(port), '-d', '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const keep = (b: Buffer) => (err = (err + b.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || i > 100) throw new Error(`${LIBCOAP_BIN} did not start: ${err}`);
    if (await coapPing(port)) break;
    await sleep(50);
  }
  return { name: 'libcoap', pid: child.pid!, coapPort: port, stop: () => stopChild(child, 5000) };
}

/**
 * `weir run` (dist/) as bench/peers.ts starts it — fresh journal on a real disk, its own
 * topics (6 partitions, LogAppendTime), defaults everywhere else (journal FULL, 2 ms
 * group commit, default Kafka client) — but with the CoAP server on 127.0.0.1.
 */
async function startWeir(brokers: string): Promise<WeirPeer> {
  const dir = benchDir();
  const prefix = `benchcoap${randomBytes(3).toString('hex')}`;
  const topics = { readings: `${prefix}.readings`, aggregates: `${prefix}.aggregates`, alerts: `${prefix}.alerts`,
    deadletter: `${prefix}.deadletter`, status: `${prefix}.status` };
  await createBenchTopics(brokers, Object.values(topics));
  const [mqttPort, httpPort, coapPort] = [await freePort(), await freePort(), await freeUdpPort()];
  const config: ConfigInput = {
    gateway: { id: `gw-${prefix}`, statusIntervalSeconds: 0 },
    dataDir: join(dir, 'data'),
    mqtt: { host: '127.0.0.1', port: mqttPort },
    coap: { enabled: true, host: '127.0.0.1', port: coapPort },
    http: { host: '127.0.0.1', port: httpPort },
    kafka: { brokers: brokers.split(','), topics, partitions: 6 },
    log: { level: 'warn' },
  };
  const configFile = join(dir, 'weir.yaml');
  writeFileSync(configFile, stringify(config));
  const logFile = join(dir, 'weir.log');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawnTracked(process.execPath, [...deployedNodeFlags(), join(REPO, 'bin/weir.js'), 'run', '-c', configFile], { stdio: ['ignore', fd, fd], env: { ...process.env, ...deployedEnv() } });
  closeSync(fd);
  const deadline = Date.now() + 30_000;
  while ((await getJson(httpPort, '/readyz').catch(() => null))?.status !== 'ready') {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`weir run did not start:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    await sleep(50);
  }
  if (!(await coapPing(coapPort))) throw new Error('Weir does not answer a CoAP ping');
  return {
    name: 'weir', pid: child.pid!, coapPort, httpPort,
    forwarded: async () => metric(await getText(httpPort, '/metrics'), 'weir_records_forwarded_total', 'stream="readings"') ?? 0,
    metricsText: () => getText(httpPort, '/metrics'),
    coapStatus: async () => ((await getJson(httpPort, '/api/status')).sources as Record<string, Record<string, unknown>>)?.coap ?? {},
    stop: async () => {
      const tail = readFileSync(logFile, 'utf8').trim();
      if (tail) weirLogTail.push(tail.slice(-2000));
      await stopChild(child, 30_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
/** Whatever Weir logged at warn or above during the run. */
const weirLogTail: string[] = [];

// ───────────── the generator ─────────────

interface LoadResult {
  clients: number; window: number; rate: number; sent: number; ok: number; responses: number; codes: Record<string, number>;
  startedAt: number; elapsedS: number; okPerSec: number; payloadBytes: number; cpuS: number;
  steady: { from: number; to: number; s: number; ok: number; okPerSec: number };
  retransmissions: number; retransmittedRequests: number; timeouts: number; unanswered: number; emptyAcks: number;
  separate: number; separateCon: number; separateLost: number; resets: number; duplicateResponses: number;
  unmatched: number; tokenMismatch: number; midStalls: number; sendErrors: number;
  latencyMs: { p50: number; p99: number; p999: number; max: number; counted: number };
}
interface Tick { at: number; sent: number; ok: number; okRate: number; sendRate: number; retransmissions: number; inflight: number }

function startLoad(o: { port: number; count?: number; durationS?: number; rate?: number; skipS?: number }) {
  const args = ['--port', String(o.port), '--clients', String(opt.clients), '--window', String(opt.window), '--rate', String(o.rate ?? 0), '--path', PATH];
  if (o.count !== undefined) args.push('--count', String(Math.round(o.count)));
  if (o.durationS !== undefined) args.push('--duration', String(o.durationS));
  if (o.skipS !== undefined) args.push('--skip-s', String(o.skipS));
  const child = spawnTracked(process.execPath, ['--import', 'tsx', join(REPO, 'bench/coap-load.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const ticks: Tick[] = [];
  let onReady!: () => void, onResult!: (r: LoadResult) => void, fail!: (e: Error) => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const result = new Promise<LoadResult>((res, rej) => { onResult = res; fail = rej; });
  let got = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as { t: string } & Tick & LoadResult;
    if (m.t === 'ready') onReady();
    else if (m.t === 'tick') ticks.push(m);
    else if (m.t === 'result') { got = true; onResult(m); }
  });
  child.once('exit', (code) => { if (!got) fail(new Error(`coap-load exited (${code}) without a result:\n${stderr}`)); });
  result.catch(() => undefined);
  return { pid: child.pid!, ticks, ready: Promise.race([ready, result.then(() => undefined)]), result };
}

// ───────────── measurements ─────────────

let kafkaPid: () => number | undefined = () => undefined;

/** No other benchmark may run meanwhile (it would ruin both): poll every 30 s until none does. */
async function waitForOtherBenches(): Promise<void> {
  for (let told = false; ; told = true) {
    const r = spawnSync('pgrep', ['-af', 'bench/run.ts|bench/decoders.ts'], { encoding: 'utf8' });
    const others = r.stdout.split('\n').filter((l) => l && !l.startsWith(`${process.pid} `));
    if (others.length === 0) return;
    if (!told) log(`  another benchmark is running (${others.map((l) => l.slice(0, 80)).join('; ')}); waiting…`);
    await sleep(30_000);
  }
}

/** Before each measurement: no other benchmark, and the rest of the machine quiet (< 0.3 cores). */
async function quiet(pids: number[]): Promise<number> {
  await waitForOtherBenches();
  return a['no-wait-quiet'] ? 0 : waitQuiet([process.pid, kafkaPid() ?? 0, ...pids], 0.3, 600_000, log);
}

/**
 * Datagrams the kernel dropped at a 127.0.0.1 UDP socket because its receive buffer was
 * full (the `drops` column of /proc/net/udp, by local port): each is a request the
 * client has to retransmit after ACK_TIMEOUT (2–3 s).
 */
function udpDrops(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === `0100007F:${hexPort}`) return Number(f.at(-1));
  }
  return NaN;
}

/** Event-loop delay since the previous scrape (prom-client resets it on each) and V8 heap, from /metrics. */
function runtimeStats(text: string) {
  const num = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const late = (name: string) => Math.max(0, num(`weir_nodejs_eventloop_lag_${name}_seconds`) * 1000 - 10); // beyond its 10 ms tick
  let heapUsed = 0;
  for (const m of text.matchAll(/^weir_nodejs_heap_space_size_used_bytes\{[^}]*\} (\S+)$/gm)) heapUsed += Number(m[1]);
  return {
    forwarded: metric(text, 'weir_records_forwarded_total', 'stream="readings"') ?? 0,
    lagP99Ms: late('p99'), lagMaxMs: late('max'), heapUsedMB: heapUsed / 2 ** 20,
  };
}

const summary = (r: LoadResult) => ({
  okPerSec: r.steady.okPerSec, steady: r.steady, okPerSecWithTail: r.okPerSec, elapsedS: r.elapsedS, sent: r.sent, ok: r.ok,
  codes: r.codes, latencyMs: r.latencyMs, retransmissions: r.retransmissions, retransmittedRequests: r.retransmittedRequests,
  timeouts: r.timeouts, unanswered: r.unanswered, separate: r.separate, emptyAcks: r.emptyAcks, resets: r.resets,
  duplicateResponses: r.duplicateResponses, unmatched: r.unmatched, midStalls: r.midStalls, sendErrors: r.sendErrors,
  generatorCpuS: r.cpuS, generatorCores: r.cpuS / r.elapsedS,
});

function generatorCheck(r: LoadResult, what: string): void {
  const bad = r.sent - r.ok;
  if (bad > 0 || r.retransmissions > 0 || r.separate > 0) {
    log(`  ${what}: ${bad} not 2.xx (codes ${JSON.stringify(r.codes)}, timeouts ${r.timeouts}, unanswered ${r.unanswered}), ` +
      `${r.retransmissions} retransmissions, ${r.separate} separate responses`);
  }
}

/** One measured run against libcoap: its CPU, the generator's, and the drops at its socket. */
async function libcoapRun(peer: CoapPeer, load: { durationS?: number; count?: number; rate?: number; skipS: number }) {
  const othersBefore = await quiet([peer.pid]);
  const drops0 = udpDrops(peer.coapPort);
  const run = startLoad({ port: peer.coapPort, ...load });
  await run.ready;
  const cpu = new CpuMeter({ libcoap: peer.pid, bench: process.pid }, [run.pid]);
  const rss = rssSampler(peer.pid);
  const r = await run.result;
  const cpuS = cpu.read({ generator: r.cpuS });
  generatorCheck(r, `libcoap${load.rate ? ` paced ${load.rate}/s` : ''}`);
  return { ...summary(r), cpuS, otherCpu: cpu.otherTop, othersBefore, rss: rss.stop(), udpDrops: udpDrops(peer.coapPort) - drops0,
    cpuSecondsPer1M: (cpuS.libcoap! / r.ok) * 1e6, generatorCpuSecondsPer1M: (r.cpuS / r.ok) * 1e6, libcoapCores: cpuS.libcoap! / r.elapsedS, ticks: run.ticks };
}

/** libcoap flat out for `durationS`, after a warm-up, on a fresh server. */
async function libcoapMax(durationS: number) {
  const peer = await startLibcoap();
  try {
    await startLoad({ port: peer.coapPort, count: opt.libcoapWarmup }).result;
    const run = await libcoapRun(peer, { durationS, skipS: opt.flatSkipS });
    log(`  libcoap: ${Math.round(run.okPerSec)} 2.xx/s, p50/p99 ${run.latencyMs.p50}/${run.latencyMs.p99} ms, ${run.udpDrops} datagrams dropped at its socket; ` +
      `generator ${run.generatorCores.toFixed(2)} cores, libcoap ${run.libcoapCores.toFixed(2)} cores`);
    return run;
  } finally {
    await peer.stop();
  }
}

/** Waits until Kafka acknowledged `want` readings (Weir's forwarded counter). */
async function forwardedAtLeast(weir: WeirPeer, want: number, poll = 50): Promise<number> {
  const deadline = Date.now() + 300_000;
  while ((await weir.forwarded()) < want) {
    if (Date.now() > deadline) throw new Error(`Weir did not forward ${want} readings within 5 min`);
    await sleep(poll);
  }
  return Date.now();
}

/** Linear interpolation of a counter sampled as [epoch ms, value] at time `t`. */
function at(samples: Array<[number, number]>, t: number): number {
  for (let i = 1; i < samples.length; i++) {
    const [t1, v1] = samples[i]!, [t0, v0] = samples[i - 1]!;
    if (t1 >= t) return t1 === t0 ? v1 : v0 + ((v1 - v0) * (t - t0)) / (t1 - t0);
  }
  return samples.at(-1)?.[1] ?? NaN;
}

/**
 * One measured run against Weir. /metrics is scraped every 500 ms meanwhile: readings
 * forwarded (for the end-to-end rate over the generator's steady window) and the
 * event-loop delay of each 500 ms. CPU is metered from the moment every endpoint is
 * open until Kafka acknowledged the last reading.
 */
async function weirRun(weir: WeirPeer, load: { durationS?: number; count?: number; rate?: number; skipS: number }) {
  const othersBefore = await quiet([weir.pid]);
  const base = await weir.forwarded();
  const status0 = await weir.coapStatus();
  const drops0 = udpDrops(weir.coapPort);
  const run = startLoad({ port: weir.coapPort, ...load });
  await run.ready;
  const cpu = new CpuMeter({ weir: weir.pid, kafka: kafkaPid(), bench: process.pid }, [run.pid]);
  const rss = rssSampler(weir.pid);
  runtimeStats(await weir.metricsText()); // resets the event-loop delay histogram
  const samples: Array<[number, number]> = [[Date.now(), base]];
  const lag: Array<{ p99: number; max: number }> = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await sleep(500);
      const s = runtimeStats(await weir.metricsText());
      samples.push([Date.now(), s.forwarded]);
      lag.push({ p99: s.lagP99Ms, max: s.lagMaxMs });
    }
  })();
  const r = await run.result;
  polling = false;
  await poller;
  const forwardedAt = await forwardedAtLeast(weir, base + r.ok);
  const cpuS = cpu.read({ generator: r.cpuS });
  const mem = rss.stop();
  const udp = udpDrops(weir.coapPort) - drops0;
  await sleep(1000);
  const after = runtimeStats(await weir.metricsText());
  const status1 = await weir.coapStatus();
  const d = (k: string) => Number(status1[k] ?? NaN) - Number(status0[k] ?? NaN);
  const p99s = lag.map((l) => l.p99).sort((x, y) => x - y);
  generatorCheck(r, `weir${load.rate ? ` paced ${load.rate}/s` : ''}`);
  return {
    ...summary(r), cpuS, otherCpu: cpu.otherTop, othersBefore, rss: mem, heapUsedMBAfter: after.heapUsedMB, udpDrops: udp,
    // Readings Kafka acknowledged per second over the generator's steady window.
    endToEndPerSec: (at(samples, r.steady.to) - at(samples, r.steady.from)) / r.steady.s,
    // From the first request until Kafka had all of them (retransmission tail included).
    allForwardedS: (forwardedAt - r.startedAt) / 1000,
    // More forwarded than 2.04s answered would be a request journaled twice (a retransmission not recognised as a duplicate).
    extraForwarded: after.forwarded - base - r.ok,
    eventLoopDelayMs: { medianP99: p99s[Math.floor(p99s.length / 2)] ?? NaN, maxP99: p99s.at(-1) ?? NaN, max: Math.max(...lag.map((l) => l.max)) },
    coapStatus: { datagrams: d('datagrams'), requests: d('requests'), duplicates: d('duplicates'), responses: status1.responses },
    cpuSecondsPer1M: (cpuS.weir! / r.ok) * 1e6, generatorCpuSecondsPer1M: (r.cpuS / r.ok) * 1e6, kafkaCpuSecondsPer1M: ((cpuS.kafka ?? NaN) / r.ok) * 1e6,
    weirCores: cpuS.weir! / ((forwardedAt - r.startedAt) / 1000), ticks: run.ticks,
  };
}

/** Weir flat out for `durationS` after a warm-up: its max 2.04 rate, end-to-end rate, CPU per 1M, memory. */
async function weirMax(brokers: string, durationS: number) {
  const weir = await startWeir(brokers);
  try {
    const warm = await startLoad({ port: weir.coapPort, count: opt.warmup }).result;
    await forwardedAtLeast(weir, warm.ok);
    await sleep(1000);
    const w = await weirRun(weir, { durationS, skipS: opt.flatSkipS });
    log(`  weir: ${Math.round(w.okPerSec)} 2.04/s (end to end ${Math.round(w.endToEndPerSec)}/s), p50/p99 ${w.latencyMs.p50}/${w.latencyMs.p99} ms, ` +
      `${w.udpDrops} datagrams dropped at its socket, ${w.cpuSecondsPer1M.toFixed(1)} CPU-s/1M, RSS ${w.rss.startMB.toFixed(0)}→${w.rss.endMB.toFixed(0)} MB; ` +
      `generator ${w.generatorCores.toFixed(2)} cores`);
    return w;
  } finally {
    await weir.stop();
  }
}

/** One paced run on a fresh server; the first `skipS` seconds are warm-up, not counted. */
async function paced(brokers: string, name: 'weir' | 'libcoap', rate: number) {
  const load = { count: rate * (opt.pacedS + opt.skipS), rate, skipS: opt.skipS };
  const peer = name === 'weir' ? await startWeir(brokers) : await startLibcoap();
  try {
    const r = peer.name === 'weir' ? await weirRun(peer as WeirPeer, load) : await libcoapRun(peer, load);
    return { ...r, offeredPerSec: rate };
  } finally {
    await peer.stop();
  }
}


// ───────────── report ─────────────

/* eslint-disable @typescript-eslint/no-explicit-any -- the results are the JSON written above */
const f = (n: number | undefined, d = 0) =>
  n === undefined || n === null || !Number.isFinite(n) ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const x = (n: number) => (Number.isFinite(n) ? `${f(n, 2)}×` : '—');

function printTable(res: Record<string, any>): void {
  const { meta, libcoap, weir, pacedRuns } = res;
  const l0 = libcoap.before;
  const mean = (k: string) => (libcoap.after ? (l0[k] + libcoap.after[k]) / 2 : l0[k]);
  const lat = (l: any) => `${f(l.p50, 1)} / ${f(l.p99, 1)} / ${f(l.max, 1)}`;
  const rows: string[][] = [['figure', 'Weir (durable, → Kafka)', 'libcoap coap-server (in memory)', 'Weir / libcoap']];
  rows.push([`Max rate, 2.xx responses/s (${meta.clients} endpoints × window ${meta.window}, CON POST, flat out)`, f(weir.okPerSec),
    `${f(libcoap.okPerSec)}${libcoap.after ? ` (${f(l0.okPerSec)} before, ${f(libcoap.after.okPerSec)} after)` : ''}`, x(weir.okPerSec / libcoap.okPerSec)]);
  rows.push(['  Weir end to end: readings Kafka acknowledged (acks=all) per s', f(weir.endToEndPerSec), '', x(weir.endToEndPerSec / libcoap.okPerSec)]);
  rows.push(['  latency at max rate, p50 / p99 / max ms', lat(weir.latencyMs), lat(l0.latencyMs), `${x(weir.latencyMs.p99 / l0.latencyMs.p99)} (p99)`]);
  rows.push(['  datagrams dropped at the server socket (full receive buffer) / retransmissions', `${f(weir.udpDrops)} / ${f(weir.retransmissions)}`,
    `${f(l0.udpDrops)} / ${f(l0.retransmissions)}${libcoap.after ? `; after: ${f(libcoap.after.udpDrops)} / ${f(libcoap.after.retransmissions)}` : ''}`, '']);
  rows.push(['CPU-seconds per 1M requests (server process, max-rate run)', f(weir.cpuSecondsPer1M, 1), f(mean('cpuSecondsPer1M'), 1), x(weir.cpuSecondsPer1M / mean('cpuSecondsPer1M'))]);
  rows.push(['  Weir on a Pi 4 / Pi 5 (≈ 10× / 3.3×); Kafka JVM per 1M', `${f(weir.cpuSecondsPer1M * 10)} / ${f(weir.cpuSecondsPer1M / 0.3)}; ${f(weir.kafkaCpuSecondsPer1M, 1)}`, '', '']);
  rows.push(['  generator: CPU-s per 1M / cores used', `${f(weir.generatorCpuSecondsPer1M, 1)} / ${f(weir.generatorCores, 2)}`,
    `${f(l0.generatorCpuSecondsPer1M, 1)} / ${f(l0.generatorCores, 2)}`, '']);
  for (const p of pacedRuns) {
    rows.push([`Paced at ${p.fraction * 100} % of Weir's max (${f(p.rate)}/s), p50 / p99 / max ms`, lat(p.weir.latencyMs), lat(p.libcoap.latencyMs),
      `${x(p.weir.latencyMs.p50 / p.libcoap.latencyMs.p50)} (p50), ${x(p.weir.latencyMs.p99 / p.libcoap.latencyMs.p99)} (p99)`]);
  }
  const all = [weir, ...pacedRuns.map((p: any) => p.weir)];
  const sum = (k: string) => all.reduce((n: number, w: any) => n + (w[k] ?? 0), 0);
  rows.push(['Weir, all runs: retransmissions / timeouts / separate responses / non-2.xx / journaled twice',
    `${sum('retransmissions')} / ${sum('timeouts')} / ${sum('separate')} / ${all.reduce((n: number, w: any) => n + w.sent - w.ok, 0)} / ${sum('extraForwarded')}`, '', '']);
  const last = pacedRuns.at(-1)?.weir;
  rows.push(['Server RSS, MB: max-rate run start → end (peak); 50 % run start → end',
    `${f(weir.rss.startMB)} → ${f(weir.rss.endMB)} (${f(weir.rss.maxMB)}); ${last ? `${f(last.rss.startMB)} → ${f(last.rss.endMB)}` : '—'}`,
    `${f(l0.rss.startMB, 1)} → ${f(l0.rss.endMB, 1)}; ${pacedRuns.at(-1) ? `${f(pacedRuns.at(-1).libcoap.rss.startMB, 1)} → ${f(pacedRuns.at(-1).libcoap.rss.endMB, 1)}` : '—'}`, '']);
  // Every request's response stays in memory for the exchange lifetime (see bench/README.md): growth per request, paced runs.
  const kb = pacedRuns.map((p: any) => ((p.weir.rss.endMB - p.weir.rss.startMB) * 1024) / p.weir.sent);
  rows.push(['  Weir RSS growth per request, KB (20 % / 50 % runs)', kb.map((k: number) => f(k, 1)).join(' / '), '', '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\nCoAP — ${meta.date} (${meta.quick ? 'quick' : 'full'}), commit ${meta.commit}, ${meta.machine.cores} × ${meta.machine.cpu}, ${meta.libcoap}`);
  console.log(line(rows[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
}

// ───────────── main ─────────────

function meta() {
  const git = (args: string[]) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout.trim();
  const v = spawnSync(LIBCOAP_BIN, ['-h'], { encoding: 'utf8' });
  return {
    date: new Date().toISOString(), quick: q, options: opt, clients: opt.clients, window: opt.window,
    sustainableRateByMessageIds: Math.floor(opt.clients * PER_ENDPOINT_MAX),
    libcoap: `${LIBCOAP_BIN} ${/v\d+\.\d+\.\d+/.exec(v.stdout + v.stderr)?.[0] ?? '?'}`,
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGB: Math.round(totalmem() / 2 ** 30), node: process.version,
      benchDirFs: fsType(process.env.WEIR_BENCH_DIR ?? '/tmp') },
    commit: git(['rev-parse', '--short', 'HEAD']), uncommittedSrcFiles: git(['status', '--porcelain', 'src']).split('\n').filter(Boolean).length,
    loadAverageAtStart: loadAverage(),
  };
}

async function main(): Promise<void> {
  const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {};
  if (a.table) {
    if (!previous[KEY]) throw new Error(`no ${KEY} results in ${RESULTS}`);
    return printTable(previous[KEY] as Record<string, unknown>);
  }
  if (!existsSync(join(REPO, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  if (distStale()) log('warning: src/ is newer than dist/ — `npm run build` to bench the current code');
  const needed = opt.clients * opt.window;
  if (opt.clients < 1 || opt.window < 1) throw new Error('--clients and --window must be ≥ 1');
  rmSync(benchDir(), { recursive: true }); // fails early on tmpfs
  await waitForOtherBenches();
  const m = meta();
  log(`CoAP bench (${KEY}): ${opt.clients} endpoints × window ${opt.window} (${needed} outstanding at most; Message IDs allow ` +
    `${m.sustainableRateByMessageIds}/s sustained), ${m.libcoap}; load average ${loadAverage()}; starting Kafka…`);
  const { broker, pid } = await startKafka();
  kafkaPid = pid;
  const results: Record<string, unknown> = { meta: m };
  try {
    log(`max rate: libcoap, flat out for ${opt.libcoapS} s`);
    const before = await libcoapMax(opt.libcoapS);
    log(`max rate: weir, flat out for ${opt.weirS} s (after ${opt.warmup} requests of warm-up)`);
    const weir = await weirMax(broker.brokers, opt.weirS);
    let after: Awaited<ReturnType<typeof libcoapMax>> | undefined;
    if (!q) {
      log('max rate: libcoap again');
      after = await libcoapMax(opt.libcoapS);
    }
    const libcoapRate = after ? (before.okPerSec + after.okPerSec) / 2 : before.okPerSec;
    results.libcoap = { okPerSec: libcoapRate, before, after };
    results.weir = weir;
    const pacedRuns = [];
    for (const fraction of [0.2, 0.5]) {
      const rate = Math.max(1, Math.round(weir.okPerSec * fraction));
      log(`paced ${fraction * 100} % of Weir's max: ${rate}/s for ${opt.skipS} + ${opt.pacedS} s, Weir then libcoap`);
      const w = await paced(broker.brokers, 'weir', rate);
      const l = await paced(broker.brokers, 'libcoap', rate);
      log(`  weir p50/p99 ${w.latencyMs.p50}/${w.latencyMs.p99} ms; libcoap ${l.latencyMs.p50}/${l.latencyMs.p99} ms`);
      pacedRuns.push({ fraction, rate, weir: w, libcoap: l, p99Ratio: w.latencyMs.p99 / l.latencyMs.p99 });
    }
    results.pacedRuns = pacedRuns;
    results.ratios = {
      maxRate: weir.okPerSec / libcoapRate, endToEnd: weir.endToEndPerSec / libcoapRate,
      cpuPer1M: weir.cpuSecondsPer1M / before.cpuSecondsPer1M,
      p99At20: pacedRuns[0]!.p99Ratio, p99At50: pacedRuns[1]!.p99Ratio,
    };
    results.weirLog = weirLogTail;
  } finally {
    await broker.destroy().catch(() => undefined);
    killAll();
  }
  (results.meta as Record<string, unknown>).loadAverageAtEnd = loadAverage();
  mkdirSync(join(REPO, 'bench/results'), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify({ ...previous, [KEY]: results }, null, 2) + '\n');
  printTable(results);
  log(`\nraw results: ${RESULTS} ("${KEY}")`);
}

// Ctrl-C: kill every child (Weir, coap-server, generators, the Kafka JVM) before leaving.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAll(); process.exit(130); });

main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
