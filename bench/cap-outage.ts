// Issue 5's benchmark: a long outage compressed in time. Kafka is stopped; readings
// arrive at a steady rate until the journal reaches its cap (journal.maxBytes, evict)
// and beyond, so eviction runs in steady state; then Kafka returns and the backlog
// drains while live readings keep coming. Reported: bytes the gateway wrote to disk
// per byte of payload received over the whole run (/proc/<pid>/io write_bytes), the
// drain rate, evictions, journal size against the cap, and RSS every second (flat?).
//
//   npm run build && node --import tsx bench/cap-outage.ts [--cap-mb 64] [--rate 8000] [--over-s 30]
//
// Results: bench/results/cap-outage.json.
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO } from '../test/support/gateway.js';
import { sleep, waitFor } from '../test/support/wait.js';
import { distStale } from './dist.js';
import { startLoad } from './load.js';
import { killAll, startKafka, startWeir } from './peers.js';
import { loadAverage, memoryMB, writeBytes } from './procfs.js';

const { values: a } = parseArgs({ options: { 'cap-mb': { type: 'string', default: '64' }, rate: { type: 'string', default: '8000' }, 'over-s': { type: 'string', default: '30' } } });
const CAP = Number(a['cap-mb']) * 1024 * 1024;
const RATE = Number(a.rate);
const log = (s: string) => console.error(s);

interface Sample { t: number; rssMB: number; usedMB: number; backlog: number; evicted: number; forwarded: number; uplink: string }

async function main(): Promise<void> {
  if (distStale()) throw new Error('dist/ is older than src/: run `npm run build` first');
  const { broker } = await startKafka();
  const weir = await startWeir(broker.brokers, { config: { journal: { maxBytes: CAP, minFreeBytes: 0, fullPolicy: 'evict' } } });
  const samples: Sample[] = [];
  const t0 = Date.now();
  let on = true;
  const sampling = (async () => {
    while (on) {
      const s = (await weir.status().catch(() => null)) as unknown as { backlogTotal: number; uplink: { state: string }; disk: { usedBytes: number; evicted: Record<string, number> } } | null;
      if (s) {
        samples.push({
          t: (Date.now() - t0) / 1000, rssMB: Math.round(memoryMB(weir.pid).rss), usedMB: +(s.disk.usedBytes / 2 ** 20).toFixed(1), backlog: s.backlogTotal,
          evicted: Object.values(s.disk.evicted).reduce((x, y) => x + y, 0), forwarded: await weir.forwarded().catch(() => 0), uplink: s.uplink.state,
        });
      }
      await sleep(1000);
    }
  })();
  try {
    const w0 = writeBytes(weir.pid);
    await broker.stop();
    log(`Kafka stopped; ${RATE} readings/s until the ${a['cap-mb']} MiB cap, then ${a['over-s']} s more`);
    const load = startLoad({ port: weir.mqttPort, clients: 50, window: 16, rate: RATE });
    await load.connected;
    await waitFor(() => (samples.at(-1)?.evicted ?? 0) > 0, 30 * 60_000, 'the cap', 500);
    const tCap = Date.now();
    log(`  cap reached after ${((tCap - t0) / 1000).toFixed(0)} s`);
    await sleep(Number(a['over-s']) * 1000);
    await broker.start();
    const tUp = Date.now();
    const atUp = samples.at(-1)!;
    log(`  Kafka back; backlog ${atUp.backlog}`);
    await waitFor(() => (samples.at(-1)!.backlog < RATE ? true : null), 30 * 60_000, 'the drain', 500);
    const tDrained = Date.now();
    const drained = samples.at(-1)!;
    const gen = await load.stop();
    await sleep(2000);
    const written = writeBytes(weir.pid) - w0;
    const drainS = (tDrained - tUp) / 1000;
    const series = samples.map((s) => ({ ...s }));
    const rss = series.map((s) => s.rssMB);
    const result = {
      date: new Date().toISOString(), capMB: CAP / 2 ** 20, rate: RATE,
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAverage: loadAverage() },
      capReachedS: (tCap - t0) / 1000, outageS: (tUp - t0) / 1000, drainS, forwardedPerSecDuringDrain: (drained.forwarded - atUp.forwarded) / drainS,
      received: gen.acked, payloadBytes: gen.payloadBytes, writtenBytes: written, bytesWrittenPerByteReceived: written / gen.payloadBytes,
      evicted: drained.evicted, maxUsedMB: Math.max(...series.map((s) => s.usedMB)),
      rssMB: { min: Math.min(...rss), max: Math.max(...rss), atCap: series.find((s) => s.evicted > 0)?.rssMB, end: rss.at(-1) },
      series,
    };
    writeFileSync(join(REPO, 'bench/results/cap-outage.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nLong outage, compressed — ${result.date}: ${RATE} readings/s, cap ${result.capMB} MiB (evict)`);
    console.log(`cap reached after ${result.capReachedS.toFixed(0)} s; ${result.evicted} readings evicted; journal in use at most ${result.maxUsedMB} MiB (cap ${result.capMB})`);
    console.log(`drain: ${result.drainS.toFixed(1)} s at ${result.forwardedPerSecDuringDrain.toFixed(0)} forwarded/s while ${RATE}/s kept arriving`);
    console.log(`bytes written per byte received: ${result.bytesWrittenPerByteReceived.toFixed(2)} (${(written / 2 ** 20).toFixed(0)} MiB for ${(gen.payloadBytes / 2 ** 20).toFixed(0)} MiB of payload)`);
    console.log(`RSS: ${result.rssMB.min}–${result.rssMB.max} MB over the run (at the cap ${result.rssMB.atCap}, end ${result.rssMB.end})`);
  } finally {
    on = false;
    await sampling;
    if (!broker.running) await broker.start().catch(() => undefined);
    await weir.stop();
    await broker.stop();
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAll(); process.exit(130); });
main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
