// Decoder cost: CPU-seconds per 1,000,000 readings for every payload decoder, measured
// in this process with process.cpuUsage() (user + system, all threads: GC included).
//
//   npm run build                                             # the bench runs dist/, as deployed
//   node --import tsx bench/decoders.ts                       # ≥ 200,000 readings per figure, median of 5 rounds (~3 min)
//   node --import tsx bench/decoders.ts --readings 50000 --rounds 1   # a quick look
//   node --import tsx bench/decoders.ts --only nmea,senml     # some decoders (or profile names)
//   --src: bench src/ through tsx instead of dist/ (no build needed, but see TREE below)
//   --no-wait-quiet: do not wait for other processes to go quiet before each profile
//
// Two figures per profile, both over the profile's own good golden samples (cycled):
//   - decoder only: the bare Decoder.decode(payload) → documents;
//   - decoder + mapping: CompiledProfile.decode() → readings, as ingest calls it (device
//     id, event time, tags, metric ranges).
// And the dead-letter path: the profile's expectDeadLetter samples, per 1M payloads.
// The figures of one profile are measured in interleaved rounds, after a warm-up, with a
// full GC before each round (so no round pays for another's garbage).
// The bundled profiles (device-profiles/) cover json, nmea, senml (json and cbor) and
// binary; csv, kv and cbor have no bundled profile, so this file declares one for each
// (with golden samples, checked by the same compiler). The table goes to stdout, the
// figures to bench/results/decoders.json. See bench/README.md, "Decoder cost".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Decoder, DecoderFactory } from '../src/decoders/decoder.js';
import type { CompiledProfile } from '../src/profiles/profile.js';
import { CpuMeter, loadAverage, waitQuiet } from './procfs.js';
import { distStale } from './dist.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = join(REPO, 'bench/results/decoders.json');

/** A Pi 4 core is ~0.1× this class of x86 core (shared/notes/engineering-facts.md: Geekbench 6 single-core 289 vs ~3000). */
const PI4 = 10;

const { values: a } = parseArgs({
  options: {
    readings: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '5' },
    only: { type: 'string' },
    'no-wait-quiet': { type: 'boolean', default: false },
    src: { type: 'boolean', default: false },
  },
});
const TARGET = Number(a.readings);
const ROUNDS = Number(a.rounds);
const ONLY = a.only ? new Set(a.only.split(',')) : undefined;
if (!(TARGET > 0) || !(ROUNDS > 0)) throw new Error('--readings and --rounds must be positive numbers');
const log = (s: string) => console.error(s);

/**
 * The code under test: dist/ (tsc's output, what the gateway runs) by default, or src/
 * through tsx with --src. Not the same cost: tsx compiles with esbuild's keepNames,
 * which wraps every named closure in a `__name(fn, "…")` call (Object.defineProperty),
 * so code that makes closures per payload or per field is billed several times more
 * under tsx (the binary decoder ~4×) than in dist/.
 */
const TREE = a.src ? 'src' : 'dist';
const mod = (path: string) => new URL(`../${TREE}/${path}`, import.meta.url).href;
if (TREE === 'dist' && !existsSync(fileURLToPath(mod('decoders/index.js')))) throw new Error('dist/ is missing: run `npm run build` first (or bench src/ through tsx with --src)');
const { decoders } = await import(mod('decoders/index.js')) as typeof import('../src/decoders/index.js');
const { compileProfile } = await import(mod('profiles/compile.js')) as typeof import('../src/profiles/compile.js');
const { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } = await import(mod('profiles/registry.js')) as typeof import('../src/profiles/registry.js');
const { profileSchema } = await import(mod('profiles/schema.js')) as typeof import('../src/profiles/schema.js');

const stale = TREE === 'dist' && distStale(['decoders', 'profiles']);
if (stale) log('warning: src/decoders or src/profiles is newer than dist/ — `npm run build` to bench the current code');

/** A full GC between rounds, without needing `node --expose-gc`. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Profiles for the decoders no bundled profile uses: realistic payloads, checked by their golden samples. */
const BENCH_PROFILES: Array<Record<string, unknown>> = [
  {
    name: 'bench-csv-logger',
    description: 'A data logger printing CSV lines: device, epoch s, temperature, humidity, battery.',
    match: [{ protocol: 'serial', port: 'logger' }],
    decoder: { type: 'csv', columns: ['device', 'ts', 'temp', 'rh', 'bat'], textColumns: ['device'] },
    device: { field: 'device' },
    time: { field: 'ts', format: 's' },
    metrics: { temperature: { field: 'temp', min: -55, max: 150 }, humidity: { field: 'rh', min: 0, max: 100 }, battery: { field: 'bat', min: 0, max: 5 } },
    samples: [
      { payload: 'log-07,1714558530,21.4,40.2,3.01', expect: [{ device: 'log-07', ts: 1714558530000, metrics: { temperature: 21.4, humidity: 40.2, battery: 3.01 } }] },
      {
        payload: 'log-07,1714558540,21.5,40.1,3.01\r\nlog-07,1714558550,21.5,40.0,3.00\r\n',
        expect: [
          { device: 'log-07', ts: 1714558540000, metrics: { temperature: 21.5, humidity: 40.1, battery: 3.01 } },
          { device: 'log-07', ts: 1714558550000, metrics: { temperature: 21.5, humidity: 40, battery: 3 } },
        ],
      },
      { payload: 'log-07,1714558530,21.4', expectDeadLetter: 'WEIR_WRONG_SHAPE' },
    ],
  },
  {
    name: 'bench-kv-meter',
    description: 'A meter printing key=value lines.',
    match: [{ protocol: 'serial', port: 'meter' }],
    decoder: { type: 'kv', textKeys: ['id'] },
    device: { field: 'id' },
    time: { field: 'ts', format: 's' },
    tags: { site: { field: 'site' } },
    metrics: { power_w: { field: 'p', min: 0, max: 100000 }, voltage: { field: 'u', min: 0, max: 500 }, energy_kwh: { field: 'e' } },
    samples: [
      { payload: 'id=m-12 ts=1714558530 p=1532.5 u=231.2 e=10234.75 site="hall 2"', expect: [{ device: 'm-12', ts: 1714558530000, tags: { site: 'hall 2' }, metrics: { power_w: 1532.5, voltage: 231.2, energy_kwh: 10234.75 } }] },
      { payload: 'id=m-13 ts=1714558530 p=88 u=229.8 e=77.5', expect: [{ device: 'm-13', ts: 1714558530000, metrics: { power_w: 88, voltage: 229.8, energy_kwh: 77.5 } }] },
      { payload: 'id=m-12 ts=1714558530 p', expectDeadLetter: 'WEIR_DECODE_FAILED' },
    ],
  },
  {
    name: 'bench-cbor-sensor',
    description: 'A CoAP sensor sending a CBOR map (JSON data model): {"id","t","temp","rh"}.',
    match: [{ protocol: 'coap', path: '/cbor' }],
    decoder: { type: 'cbor' },
    device: { field: 'id' },
    time: { field: 't', format: 's' },
    metrics: { temperature: { field: 'temp', min: -55, max: 150 }, humidity: { field: 'rh', min: 0, max: 100 } },
    samples: [
      // {"id":"c-3","t":1714558530,"temp":21.25,"rh":40.5} (cbor-x, float64 values)
      { payloadHex: 'a46269646363 2d33 6174 1a66321642 6474656d70 fb4035400000000000 627268 fb4044400000000000'.replace(/ /g, ''), expect: [{ device: 'c-3', ts: 1714558530000, metrics: { temperature: 21.25, humidity: 40.5 } }] },
      { payloadHex: 'a4', expectDeadLetter: 'WEIR_DECODE_FAILED' },
    ],
  },
];

interface Case {
  decoder: string;
  profile: string;
  source: 'bundled' | 'bench';
  good: Array<{ payload: Buffer; params: Record<string, string> }>;
  bad: Array<{ payload: Buffer; params: Record<string, string> }>;
  compiled: CompiledProfile;
  bare: Decoder;
}

function decoderLabel(spec: CompiledProfile['spec']): string {
  const format = (spec.decoder as { format?: unknown }).format;
  return typeof format === 'string' && format !== 'json' ? `${spec.decoder.type} (${format})` : spec.decoder.type;
}

function toCase(compiled: CompiledProfile, source: Case['source']): Case {
  const { spec } = compiled;
  const factory = decoders.get(spec.decoder.type) as DecoderFactory;
  const { type: _type, ...options } = spec.decoder;
  const bare = factory.create(factory.options.parse(options));
  const good: Case['good'] = [];
  const bad: Case['bad'] = [];
  for (const s of spec.samples) {
    const topic = s.topic ?? compiled.patterns[0]!.pattern.source;
    const params = compiled.patterns.map((p) => p.pattern.match(topic)).find((m) => m !== null) ?? {};
    const payload = s.payload !== undefined ? Buffer.from(s.payload, 'utf8') : Buffer.from(s.payloadHex ?? '', 'hex');
    if (s.expectDeadLetter !== undefined) bad.push({ payload, params });
    else if (s.expect && s.expect.length > 0) good.push({ payload, params });
  }
  return { decoder: decoderLabel(spec), profile: compiled.name, source, good, bad, compiled, bare };
}

function cases(): Case[] {
  const bundled = loadProfilesOrThrow([BUNDLED_PROFILES_DIR]).list().map((p) => toCase(p, 'bundled'));
  const extra = BENCH_PROFILES.map((raw) => {
    const { profile, problems } = compileProfile(profileSchema.parse(raw), 'bench/decoders.ts');
    if (!profile) throw new Error(`bench profile ${String(raw.name)}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    return toCase(profile, 'bench');
  });
  // The cpu-monitor profile once more, on NDJSON: the json decoder's line-by-line path.
  const cpu = bundled.find((c) => c.profile === 'cpu-monitor');
  const ndjson: Case[] = cpu ? [{
    ...cpu,
    decoder: 'json (NDJSON)',
    profile: 'cpu-monitor, 10-line NDJSON',
    good: [{
      payload: Buffer.from(Array.from({ length: 10 }, (_, i) => JSON.stringify({ hostname: 'doc', cpu: `cpu${i % 4}`, usage: 40 + i * 3.7, occurred_at: 1642763132142 + i * 500 })).join('\n')),
      params: {},
    }],
    bad: [],
  }] : [];
  const all = [...bundled, ...ndjson, ...extra].sort((x, y) => x.decoder.localeCompare(y.decoder) || x.profile.localeCompare(y.profile));
  return all.filter((c) => !ONLY || ONLY.has(c.decoder.split(' ')[0]!) || ONLY.has(c.profile));
}

const RECEIVED = 1_700_000_000_000;

interface Measure {
  /** CPU-seconds (user + system) per 1,000,000 units (readings, or payloads for the dead-letter path). */
  cpuSPer1M: number;
  wallSPer1M: number;
  units: number;
}

/** The median round, the fastest round's CPU figure, and every round. */
type Figure = Measure & { minCpuSPer1M: number; rounds: Measure[] };

interface Job {
  /** One pass over the payloads; returns the units (readings, documents, rejected payloads) it produced. */
  pass: () => number;
  perPass: number;
  target: number;
}

/**
 * Measures several jobs over the same rounds, interleaved (the order rotates every
 * round), so that JIT tiering, GC debt and the machine's load hit them alike. Each job
 * first runs a warm-up of a fifth of its target; each round runs it until at least
 * `target` units. The figure is the median round.
 */
function measure(jobs: Job[], rounds: number): Figure[] {
  let sink = 0;
  const passes = jobs.map((j) => Math.max(1, Math.ceil(j.target / j.perPass)));
  jobs.forEach((j, k) => {
    for (let i = 0; i < Math.ceil(passes[k]! / 5); i++) sink += j.pass();
  });
  const results: Measure[][] = jobs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let o = 0; o < jobs.length; o++) {
      const k = (o + r) % jobs.length;
      const job = jobs[k]!;
      gc();
      const wall = performance.now();
      const cpu = process.cpuUsage();
      let units = 0;
      for (let i = 0; i < passes[k]!; i++) units += job.pass();
      const d = process.cpuUsage(cpu);
      const wallS = (performance.now() - wall) / 1000;
      sink += units;
      results[k]!.push({ cpuSPer1M: ((d.user + d.system) / 1e6) * (1e6 / units), wallSPer1M: wallS * (1e6 / units), units });
    }
  }
  if (sink < 0) log('unreachable'); // keeps the work observable
  return results.map((rs) => {
    const sorted = [...rs].sort((x, y) => x.cpuSPer1M - y.cpuSPer1M);
    return { ...sorted[Math.floor(sorted.length / 2)]!, minCpuSPer1M: sorted[0]!.cpuSPer1M, rounds: rs };
  });
}

interface Row {
  decoder: string;
  profile: string;
  source: Case['source'];
  goodPayloads: number;
  readingsPerPass: number;
  bytesPerReading: number;
  decoderOnly: Figure;
  profileDecode: Figure;
  deadLetterPer1MPayloads?: Figure | undefined;
  /** What the rest of the machine used meanwhile (cores on average), and the hypervisor's steal: high values make the figures suspect. */
  machine: { wallS: number; otherCores: number; stealCores: number; othersBefore: number; otherTop: string };
}

function bench(c: Case, othersBefore: number): Row {
  const meter = new CpuMeter({ bench: process.pid });
  const started = performance.now();
  const { good, bad, bare, compiled } = c;
  const readingsPerPass = good.reduce((n, g) => n + compiled.decode({ payload: g.payload, params: g.params, received: RECEIVED }).readings.length, 0);
  const docsPerPass = good.reduce((n, g) => n + bare.decode(g.payload).length, 0);
  if (readingsPerPass === 0) throw new Error(`${c.profile}: no reading from its good samples`);
  if (docsPerPass !== readingsPerPass) log(`  note: ${c.profile}: ${docsPerPass} documents but ${readingsPerPass} readings per pass`);
  const bytes = good.reduce((n, g) => n + g.payload.length, 0);

  const jobs: Job[] = [
    {
      pass: () => {
        let n = 0;
        for (const g of good) n += bare.decode(g.payload).length;
        return n;
      },
      perPass: docsPerPass,
      target: TARGET,
    },
    {
      pass: () => {
        let n = 0;
        for (const g of good) n += compiled.decode({ payload: g.payload, params: g.params, received: RECEIVED }).readings.length;
        return n;
      },
      perPass: readingsPerPass,
      target: TARGET,
    },
  ];
  if (bad.length > 0) {
    jobs.push({
      pass: () => {
        let n = 0;
        for (const b of bad) n += compiled.decode({ payload: b.payload, params: b.params, received: RECEIVED }).rejects.length > 0 ? 1 : 0;
        return n;
      },
      perPass: bad.length,
      target: TARGET / 4,
    });
  }
  const [decoderOnly, profileDecode, deadLetterPer1MPayloads] = measure(jobs, ROUNDS);
  const wallS = (performance.now() - started) / 1000;
  const used = meter.read();
  return {
    decoder: c.decoder, profile: c.profile, source: c.source, goodPayloads: good.length, readingsPerPass,
    bytesPerReading: bytes / readingsPerPass, decoderOnly: decoderOnly!, profileDecode: profileDecode!, deadLetterPer1MPayloads,
    machine: { wallS, otherCores: used.other! / wallS, stealCores: used.steal! / wallS, othersBefore, otherTop: meter.otherTop },
  };
}

const f = (n: number | undefined, d = 2) => (n === undefined || !Number.isFinite(n) ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

function table(rows: Row[]): string {
  const head = ['decoder', 'profile (good payloads)', 'B/reading', 'decoder only', 'decoder + mapping', 'mapping share', 'Pi 4 est. (×10), decoder + mapping', 'dead-letter path, per 1M payloads', 'others / steal, cores'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  const fig = (m: Figure | undefined) => (m ? `${f(m.cpuSPer1M)} (${f(m.minCpuSPer1M)})` : '—');
  for (const r of rows) {
    // From the fastest rounds: the least disturbed by the rest of the machine.
    const share = 1 - r.decoderOnly.minCpuSPer1M / r.profileDecode.minCpuSPer1M;
    lines.push(`| ${[
      r.decoder,
      `${r.profile}${r.source === 'bench' ? ' (bench)' : ''} (${r.goodPayloads})`,
      f(r.bytesPerReading, 0),
      fig(r.decoderOnly),
      fig(r.profileDecode),
      `${f(Math.max(0, share) * 100, 0)} %`,
      `${f(r.profileDecode.cpuSPer1M * PI4, 0)} (${f(r.profileDecode.minCpuSPer1M * PI4, 0)})`,
      fig(r.deadLetterPer1MPayloads),
      `${f(r.machine.otherCores)} / ${f(r.machine.stealCores)}`,
    ].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Waiting for a quiet machine: at most this long before one profile, and in all. */
const WAIT_EACH_MS = 120_000;
const WAIT_TOTAL_MS = 600_000;

async function main(): Promise<void> {
  const git = (args: string[]) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout?.trim() ?? '';
  const meta = {
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedSrcFiles: git(['status', '--porcelain', 'src', 'device-profiles']).split('\n').filter(Boolean).length,
    code: TREE === 'dist' ? `dist/ (tsc output)${stale ? ', OLDER than src/' : ''}` : 'src/ through tsx (esbuild keepNames: closures cost more)',
    readingsPerFigure: TARGET, rounds: ROUNDS, pi4Factor: PI4,
    unit: 'CPU-seconds (user + system, this process) per 1,000,000 readings; = µs of CPU per reading',
    loadAverageAtStart: loadAverage(),
  };
  const todo = cases();
  log(`decoder bench: ${todo.length} profiles, ≥ ${TARGET.toLocaleString('en-US')} readings per figure, median of ${ROUNDS} round(s); load average ${meta.loadAverageAtStart}`);
  const rows: Row[] = [];
  const waitUntil = Date.now() + WAIT_TOTAL_MS;
  for (const c of todo) {
    const budget = Math.min(WAIT_EACH_MS, waitUntil - Date.now());
    const othersBefore = a['no-wait-quiet'] || budget <= 0 ? 0 : await waitQuiet([process.pid], 0.3, budget, log);
    log(`  ${c.decoder}: ${c.profile}`);
    rows.push(bench(c, othersBefore));
  }
  const loadAverageAtEnd = loadAverage();
  console.log(table(rows));
  console.log(`\nCPU-seconds per 1,000,000 readings (= µs of CPU per reading): median (fastest) of ${ROUNDS} interleaved round(s) of ≥ ${TARGET.toLocaleString('en-US')} readings; ` +
    `mapping share from the fastest rounds; Pi 4 estimate ×${PI4}; others / steal: CPU the rest of the machine used meanwhile. ` +
    `Load average ${meta.loadAverageAtStart} → ${loadAverageAtEnd}.`);
  mkdirSync(join(REPO, 'bench/results'), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify({ meta: { ...meta, loadAverageAtEnd }, rows }, null, 2)}\n`);
  log(`figures in ${RESULTS}`);
}

await main();
