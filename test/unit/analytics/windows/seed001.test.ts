// Seed 001's pipeline — 5-minute tumbling avg and max of usage per (hostname, cpu), 10 s
// allowed lateness — against a brute-force reference, to the last digit.
import { describe, expect, it } from 'vitest';
import { WindowEngine, type WindowSpec } from '../../../../src/analytics/windows/index.js';
import { countBy, exact, reference, run, seed001Workload, T0, wkey, type Ev } from './support.js';

const CPU_MONITOR: WindowSpec = {
  name: 'usage-5m', type: 'tumbling', sizeMs: 300_000, aggregates: ['avg', 'max'], allowedLatenessMs: 10_000,
  groupByTags: ['cpu'], profile: 'cpu-monitor', metrics: ['usage'],
};

describe('seed 001: 5-minute tumbling avg/max per (hostname, cpu), 10 s lateness', () => {
  const evs = seed001Workload({
    seed: 1, hosts: 6, cpus: 4, durationMs: 47 * 60_000, periodMs: 1000,
    maxDisorderMs: 10_000, lateFraction: 0.03, maxLateMs: 90_000,
  });
  const ref = reference(evs, 300_000, 300_000, 10_000);
  const engine = new WindowEngine([CPU_MONITOR]);
  const out = run(engine, evs);

  it('emits every window once, with the reference values to the last digit', () => {
    expect(out.emitted.length).toBe(ref.windows.size);
    const got = new Map(out.emitted.map(({ agg }) => [wkey(agg.device, agg.tags.cpu!, agg.window_start), agg]));
    expect(got.size).toBe(ref.windows.size);
    for (const [key, w] of ref.windows) {
      const x = exact(w.values, w.ts);
      expect(got.get(key), key).toEqual({
        window: 'usage-5m', device: w.device, profile: 'cpu-monitor', metric: 'usage', tags: { cpu: w.cpu },
        window_start: w.start, window_end: w.end,
        count: x.count, sum: x.sum, min: x.min, max: x.max, avg: x.avg, first: x.first, last: x.last,
      });
    }
  });

  it('closes each window at the arrival that moves its device past end + 10 s, in end order per device', () => {
    for (const { at, agg } of out.emitted) {
      const key = wkey(agg.device, agg.tags.cpu!, agg.window_start);
      expect(at, key).toBe(ref.closedAt.get(key) ?? -1);
    }
    const lastEnd = new Map<string, number>();
    for (const { at, agg } of out.emitted.filter((e) => e.at >= 0)) {
      expect(agg.window_end, `${agg.device} at ${at}`).toBeGreaterThanOrEqual(lastEnd.get(agg.device) ?? 0);
      lastEnd.set(agg.device, agg.window_end);
    }
    // Windows of the last five minutes stay open until flushed.
    expect(out.emitted.filter((e) => e.at === -1).every((e) => e.agg.window_end + 10_000 > T0 + 47 * 60_000 - 1)).toBe(true);
  });

  it('counts late readings per window exactly, and nothing else as late', () => {
    expect(ref.late.size).toBeGreaterThan(10); // the workload does have late readings
    expect(countBy(out.late, (l) => l.key)).toEqual(ref.late);
    const total = [...ref.late.values()].reduce((a, b) => a + b, 0);
    expect(engine.stats().lateTotal).toBe(total);
    // Every reading arriving within 10 s of its event time was on time.
    const lateIdx = new Set(out.late.map((l) => l.at));
    expect(evs.filter((e, i) => lateIdx.has(i) && e.received - e.ts <= 10_000)).toEqual([]);
  });

  it('hands each late reading back as a one-reading correction of its closed window', () => {
    const e: Ev = { device: 'h', profile: 'cpu-monitor', ts: T0 + 1000, received: T0 + 1000, tags: { cpu: 'cpu0' }, metrics: { usage: 50 } };
    const eng = new WindowEngine([CPU_MONITOR]);
    eng.add(e, e.received);
    expect(eng.add({ ...e, ts: T0 + 310_000 }, T0 + 310_000).emitted).toHaveLength(1);
    const r = eng.add({ ...e, ts: T0 + 2000, metrics: { usage: 97.5 } }, T0 + 311_000);
    expect(r.emitted).toEqual([]);
    expect(r.late).toEqual([{
      ts: T0 + 2000, value: 97.5, closedThrough: T0 + 300_000,
      correction: {
        window: 'usage-5m', device: 'h', profile: 'cpu-monitor', metric: 'usage', tags: { cpu: 'cpu0' },
        window_start: T0, window_end: T0 + 300_000, count: 1, sum: 97.5, min: 97.5, max: 97.5, avg: 97.5, first: 97.5, last: 97.5, late: 1,
      },
    }]);
  });

  it('applies the closing rule at the millisecond: end + 10 s closes, one ms less does not', () => {
    const eng = new WindowEngine([CPU_MONITOR]);
    const at = (ts: number, usage = 1) => eng.add({ device: 'h', profile: 'cpu-monitor', ts, tags: { cpu: 'c' }, metrics: { usage } }, ts);
    at(T0 + 299_999);
    expect(at(T0 + 309_999).emitted).toEqual([]);
    // Exactly 10 s behind the newest reading, in the last millisecond of the window: on time.
    expect(at(T0 + 299_999, 3).late).toEqual([]);
    const closed = at(T0 + 310_000).emitted;
    expect(closed.map((a) => [a.window_start, a.count, a.sum])).toEqual([[T0, 2, 4]]);
    expect(at(T0 + 299_999).late).toHaveLength(1);
  });

  it('ignores other profiles and metrics, skips non-finite and out-of-range values and counts them', () => {
    const eng = new WindowEngine([CPU_MONITOR]);
    const r0 = { device: 'h', ts: T0, tags: { cpu: 'c' } };
    eng.add({ ...r0, profile: 'other', metrics: { usage: 5 } }, T0);
    eng.add({ ...r0, profile: 'cpu-monitor', metrics: { usage: Number.NaN, temp: 7, constructor: 1 } }, T0);
    eng.add({ ...r0, profile: 'cpu-monitor', metrics: { usage: 5 } }, T0);
    eng.add({ ...r0, profile: 'cpu-monitor', metrics: { usage: -1e101 } }, T0);
    eng.add({ ...r0, profile: 'cpu-monitor', metrics: { usage: 'x' as unknown as number } }, T0);
    expect(eng.stats()).toMatchObject({ keys: 1, openWindows: 1, invalidTotal: 3 });
    expect(eng.flushAll().map((a) => [a.metric, a.count])).toEqual([['usage', 1]]);
  });
});
