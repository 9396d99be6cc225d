// Flash written under light traffic: what each reading costs the SD card when readings
// trickle in, for the group-commit policies side by side in one go. The ingest
// scenario's flash figure is measured flat out, where every commit carries a thousand
// readings; at a site's usual load a commit carries one or two, and each commit writes
// and flushes at least a page (journal.commitFillBytes, commitMaxWaitMs: group-commit.ts).
//
//   npm run build && node --import tsx bench/flash-light.ts [--rates 100,1000] [--seconds 20]
//        [--max-waits 2,50,250]   # journal.commitMaxWaitMs; 2 (= commitIntervalMs): the policy before 2026-11-24
//
// Each device (an MQTT client) publishes QoS 1 one reading at a time, waiting for its
// PUBACK (a window of 1, as simple devices and CoAP's NSTART = 1 do), at rate/devices
// readings/s each. Figures: bytes the gateway process wrote to storage (/proc/<pid>/io
// write_bytes) per reading and per payload byte, GB per day at that rate, commits, and
// the devices' PUBACK latency — what the wait costs them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO, sleep } from '../test/support/gateway.js';
import { distStale } from './dist.js';
import { startLoad } from './load.js';
import { killAll, startKafka, startWeir } from './peers.js';
import { loadAverage, writeBytes } from './procfs.js';

const { values: a } = parseArgs({
  options: {
    rates: { type: 'string', default: '100,1000' },
    seconds: { type: 'string', default: '20' },
    'max-waits': { type: 'string', default: '2,50,250' },
  },
});
if (distStale(['journal', 'ingest', 'sources'])) throw new Error('dist/ is older than src/: run `npm run build` first');
const rates = a.rates!.split(',').map(Number);
const maxWaits = a['max-waits']!.split(',').map(Number);
const seconds = Number(a.seconds);
const log = (s: string) => console.error(s);

/** Devices for a total rate: about 2 readings/s each at 100/s, 5 each at 1,000/s. */
const devicesFor = (rate: number) => (rate <= 200 ? Math.max(1, Math.round(rate / 2)) : Math.round(rate / 5));

const { broker } = await startKafka();
const runs: Array<Record<string, number>> = [];
try {
  log(`load average ${loadAverage()}; ${seconds} s per run`);
  for (const rate of rates) {
    for (const maxWaitMs of maxWaits) {
      const weir = await startWeir(broker.brokers, { config: { journal: { commitMaxWaitMs: maxWaitMs } } });
      try {
        const devices = devicesFor(rate);
        await startLoad({ port: weir.mqttPort, clients: devices, window: 1, rate, durationS: 3 }).result; // warm-up
        await sleep(1500);
        const io0 = writeBytes(weir.pid);
        const commits0 = await weir.metric('weir_journal_commit_records_count');
        const r = await startLoad({ port: weir.mqttPort, clients: devices, window: 1, rate, durationS: seconds }).result;
        await sleep(1500); // acknowledged rows are deleted up to 1 s after Kafka's ack: their writes belong to the run
        const written = writeBytes(weir.pid) - io0;
        const commits = (await weir.metric('weir_journal_commit_records_count')) - commits0;
        const run = {
          rate, devices, maxWaitMs, readings: r.acked, achievedPerSec: r.acked / r.elapsedS, commits,
          readingsPerCommit: r.acked / commits, writtenPerReading: written / r.acked,
          writtenPerPayloadByte: written / r.payloadBytes, gbPerDay: (written / r.elapsedS) * 86_400 / 1e9,
          pubackP50Ms: r.pubackMs.p50, pubackP99Ms: r.pubackMs.p99,
        };
        runs.push(run);
        log(`  ${rate}/s from ${devices} devices, commitMaxWaitMs ${maxWaitMs}: ${run.readingsPerCommit.toFixed(1)} readings/commit, ` +
          `${run.writtenPerReading.toFixed(0)} B written per reading (${run.writtenPerPayloadByte.toFixed(1)} per payload byte, ` +
          `${run.gbPerDay.toFixed(1)} GB/day), PUBACK p50/p99 ${r.pubackMs.p50}/${r.pubackMs.p99} ms`);
      } finally {
        await weir.stop();
      }
    }
  }
} finally {
  await broker.destroy();
  killAll();
}

console.log('\n| readings/s (devices) | commitMaxWaitMs | readings per commit | bytes written per reading | per payload byte | GB/day | PUBACK p50 / p99 ms |');
console.log('|---|---|---|---|---|---|---|');
for (const r of runs) {
  console.log(`| ${r.rate} (${r.devices}) | ${r.maxWaitMs} | ${r.readingsPerCommit!.toFixed(1)} | ${r.writtenPerReading!.toFixed(0)} | ${r.writtenPerPayloadByte!.toFixed(1)} | ${r.gbPerDay!.toFixed(2)} | ${r.pubackP50Ms} / ${r.pubackP99Ms} |`);
}
const out = join(REPO, 'bench/results/flash-light.json');
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), seconds, runs }, null, 2));
log(`raw results: ${out}`);
