// A single huge glitch (e.g. 0xFFFFFFFF, a sensor's "no value" word) that joins the
// window and later leaves it must not distort the statistics once it is gone: z is
// "(value - mean) / stddev of the window" (schema.ts). RollingWindow removes an
// evicted value with Welford's inverse update, which cancels catastrophically when
// the value removed dwarfs the rest: m2 keeps an error of ~ glitch² · 2^-52, far
// larger than the remaining spread, until the next exact recompute (up to `capacity`
// evictions later: 59 readings with the default window, 999 with a time window).
import { describe, expect, it } from 'vitest';
import { RuleEngine } from '../../../../src/analytics/rules/index.js';
import { RollingWindow } from '../../../../src/analytics/rules/rolling.js';

const T0 = 1_700_000_000_000;
const GLITCH = 4_294_967_295; // 0xFFFFFFFF
const NORMAL = [20, 20.5, 19.5];

/** Readings 0..n-1: NORMAL repeating, with the glitch at index `at`. */
function series(n: number, at: number): number[] {
  return Array.from({ length: n }, (_, i) => (i === at ? GLITCH : NORMAL[i % 3]!));
}

function twoPass(win: number[]): { mean: number; std: number } {
  const mean = win.reduce((a, b) => a + b, 0) / win.length;
  return { mean, std: Math.sqrt(win.reduce((a, b) => a + (b - mean) ** 2, 0) / (win.length - 1)) };
}

describe('zscore after a huge glitch has left the window', () => {
  it('RollingWindow: the stddev is that of the values held, not a cancellation residue of the evicted glitch', () => {
    const cap = 10;
    const w = new RollingWindow(cap, false);
    // Glitch at index 10: it is evicted by the 11th eviction, just after the exact recompute at the 10th.
    const values = series(21, 10);
    values.forEach((v) => w.push(v, 0));
    const ref = twoPass(values.slice(-cap)); // [20.5, 19.5, 20, …]: std ≈ 0.438
    const got = w.stats()!;
    expect(got.mean).toBeCloseTo(ref.mean, 9);
    expect(got.std).toBeCloseTo(ref.std, 6);
  });

  it('engine: a reading 11 standard deviations off, right after the glitch left the window, fires', () => {
    const e = new RuleEngine({ p: [{ kind: 'zscore', metric: 'x', k: 3, window: { readings: 10 }, minSamples: 5 }] });
    const values = [...series(21, 10), 25];
    const alerts = values.flatMap((v, i) => e.evaluate({ device: 'd', profile: 'p', ts: T0 + i * 1000, received: T0 + i * 1000, metrics: { x: v } })
      .map((a) => ({ i, state: a.state, z: a.details!.z })));
    const ref = twoPass(values.slice(-11, -1));
    const z = (25 - ref.mean) / ref.std; // ≈ 11.5
    expect(z).toBeGreaterThan(11);
    // The glitch fires and resolves; then 25 against [20.5, 19.5, 20, …] must fire.
    expect(alerts.map((a) => [a.i, a.state])).toEqual([[10, 'firing'], [11, 'resolved'], [21, 'firing']]);
    expect(alerts[2]!.z).toBeCloseTo(z, 6);
  });
});
