// Hopping windows and every aggregate (stddev, sketch percentiles included) against brute force.
import { describe, expect, it } from 'vitest';
import { SKETCH_RELATIVE_ACCURACY, WindowEngine, type Aggregate, type WindowSpec } from '../../../../src/analytics/windows/index.js';
import { countBy, exact, reference, run, seed001Workload, wkey } from './support.js';

const ALL: WindowSpec['aggregates'] = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'stddev', 'p50', 'p95', 'p99'];

/** |got − want| ≤ α·|want|, the sketch's stated bound (plus float rounding in the check itself). */
function withinSketchError(got: number | undefined, want: number): boolean {
  return got !== undefined && Math.abs(got - want) <= SKETCH_RELATIVE_ACCURACY * Math.abs(want) * (1 + 1e-12);
}

describe.each([
  { size: 300_000, slide: 60_000, lateness: 10_000, signed: false },
  { size: 120_000, slide: 45_000, lateness: 5_000, signed: true },
])('hopping $size ms every $slide ms, lateness $lateness ms, signed values: $signed', ({ size, slide, lateness, signed }) => {
  const evs = seed001Workload({
    seed: size + slide, hosts: 3, cpus: 3, durationMs: 31 * 60_000, periodMs: 700,
    maxDisorderMs: lateness, lateFraction: 0.04, maxLateMs: 4 * lateness, signed,
  });
  // Equal event times make first/last tie-breaking observable.
  for (let i = 5; i < evs.length; i += 97) evs[i] = { ...evs[i]!, ts: evs[i - 1]!.ts, device: evs[i - 1]!.device, tags: evs[i - 1]!.tags };
  const ref = reference(evs, size, slide, lateness);
  const spec: WindowSpec = { name: 'hop', type: 'hopping', sizeMs: size, slideMs: slide, aggregates: ALL, allowedLatenessMs: lateness, groupByTags: ['cpu'] };
  const out = run(new WindowEngine([spec]), evs);
  const got = new Map<string, Aggregate>(out.emitted.map(({ agg }) => [wkey(agg.device, agg.tags.cpu!, agg.window_start), agg]));

  it('emits exactly the reference windows, at the reference moments', () => {
    expect(out.emitted.length).toBe(ref.windows.size);
    expect(new Set(got.keys())).toEqual(new Set(ref.windows.keys()));
    for (const { at, agg } of out.emitted) expect(at).toBe(ref.closedAt.get(wkey(agg.device, agg.tags.cpu!, agg.window_start)) ?? -1);
    expect(countBy(out.late, (l) => l.key)).toEqual(ref.late);
    expect(ref.late.size).toBeGreaterThan(0);
  });

  it('count, sum, min, max, avg, first, last exactly; stddev (population) to 1e-9', () => {
    for (const [key, w] of ref.windows) {
      const a = got.get(key)!;
      const x = exact(w.values, w.ts);
      expect({ ...a, stddev: 0, p50: 0, p95: 0, p99: 0 }, key).toEqual({
        window: 'hop', device: w.device, profile: 'cpu-monitor', metric: 'usage', tags: { cpu: w.cpu },
        window_start: w.start, window_end: w.end,
        count: x.count, sum: x.sum, min: x.min, max: x.max, avg: x.avg, first: x.first, last: x.last,
        stddev: 0, p50: 0, p95: 0, p99: 0,
      });
      expect(Math.abs(a.stddev! - x.stddev), key).toBeLessThanOrEqual(1e-9 * Math.max(1, x.stddev));
    }
  });

  it('p50/p95/p99 are within 1 % of the exact quantile', () => {
    const bad: string[] = [];
    for (const [key, w] of ref.windows) {
      const a = got.get(key)!;
      const x = exact(w.values, w.ts);
      for (const [name, q] of [['p50', 0.5], ['p95', 0.95], ['p99', 0.99]] as const) {
        if (!withinSketchError(a[name], x.quantile(q))) bad.push(`${key} ${name}: ${a[name]} vs ${x.quantile(q)}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('hopping assignment at the edges', () => {
  it('puts a reading in size/slide windows, start inclusive, end exclusive', () => {
    const eng = new WindowEngine([{ name: 'h', type: 'hopping', sizeMs: 10, slideMs: 5, aggregates: [], allowedLatenessMs: 0 }]);
    const add = (ts: number, v: number) => eng.add({ device: 'd', profile: 'p', ts, tags: {}, metrics: { v } }, ts);
    add(5, 1);
    add(9, 2);
    expect(add(10, 4).emitted.map((a) => [a.window_start, a.window_end, a.count, a.sum])).toEqual([[0, 10, 2, 3]]);
    expect(eng.flushAll().map((a) => [a.window_start, a.window_end, a.count, a.sum])).toEqual([[5, 15, 3, 7], [10, 20, 1, 4]]);
  });
});
