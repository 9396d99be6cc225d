import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RuleEngine, type Alert, type RuleSpecInput } from '../../../../src/analytics/rules/index.js';
import { RollingWindow } from '../../../../src/analytics/rules/rolling.js';

const T0 = 1_700_000_000_000;

function run(rule: RuleSpecInput, values: number[], times?: number[]): Alert[] {
  const e = new RuleEngine({ p: [rule] });
  return values.flatMap((v, i) => {
    const ts = times ? times[i]! : T0 + i * 1000;
    return e.evaluate({ device: 'd', profile: 'p', ts, received: ts, metrics: { x: v } });
  });
}

/** Brute force: mean and sample stddev (two-pass) of the window; undefined when not scoreable. */
function bruteStats(win: number[]): { mean: number; std: number } | undefined {
  if (win.length < 2) return undefined;
  const mean = win.reduce((a, b) => a + b, 0) / win.length;
  const std = Math.sqrt(win.reduce((a, b) => a + (b - mean) ** 2, 0) / (win.length - 1));
  return { mean, std: win.every((v) => v === win[0]) ? 0 : std };
}

const base = { device: 'd', profile: 'p', rule: 'x-zscore', kind: 'zscore', metric: 'x', tags: {} } as const;
const close = (n: number) => expect.closeTo(n, 12);

describe('zscore rule', () => {
  it('fires on |z| > k against the previous window, once, and resolves at |z| <= k - hysteresis', () => {
    const rule: RuleSpecInput = { kind: 'zscore', metric: 'x', k: 3, hysteresis: 1, window: { readings: 4 }, minSamples: 3 };
    // 10 10 10: under minSamples (and then constant: std 0 gives no z, even for 11).
    // 12 against [10,10,10,11]: mean 10.25, std 0.5, z = 3.5 → fires.
    // 13.5 against [10,10,11,12]: z ≈ 2.87, in the band (2, 3]: still firing.
    // 14 against [10,11,12,13.5]: z ≈ 1.59 → resolves.
    const alerts = run(rule, [10, 10, 10, 10, 11, 12, 13.5, 14]);
    const s2 = bruteStats([10, 11, 12, 13.5])!;
    expect(alerts).toEqual([
      { ...base, state: 'firing', value: 12, ts: T0 + 5000, details: { z: close(3.5), mean: close(10.25), std: close(0.5), n: 4, k: 3 } },
      { ...base, state: 'resolved', value: 14, ts: T0 + 7000, details: { z: close((14 - s2.mean) / s2.std), mean: close(s2.mean), std: close(s2.std), n: 4, k: 3 } },
    ]);
    expect((14 - s2.mean) / s2.std).toBeLessThan(2);
  });

  it('needs minSamples readings in the window before it can fire', () => {
    const rule: RuleSpecInput = { kind: 'zscore', metric: 'x', k: 1, window: { readings: 10 }, minSamples: 5 };
    expect(run(rule, [0, 1, 0, 1, 100])).toEqual([]); // 4 in the window
    expect(run(rule, [0, 1, 0, 1, 0, 100]).map((a) => a.state)).toEqual(['firing']);
  });

  it('a constant window gives no z unless minStd sets a floor', () => {
    const flat = [5, 5, 5, 5, 5, 6];
    expect(run({ kind: 'zscore', metric: 'x', minSamples: 5 }, flat)).toEqual([]);
    expect(run({ kind: 'zscore', metric: 'x', minSamples: 5, minStd: 0.25 }, flat)).toEqual([
      { ...base, state: 'firing', value: 6, ts: T0 + 5000, details: { z: 4, mean: 5, std: 0.25, n: 5, k: 3 } },
    ]);
  });

  it('a time window holds the readings within `ms` of the largest event time seen (evicting oldest arrival first)', () => {
    const rule: RuleSpecInput = { kind: 'zscore', metric: 'x', k: 2, window: { ms: 3000 }, minSamples: 2 };
    const at = (secs: number[]) => secs.map((sec) => T0 + sec * 1000);
    // At t=10 s the window (7 s, 10 s] holds none of the old readings: no z despite the jump.
    expect(run(rule, [1, 2, 1, 2, 50], at([0, 1, 2, 3, 10]))).toEqual([]);
    // At t=4 s the window is (1 s, 4 s]: the readings of 2 s and 3 s.
    expect(run(rule, [1, 2, 1, 2, 50], at([0, 1, 2, 3, 4])).map((a) => [a.ts, a.details?.n])).toEqual([[T0 + 4000, 2]]);
    // A late reading (arrival order 0 s, 5 s, 1 s) stays while an older arrival is in front of it:
    // at 7 s the cutoff (4 s) evicts 0 s, then stops at 5 s, so the late 1 s reading still counts.
    expect(run(rule, [1, 3, 1, 60], at([0, 5, 1, 7])).map((a) => [a.ts, a.details?.n])).toEqual([[T0 + 7000, 2]]);
  });

  it('equals a brute-force z computation over random series (count windows)', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 5, maxLength: 300 }),
      fc.integer({ min: 2, max: 25 }), fc.integer({ min: 2, max: 25 }),
      fc.double({ min: 0.5, max: 3, noNaN: true }), fc.double({ min: 0, max: 0.4, noNaN: true }),
      fc.constantFrom(0, 1e6), fc.integer({ min: 1, max: 1000 }),
      (ints, w, ms, k, hFrac, offset, scale) => {
        const window = Math.max(w, ms);
        const minSamples = Math.min(w, ms);
        const hysteresis = hFrac * k;
        const values = ints.map((i) => offset + i / scale);
        const expected: Array<[string, number, number, number]> = [];
        let firing = false;
        for (let i = 0; i < values.length; i++) {
          const win = values.slice(Math.max(0, i - window), i);
          if (win.length < minSamples) continue;
          const st = bruteStats(win)!;
          if (st.std === 0) continue;
          const z = (values[i]! - st.mean) / st.std;
          // Rounding error of z grows with |mean| / std (values far from 0, close together).
          const tol = Math.max(1, Math.abs(z)) * (1e-9 + 1e-12 * Math.abs(st.mean) / st.std);
          // A z within rounding of a boundary could go either way: not a meaningful case.
          fc.pre(Math.abs(Math.abs(z) - k) > 10 * tol && Math.abs(Math.abs(z) - (k - hysteresis)) > 10 * tol);
          if (!firing && Math.abs(z) > k) { firing = true; expected.push(['firing', i, z, tol]); }
          else if (firing && Math.abs(z) <= k - hysteresis) { firing = false; expected.push(['resolved', i, z, tol]); }
        }
        const got = run({ kind: 'zscore', metric: 'x', k, hysteresis, window: { readings: window }, minSamples }, values);
        expect(got.map((a) => [a.state, (a.ts - T0) / 1000])).toEqual(expected.map(([st, i]) => [st, i]));
        got.forEach((a, j) => expect(Math.abs(a.details!.z! - expected[j]![2])).toBeLessThanOrEqual(expected[j]![3]));
      },
    ), { numRuns: 500 });
  });
});

describe('RollingWindow', () => {
  it('keeps mean and stddev within rounding of a two-pass computation over 20,000 updates with a large offset', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const cap = 50;
    const w = new RollingWindow(cap, false);
    const all: number[] = [];
    let worst = 0;
    for (let i = 0; i < 20_000; i++) {
      const v = 1e6 + (i % 5000 < 2500 ? rnd() : 1000 * rnd());
      all.push(v);
      w.push(v, i);
      const ref = bruteStats(all.slice(-cap))!;
      const got = w.stats();
      if (!ref || !got) continue;
      expect(Math.abs(got.mean - ref.mean)).toBeLessThan(1e-6);
      worst = Math.max(worst, Math.abs(got.std - ref.std) / ref.std);
    }
    expect(worst).toBeLessThan(1e-6);
  });

  it('saved mid-stream (after growing and wrapping), a restored window continues bit for bit', () => {
    const values = Array.from({ length: 500 }, (_, i) => Math.sin(i) * 100 + (i % 17) * 1e3);
    const a = new RollingWindow(40, true);
    let b: RollingWindow | undefined;
    values.forEach((v, i) => {
      a.push(v, i * 10);
      a.evictUpTo(i * 10 - 300);
      if (i === 20 || i === 137) b = new RollingWindow(40, true, JSON.parse(JSON.stringify(a.save())));
      else if (b) {
        b.push(v, i * 10);
        b.evictUpTo(i * 10 - 300);
      }
      if (b) expect(b.stats()).toEqual(a.stats());
    });
    expect(b!.save()).toEqual(a.save());
  });

  it('reports std exactly 0 for identical values, whatever came before', () => {
    const w = new RollingWindow(4, false);
    for (const v of [0.1, 1e9, -3.3, 7.7, 0.3, 0.3, 0.3, 0.3]) w.push(v, 0);
    expect(w.stats()).toEqual({ mean: 0.3, std: 0 });
    w.push(0.30000000000000004, 0);
    expect(w.stats()!.std).toBeGreaterThan(0);
  });
});
