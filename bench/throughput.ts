// Scenarios "ingest" (durable end-to-end rate vs Mosquitto, flash bytes, CPU per
// reading) and "latency" (device → Kafka append time at 20 % and 50 % of max).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sleep } from '../test/support/gateway.js';
import { startLoad, type LoadOptions } from './load.js';
import { startMosquitto, startWeir, type Weir, type WeirOptions } from './peers.js';
import { CpuMeter, writeBytes } from './procfs.js';
import { latencySummary } from './report.js';

export interface Ctx {
  brokers: string; kafkaPid: () => number | undefined; clients: number; window: number; log: (s: string) => void;
  /** Every gateway's experiment options (--profile, --nodelay, --commit-ms); none for the figures. */
  weir: WeirOptions;
  /** Resolves when the machine is quiet apart from `pids` (and Kafka and the bench); returns others' cores. */
  quiet(pids: number[]): Promise<number>;
}

const WARMUP = 20_000;

/**
 * Publishes readings to Weir and waits until Kafka acknowledged `base` + all of them.
 * CPU is metered from the moment every client is connected (the generator's tsx
 * start-up is not load; it meters itself from there) to the last reading forwarded.
 */
async function pushThrough(ctx: Ctx, weir: Weir, base: number, load: Omit<LoadOptions, 'port'>, poll = 50) {
  const run = startLoad({ port: weir.mqttPort, clients: ctx.clients, window: ctx.window, ...load });
  await run.connected;
  const cpu = new CpuMeter({ weir: weir.pid, kafka: ctx.kafkaPid(), bench: process.pid }, [run.pid]);
  const before = runtimeStats(await weir.metricsText()); // also resets the event-loop delay histogram
  const result = await run.result;
  const after = runtimeStats(await weir.metricsText());
  const commits = after.commitCount - before.commitCount;
  const runtime = {
    eventLoopDelayP99Ms: after.lagP99Ms, eventLoopDelayMaxMs: after.lagMaxMs, gcSeconds: after.gcS - before.gcS,
    gcPausesOver100ms: after.gcOver100ms - before.gcOver100ms,
    // Journal commits run (fsync included) on the event loop: their time is time no packet is read.
    journalCommits: commits, commitMeanMs: ((after.commitS - before.commitS) / commits) * 1000,
    commitP99Ms: bucketQuantile(before.commitBuckets, after.commitBuckets, 0.99) * 1000,
  };
  if (result.disconnects || result.acked !== result.sent) throw new Error(`generator: ${JSON.stringify(result)}`);
  const deadline = Date.now() + 600_000;
  while ((await weir.forwarded()) < base + result.acked) {
    if (Date.now() > deadline) throw new Error('Weir did not forward everything within 10 min');
    await sleep(poll);
  }
  const cpuS = cpu.read({ generator: result.cpuS });
  return { result, forwardedAt: Date.now(), cpuS, otherCpu: cpu.otherTop, runtime };
}

/**
 * The gateway's own runtime figures (prom-client default metrics): event-loop delay
 * since the previous scrape (prom-client resets it on every scrape, so only the two
 * scrapes around a load run may touch /metrics meanwhile) and GC seconds so far.
 */
function runtimeStats(text: string) {
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  let gcS = 0, gcOver100ms = 0;
  for (const m of text.matchAll(/^weir_nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm)) gcS += Number(m[1]);
  // Pauses over 100 ms: each kind's count less its le="0.1" bucket.
  for (const m of text.matchAll(/^weir_nodejs_gc_duration_seconds_count\{kind="(\w+)"\} (\S+)$/gm)) {
    gcOver100ms += Number(m[2]) - num(new RegExp(`^weir_nodejs_gc_duration_seconds_bucket\\{le="0.1",kind="${m[1]}"\\} (\\S+)$`, 'm'));
  }
  const commitBuckets = [...text.matchAll(/^weir_journal_commit_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)].map((m) => [Number(m[1]), Number(m[2])] as const);
  // perf_hooks' histogram records the whole interval between its 10 ms timer ticks
  // (prom-client's default resolution), so the delay beyond schedule is that less 10 ms.
  const lateMs = (name: string) => Math.max(0, num(new RegExp(`^weir_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm')) * 1000 - 10);
  return {
    lagP99Ms: lateMs('p99'), lagMaxMs: lateMs('max'), gcS, gcOver100ms,
    commitCount: num(/^weir_journal_commit_seconds_count (\S+)$/m), commitS: num(/^weir_journal_commit_seconds_sum (\S+)$/m), commitBuckets,
  };
}

/** The upper bound of the bucket holding quantile `q` of the observations made between two scrapes. */
function bucketQuantile(before: ReadonlyArray<readonly [number, number]>, after: ReadonlyArray<readonly [number, number]>, q: number): number {
  const total = (after.at(-1)?.[1] ?? 0) - (before.at(-1)?.[1] ?? 0);
  for (let i = 0; i < after.length; i++) if (after[i]![1] - (before[i]?.[1] ?? 0) >= q * total) return after[i]![0];
  return NaN;
}

/** One measured Mosquitto run (after a warm-up) on a fresh broker. */
async function mosquittoRun(ctx: Ctx, n: number) {
  const mosq = await startMosquitto();
  try {
    await startLoad({ port: mosq.port, clients: ctx.clients, window: ctx.window, count: WARMUP }).result;
    const othersBefore = await ctx.quiet([mosq.pid]);
    const run = startLoad({ port: mosq.port, clients: ctx.clients, window: ctx.window, count: n });
    await run.connected;
    const cpu = new CpuMeter({ mosquitto: mosq.pid, bench: process.pid }, [run.pid]);
    const generator = await run.result;
    const cpuS = cpu.read({ generator: generator.cpuS });
    ctx.log(`  mosquitto: ${Math.round(generator.acksPerSec)} acks/s`);
    return { acksPerSec: generator.acksPerSec, cpuS, otherCpu: cpu.otherTop, othersBefore, generator };
  } finally {
    await mosq.stop();
  }
}

/**
 * Payload bytes of one journal row (text lengths + 8 per integer column), averaged
 * over every table with a `body` column — the journal keeps a tail of acknowledged
 * records, so there are rows to look at. Schema-agnostic, as src/journal changes;
 * NaN if the journal cannot be read.
 */
function storedRowBytes(dataDir: string): number {
  try {
    const db = new Database(join(dataDir, 'journal.sqlite'), { readonly: true, fileMustExist: true });
    try {
      let rows = 0, bytes = 0;
      for (const t of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]) {
        const cols = db.prepare(`PRAGMA table_info(${t})`).all() as Array<{ name: string; type: string }>;
        if (!cols.some((c) => c.name === 'body')) continue;
        const expr = cols.map((c) => (/INT/i.test(c.type) ? '8' : `coalesce(length(${c.name}), 0)`)).join(' + ');
        const [n, sum] = db.prepare(`SELECT count(*), total(${expr}) FROM ${t}`).raw().get() as [number, number];
        rows += n;
        bytes += sum;
      }
      return bytes / rows;
    } finally {
      db.close();
    }
  } catch {
    return NaN;
  }
}

/** Weir's durable end-to-end rate, with its flash and CPU cost, on a fresh gateway. */
export async function weirIngest(ctx: Ctx, n: number) {
  const weir = await startWeir(ctx.brokers, ctx.weir);
  try {
    await pushThrough(ctx, weir, 0, { count: WARMUP });
    await sleep(1500); // let the warm-up's acked rows be deleted (every 1 s) before counting bytes
    const othersBefore = await ctx.quiet([weir.pid]);
    const base = await weir.forwarded();
    const commits0 = await weir.metric('weir_journal_commit_records_count');
    const io0 = writeBytes(weir.pid);
    const { result, forwardedAt, cpuS, otherCpu, runtime } = await pushThrough(ctx, weir, base, { count: n });
    // Acked rows are deleted up to 1 s after Kafka's ack; those writes belong to this run.
    await sleep(1500);
    const written = writeBytes(weir.pid) - io0;
    const commits = (await weir.metric('weir_journal_commit_records_count')) - commits0;
    const e2eS = (forwardedAt - result.startedAt) / 1000;
    const w = {
      endToEndPerSec: n / e2eS, endToEndS: e2eS, journalAcksPerSec: result.acksPerSec, generator: result, cpuS, otherCpu, othersBefore, runtime,
      cpuSecondsPer1M: (cpuS.weir! / n) * 1e6, bytesWritten: written, payloadBytes: result.payloadBytes,
      writtenPerPayloadByte: written / result.payloadBytes,
      // Where the bytes go: one stored row vs the payload, and commits (each rewrites a partly filled WAL page).
      storedRowBytes: storedRowBytes(weir.dataDir), payloadBytesPerReading: result.payloadBytes / n,
      writtenPerReading: written / n, journalCommits: commits, readingsPerCommit: n / commits,
    };
    ctx.log(`  weir: ${Math.round(w.endToEndPerSec)} readings/s end to end (journal acks ${Math.round(result.acksPerSec)}/s)`);
    return w;
  } finally {
    await weir.stop();
  }
}

export async function ingest(ctx: Ctx, n: number) {
  // Mosquitto before and after Weir (same generator, N, clients, window), so drift
  // on a shared box hits both sides; the reference is the mean of the two.
  const before = await mosquittoRun(ctx, n);
  const w = await weirIngest(ctx, n);
  const after = await mosquittoRun(ctx, n);
  const mosquittoPerSec = (before.acksPerSec + after.acksPerSec) / 2;
  return { readings: n, clients: ctx.clients, window: ctx.window, mosquitto: { acksPerSec: mosquittoPerSec, before, after }, weir: w, ratio: w.endToEndPerSec / mosquittoPerSec };
}


/** Reads the whole topic with kcat: (LogAppendTime, value.ts = occurred_at = send time, value.received = gateway receipt) per record. */
function readBack(brokers: string, topic: string): Promise<Array<[number, number, number]>> {
  return new Promise((resolve, reject) => {
    execFile('kcat', ['-C', '-b', brokers, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%T %s\n', '-X', 'fetch.wait.max.ms=100'],
      { maxBuffer: 1 << 30, timeout: 300_000 }, (err, stdout) => {
        if (err) return reject(err);
        const rows: Array<[number, number, number]> = [];
        for (const line of stdout.split('\n')) {
          const ts = /"ts":(\d+)/.exec(line), rec = /"received":(\d+)/.exec(line);
          if (ts && rec) rows.push([Number(line.slice(0, line.indexOf(' '))), Number(ts[1]), Number(rec[1])]);
        }
        resolve(rows);
      });
  });
}

/** kcat's JSON envelope names the timestamp type: make sure the broker, not the producer, stamped it. */
function timestampType(brokers: string, topic: string): Promise<string> {
  return new Promise((resolve) => execFile('kcat', ['-C', '-J', '-b', brokers, '-t', topic, '-o', 'beginning', '-c', '1', '-q'],
    { timeout: 30_000 }, (_e, stdout) => resolve((/"tstype":"(\w+)"/.exec(stdout) ?? [])[1] ?? 'unknown')));
}

/**
 * Each load level is run `repeat` times on a fresh gateway, interleaved (20 %, 50 %,
 * 20 %, …): on a shared 2-core VM one run's p99 can be several times another's, so
 * the table shows the median run (by p99) and the range.
 */
export async function latency(ctx: Ctx, maxRate: number, durationS: number, repeat: number) {
  const runs: Array<Awaited<ReturnType<typeof latencyRun>>> = [];
  for (let i = 0; i < repeat; i++) {
    for (const fraction of [0.2, 0.5]) runs.push(await latencyRun(ctx, Math.round(maxRate * fraction), fraction, durationS));
  }
  const levels = [0.2, 0.5].map((fraction) => {
    const mine = runs.filter((r) => r.fraction === fraction).sort((x, y) => x.deviceToKafkaMs.p99 - y.deviceToKafkaMs.p99);
    return { fraction, median: mine[Math.floor((mine.length - 1) / 2)]!, p99Range: [mine[0]!.deviceToKafkaMs.p99, mine.at(-1)!.deviceToKafkaMs.p99] };
  });
  return { maxRate, durationS, repeat, levels, runs };
}

async function latencyRun(ctx: Ctx, rate: number, fraction: number, durationS: number) {
  const weir = await startWeir(ctx.brokers, ctx.weir);
  try {
    // No flat-out warm-up here: the paced run's first 3 s warm up and are left out
    // (Kafka and PUBACK figures alike), so a --profile shows only paced traffic.
    const othersBefore = await ctx.quiet([weir.pid]);
    const { result, cpuS, otherCpu, runtime } = await pushThrough(ctx, weir, 0, { rate, count: rate * (durationS + 3), skipS: 3 }, 20);
    const tstype = await timestampType(ctx.brokers, weir.topics.readings);
    if (tstype !== 'logappend') throw new Error(`topic timestamps are ${tstype}, not logappend`);
    const rows = (await readBack(ctx.brokers, weir.topics.readings)).filter(([, ts]) => ts >= result.startedAt + 3000);
    const run = {
      fraction, offeredPerSec: rate, achievedPerSec: result.acksPerSec, measured: rows.length,
      deviceToKafkaMs: latencySummary(rows.map(([append, ts]) => append - ts)),
      deviceToGatewayMs: latencySummary(rows.map(([, ts, received]) => received - ts)),
      gatewayToKafkaMs: latencySummary(rows.map(([append, , received]) => append - received)),
      pubackMs: result.pubackMs, othersBefore, cpuS, otherCpu, runtime,
    };
    ctx.log(`  ${fraction * 100}% (${rate}/s): device→Kafka p50 ${run.deviceToKafkaMs.p50} ms, p99 ${run.deviceToKafkaMs.p99} ms` +
      ` (others ${(cpuS.other ?? 0).toFixed(1)} CPU-s, steal ${(cpuS.steal ?? 0).toFixed(1)} s)`);
    return run;
  } finally {
    await weir.stop();
  }
}
