// Memory per open window key, measured: N devices × 1 series in one open window, after a
// full GC. Heap plus ArrayBuffer memory: the accumulators live in Float64Array slabs.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { WindowEngine, type WindowSpec } from '../../../../src/analytics/windows/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Bytes of heap per open key: `devices` devices, `cpus` series each, one open window. */
function bytesPerKey(spec: WindowSpec, devices: number, cpus: number): number {
  const before = heapAfterGc();
  const eng = new WindowEngine([spec]);
  for (let d = 0; d < devices; d++) {
    for (let c = 0; c < cpus; c++) {
      eng.add({ device: `host-${d}`, profile: 'cpu-monitor', ts: 1000 + c, tags: { cpu: `cpu${c}` }, metrics: { usage: (d * 7 + c * 13) % 100 + 0.5 } }, 1000);
    }
  }
  const after = heapAfterGc();
  expect(eng.stats().openWindows).toBe(devices * cpus);
  return (after - before) / (devices * cpus);
}

const SEED001: WindowSpec = { name: 'usage-5m', type: 'tumbling', sizeMs: 300_000, aggregates: ['avg', 'max'], allowedLatenessMs: 10_000, groupByTags: ['cpu'] };

describe('memory per open window key', () => {
  it('stays small: seed 001 window, with and without stddev and percentiles', () => {
    const one = bytesPerKey(SEED001, 10_000, 1);
    const four = bytesPerKey(SEED001, 2_500, 4);
    const stddev = bytesPerKey({ ...SEED001, aggregates: ['avg', 'max', 'stddev'] }, 10_000, 1);
    const sketch = bytesPerKey({ ...SEED001, aggregates: ['p50', 'p95', 'p99'] }, 2_000, 1);
    console.log(`[windows] heap per open window key: ${Math.round(one)} B (1 series/device, incl. device state), `
      + `${Math.round(four)} B (4 series/device), ${Math.round(stddev)} B with stddev, ${Math.round(sketch)} B with a sketch`);
    // With a Map per window and push()-grown lists these were 949 and 332 B (window-series.ts).
    expect(one).toBeLessThan(700);
    expect(four).toBeLessThan(260);
    expect(sketch).toBeLessThan(6000);
  });

  it('10,000 devices × 3 metrics × 2 windows (the issue\'s benchmark shape) fit in 13 MB', () => {
    const specs: WindowSpec[] = [
      { name: '5m', type: 'tumbling', sizeMs: 300_000, aggregates: ['avg', 'max'], allowedLatenessMs: 10_000 },
      { name: '1m', type: 'hopping', sizeMs: 60_000, slideMs: 60_000, aggregates: ['stddev'], allowedLatenessMs: 10_000 },
    ];
    const before = heapAfterGc();
    const eng = new WindowEngine(specs);
    for (let d = 0; d < 10_000; d++) {
      eng.add({ device: `dev-${d}`, profile: 'env', ts: 1000, tags: {}, metrics: { temp: 20 + (d % 7), hum: 40 + (d % 11), pres: 1000 + (d % 13) } }, 1000);
    }
    const mb = (heapAfterGc() - before) / 2 ** 20;
    expect(eng.stats()).toMatchObject({ keys: 10_000, openWindows: 60_000 });
    console.log(`[windows] 10,000 devices × 3 metrics × 2 windows: ${mb.toFixed(1)} MB heap (${Math.round((mb * 2 ** 20) / 60_000)} B per open key)`);
    // 18.0 MB with a Map per window and push()-grown lists; 13.1–13.3 MB with three label arrays per table (series-table.ts).
    expect(mb).toBeLessThan(13);
  });
});
