// Scenarios with Kafka stopped: "drain" (a 60 s outage under 50 % load, then the
// backlog drains while live readings keep flowing) and "memory" (RSS idle, with
// 1,000 clients, and while the backlog grows to 1,000,000 readings).
import type { KafkaBroker } from '../test/support/kafka-broker.js';
import { sleep, waitFor } from '../test/support/wait.js';
import { startLoad, type Tick } from './load.js';
import { startWeir, type Weir } from './peers.js';
import { memoryBreakdownMB, memoryMB } from './procfs.js';
import type { Ctx } from './throughput.js';

interface Sample { at: number; backlog: number; forwarded: number; uplink: string; rssMB: number }

/** Polls /api/status and /metrics every `ms` (changed with pace()), recording backlog, forwarded and RSS. */
function sampler(weir: Weir, ms: number) {
  const samples: Sample[] = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      const [s, forwarded] = await Promise.all([weir.status(), weir.forwarded()]).catch(() => [null, 0] as const);
      if (s) samples.push({ at: Date.now(), backlog: s.backlogTotal, forwarded, uplink: s.uplink.state, rssMB: memoryMB(weir.pid).rss });
      await sleep(ms);
    }
  })();
  return { samples, last: () => samples[samples.length - 1], pace: (every: number) => { ms = every; }, stop: async () => { on = false; await loop; } };
}

const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
const ackRates = (ticks: Tick[], from: number, to: number) => ticks.filter((t) => t.at > from && t.at <= to).map((t) => t.ackRate);

/** How long the broker took to come back the last time (a first guess before any restart). */
let lastRestartMs = 8000;

export async function drain(ctx: Ctx, kafka: KafkaBroker, maxRate: number, outageS: number) {
  const rate = Math.round(maxRate * 0.5);
  const weir = await startWeir(ctx.brokers, ctx.weir);
  const othersBefore = await ctx.quiet([weir.pid]);
  const load = startLoad({ port: weir.mqttPort, clients: ctx.clients, window: ctx.window, rate });
  const s = sampler(weir, 250);
  try {
    await load.connected;
    await sleep(10_000); // steady state before the outage
    const steadyBacklog = Math.max(...s.samples.map((x) => x.backlog));
    const tDown = Date.now();
    await kafka.stop();
    // The outage runs from the stop request to the broker answering again; the
    // restart itself takes several seconds, so the wait before it is shortened by
    // the last restart's duration (about 60 s in all, the actual figure is reported).
    await sleep(Math.max(0, outageS * 1000 - (Date.now() - tDown) - lastRestartMs));
    const t0 = Date.now();
    await kafka.start();
    const tUp = Date.now();
    lastRestartMs = tUp - t0;
    ctx.log(`  Kafka back after ${((tUp - tDown) / 1000).toFixed(1)} s, backlog ${s.last()?.backlog}`);
    const upFwd = s.last()!.forwarded;
    await waitFor(() => s.last()!.forwarded > upFwd, 120_000, 'forwarding to resume');
    const resume = s.last()!;
    // Drained: back to the backlog the gateway carried before the outage (with some slack).
    const floor = Math.max(2 * steadyBacklog, rate * 0.2);
    await waitFor(() => s.last()!.backlog <= floor, 30 * 60_000, 'the backlog to drain');
    const drained = s.last()!;
    await sleep(5000); // live traffic after the drain
    const gen = await load.stop();
    await s.stop();
    const peak = s.samples.reduce((m, x) => (x.backlog > m.backlog ? x : m));
    const drainS = (drained.at - resume.at) / 1000;
    const forwardedPerSec = (drained.forwarded - resume.forwarded) / drainS;
    const ingestDuring = ackRates(load.ticks, resume.at, drained.at);
    const ingestOutage = ackRates(load.ticks, tDown, tUp);
    const out = {
      offeredPerSec: rate, outageS: (tUp - tDown) / 1000, kafkaRestartS: lastRestartMs / 1000, othersBefore, steadyBacklog, peakBacklog: peak.backlog,
      resumeAfterRestartS: (resume.at - tUp) / 1000, drainS,
      forwardedPerSecDuringDrain: forwardedPerSec,
      netBacklogDrainPerSec: (resume.backlog - drained.backlog) / drainS,
      ingestPerSecDuringDrain: { mean: mean(ingestDuring), min: Math.min(...ingestDuring) },
      ingestPerSecDuringOutage: { mean: mean(ingestOutage), min: Math.min(...ingestOutage) },
      ratio: forwardedPerSec / mean(ingestDuring),
      generator: gen,
      series: s.samples.filter((_, i) => i % 4 === 0).map((x) => ({ t: (x.at - tDown) / 1000, backlog: x.backlog, forwarded: x.forwarded, rssMB: Math.round(x.rssMB) })),
    };
    ctx.log(`  drain: ${Math.round(forwardedPerSec)} forwarded/s vs ${Math.round(out.ingestPerSecDuringDrain.mean)} ingest/s (×${out.ratio.toFixed(2)})`);
    return out;
  } finally {
    await load.stop().catch(() => undefined);
    await s.stop();
    if (!kafka.running) await kafka.start();
    await weir.stop();
  }
}

/** How long after a backlog step its RSS is read: V8's memory reducer starts 8 s after allocation slows. */
const SETTLE_MS = 20_000;

/** Where the RSS is: V8 heap used/total and memory outside it (Buffers, SQLite), from /metrics. */
async function heap(weir: Weir) {
  const mb = async (name: string) => Math.round((await weir.metric(name)) / 2 ** 20);
  return { heapUsedMB: await mb('weir_nodejs_heap_size_used_bytes'), heapTotalMB: await mb('weir_nodejs_heap_size_total_bytes'),
    externalMB: await mb('weir_nodejs_external_memory_bytes') };
}

export async function memory(ctx: Ctx, kafka: KafkaBroker, backlogN: number, manyClients: number) {
  const weir = await startWeir(ctx.brokers, ctx.weir);
  let s: ReturnType<typeof sampler> | undefined;
  try {
    await ctx.quiet([weir.pid]);
    const idle = { ...memoryMB(weir.pid), ...(await heap(weir)), where: memoryBreakdownMB(weir.pid) };
    // Many connected clients, idle-ish: each publishes about once every 5 s.
    const many = startLoad({ port: weir.mqttPort, clients: manyClients, window: 4, rate: manyClients / 5, durationS: 25 });
    await many.connected;
    await sleep(15_000);
    const connected = ((await weir.status()) as unknown as { sources: { mqtt: { clients: number } } }).sources.mqtt.clients;
    const withClients = { clients: connected, ...memoryMB(weir.pid), ...(await heap(weir)), where: memoryBreakdownMB(weir.pid) };
    await many.result;
    ctx.log(`  idle ${idle.rss.toFixed(0)} MB, ${connected} clients ${withClients.rss.toFixed(0)} MB`);

    await kafka.stop();
    s = sampler(weir, 200);
    // The backlog is built in steps, flat out. RSS is read twice after each: 3 s after
    // the step, while the heap still holds the garbage of ingest at full speed, and
    // SETTLE_MS after it, once V8's memory reducer (which starts ~8 s after allocation
    // slows) has collected it: what the gateway holds with that backlog. The peak
    // while ingesting is reported too. Between steps the sampler scrapes every 5 s, as
    // monitoring would: five scrapes of /metrics and /api/status a second allocate
    // enough that V8 never sees the gateway idle and keeps the burst's heap.
    const points: Array<{ backlog: number; rssMB: number; rssAfter3sMB: number; heapUsedMB: number; where: ReturnType<typeof memoryBreakdownMB> }> = [];
    let sent = 0, ingestS = 0;
    for (const target of [0.1, 0.25, 0.5, 1].map((f) => Math.round(f * backlogN))) {
      const r = await startLoad({ port: weir.mqttPort, clients: ctx.clients, window: ctx.window, count: target - sent }).result;
      sent = target;
      ingestS += r.elapsedS;
      await waitFor(() => (s!.last()?.backlog ?? 0) >= target, 60_000, 'the backlog to reach the step');
      s.pace(5000);
      await sleep(3000);
      const rssAfter3sMB = memoryMB(weir.pid).rss;
      await sleep(SETTLE_MS - 3000);
      points.push({ backlog: s.last()!.backlog, rssMB: memoryMB(weir.pid).rss, rssAfter3sMB, ...(await heap(weir)), where: memoryBreakdownMB(weir.pid) });
      s.pace(200);
    }
    const atFull = memoryMB(weir.pid);
    const peakWhileIngesting = Math.max(...s.samples.map((x) => x.rssMB));
    ctx.log(`  backlog ${points.map((p) => `${p.backlog}: ${p.rssMB.toFixed(0)} MB (${p.rssAfter3sMB.toFixed(0)} after 3 s)`).join(', ')}; peak while ingesting ${peakWhileIngesting.toFixed(0)} MB`);
    // Then the backlog alone drains (no live load): how fast a full journal empties.
    await kafka.start();
    const upFwd = s.last()!.forwarded;
    await waitFor(() => s!.last()!.forwarded > upFwd, 120_000, 'forwarding to resume');
    const resume = s.last()!;
    await waitFor(() => s!.last()!.backlog === 0, 30 * 60_000, 'the backlog to drain');
    const end = s.last()!;
    const drainS = (end.at - resume.at) / 1000;
    await s.stop();
    return {
      idle, withClients, backlogN, settleS: SETTLE_MS / 1000, ingestWhileDownPerSec: backlogN / ingestS, backlogPoints: points, atFull, peakWhileIngesting,
      drainAloneS: drainS, drainAlonePerSec: (end.forwarded - resume.forwarded) / drainS, hwmMB: memoryMB(weir.pid).hwm,
    };
  } finally {
    await s?.stop();
    if (!kafka.running) await kafka.start();
    await weir.stop();
  }
}
