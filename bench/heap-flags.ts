// What V8 heap flags cost and save: the gateway under the same full-speed load once per
// flag set, in one go — CPU-seconds per 1M readings, RSS idle, after and at its peak.
// The flag sets come after the unit's own flags (deployedNodeFlags), so they override them.
//
//   npm run build && node --import tsx bench/heap-flags.ts [--n 400000] [--analytics] \
//     [--sets "--max-semi-space-size=16 --max-old-space-size=4096;--max-semi-space-size=4"]
//
// Results: bench/results/heap-flags.json (see bench/README.md, "Heap flags").
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO } from '../test/support/gateway.js';
import { distStale } from './dist.js';
import { startLoad } from './load.js';
import { deployedNodeFlags, killAll, startKafka, startWeir } from './peers.js';
import { cpuSeconds, memoryMB, rssSampler, waitQuiet } from './procfs.js';

const DEFAULT_SETS = [
  '--max-semi-space-size=16 --max-old-space-size=4096', // V8's own sizing on this 24 GB machine
  '--max-semi-space-size=4 --max-old-space-size=4096',
  '--max-semi-space-size=16 --max-old-space-size=256',
  '--max-semi-space-size=8 --max-old-space-size=256',
  '', // the unit's flags alone
].join(';');
const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '400000' }, analytics: { type: 'boolean', default: false }, sets: { type: 'string', default: DEFAULT_SETS },
} });
const N = Number(a.n);
const log = (s: string) => console.error(s);

async function main(): Promise<void> {
  if (distStale()) throw new Error('dist/ is older than src/: run `npm run build` first');
  const { broker } = await startKafka();
  const runs = [];
  try {
    for (const set of a.sets!.split(';')) {
      const flags = set.split(/\s+/).filter(Boolean);
      const weir = await startWeir(broker.brokers, { nodeArgs: flags, config: { analytics: { enabled: a.analytics } } });
      try {
        await waitQuiet([process.pid, weir.pid], 0.3, 120_000, log);
        const idle = memoryMB(weir.pid).rss;
        const cpu0 = cpuSeconds(weir.pid);
        const rss = rssSampler(weir.pid);
        const r = await startLoad({ port: weir.mqttPort, clients: 100, window: 32, count: N }).result;
        await weir.allForwarded(N);
        const mem = rss.stop();
        const run = {
          flags: [...deployedNodeFlags(), ...flags].join(' '), readingsPerSec: r.acksPerSec,
          cpuSecondsPer1M: ((cpuSeconds(weir.pid) - cpu0) / N) * 1e6, idleRssMB: idle, afterRssMB: mem.endMB, peakRssMB: mem.maxMB,
        };
        log(`${run.flags}: ${run.readingsPerSec.toFixed(0)}/s, ${run.cpuSecondsPer1M.toFixed(1)} CPU-s/1M, RSS idle ${idle.toFixed(0)}, after ${run.afterRssMB.toFixed(0)}, peak ${run.peakRssMB.toFixed(0)} MB`);
        runs.push(run);
      } finally {
        await weir.stop();
      }
    }
  } finally {
    await broker.stop();
  }
  writeFileSync(join(REPO, 'bench/results/heap-flags.json'), `${JSON.stringify({ date: new Date().toISOString(), n: N, analytics: a.analytics, runs }, null, 2)}\n`);
  console.log('| Node flags | readings/s | CPU-s per 1M | RSS idle / after / peak, MB |\n|---|---|---|---|');
  for (const r of runs) console.log(`| \`${r.flags}\` | ${r.readingsPerSec.toFixed(0)} | ${r.cpuSecondsPer1M.toFixed(1)} | ${r.idleRssMB.toFixed(0)} / ${r.afterRssMB.toFixed(0)} / ${r.peakRssMB.toFixed(0)} |`);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAll(); process.exit(130); });
main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
