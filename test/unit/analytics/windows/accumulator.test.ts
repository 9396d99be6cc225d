// The accumulator alone: exact statistics, tie rules, the sketch's error bound, and a JSON
// round trip after which it continues bit for bit; many accumulators sharing one slab.
// The single-series tests go through a one-slot view (Accumulator, below).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccumulatorSlab, SKETCH_RELATIVE_ACCURACY, type AccumulatorOptions, type AccumulatorResult, type AccumulatorState } from '../../../../src/analytics/windows/index.js';
import { exact } from './support.js';

const FULL: AccumulatorOptions = { stddev: true, quantiles: [['p50', 0.5], ['p95', 0.95], ['p99', 0.99]] };
const PLAIN: AccumulatorOptions = { stddev: false, quantiles: [] };

/** One accumulator on a slab of its own: the single-series view these tests check. */
class Accumulator {
  private constructor(private readonly slab: AccumulatorSlab, private readonly slot: number) {}

  static of(value: number, ts: number, options: AccumulatorOptions): Accumulator {
    const slab = new AccumulatorSlab(options, 1);
    return new Accumulator(slab, slab.open(value, ts));
  }

  static fromJSON(state: AccumulatorState, options: AccumulatorOptions): Accumulator {
    const slab = new AccumulatorSlab(options, 1);
    return new Accumulator(slab, slab.restore(state));
  }

  add(value: number, ts: number): void {
    this.slab.add(this.slot, value, ts);
  }

  result(): AccumulatorResult {
    return this.slab.result(this.slot);
  }

  toJSON(): AccumulatorState {
    return this.slab.toJSON(this.slot);
  }
}

function fill(values: readonly number[], ts: readonly number[], options = FULL): Accumulator {
  const a = Accumulator.of(values[0]!, ts[0]!, options);
  for (let i = 1; i < values.length; i++) a.add(values[i]!, ts[i]!);
  return a;
}

describe('AccumulatorSlab', () => {
  it('computes the core set, population stddev, and exact quantiles of constant data', () => {
    const r = fill([2, 4, 4, 4, 5, 5, 7, 9], [8, 7, 6, 5, 4, 3, 2, 1]).result();
    expect(r).toEqual({ count: 8, sum: 40, min: 2, max: 9, avg: 5, first: 9, last: 2, stddev: 2, p50: r.p50, p95: r.p95, p99: r.p99 });
    expect(fill([3], [1]).result()).toEqual({ count: 1, sum: 3, min: 3, max: 3, avg: 3, first: 3, last: 3, stddev: 0, p50: 3, p95: 3, p99: 3 });
    expect(fill([7.3, 7.3, 7.3], [1, 2, 3]).result().p99).toBe(7.3);
    expect(Object.keys(fill([1, 2], [1, 2], PLAIN).result())).toEqual(['count', 'sum', 'min', 'max', 'avg', 'first', 'last']);
  });

  it('breaks event-time ties by arrival: first keeps the earliest arrival, last takes the latest', () => {
    const r = fill([10, 20, 30, 40, 50], [5, 1, 1, 9, 9]).result();
    expect([r.first, r.last]).toEqual([20, 50]);
  });

  // The bound of sketch.ts: within α·|x| of x = the value at rank floor(q(n-1)), when |x| is
  // within γ^1023 of the largest |value| of its sign; |v| ≤ ~1.2e-308 counts as 0.
  const GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY);
  function checkQuantiles(vs: readonly number[]): string[] {
    const r = fill(vs, vs.map((_, i) => i)).result();
    const x = exact(vs.map((v) => (v === 0 ? 0 : v)), vs.map((_, i) => i));
    const bad: string[] = [];
    for (const [name, q] of FULL.quantiles) {
      const want = x.quantile(q);
      const top = Math.max(...vs.filter((v) => Math.sign(v) === Math.sign(want)).map(Math.abs));
      if (Math.abs(want) * GAMMA ** 1023 < top) continue; // collapsed range: no bound promised
      const slack = Math.max(SKETCH_RELATIVE_ACCURACY * Math.abs(want) * (1 + 1e-12), 1.2e-308);
      if (!(Math.abs(r[name]! - want) <= slack)) bad.push(`${name}: ${r[name]} vs ${want}`);
    }
    return bad;
  }

  it('quantiles lie within 1 % of the exact value at rank floor(q(n-1)), negatives and zeros included', () => {
    const magnitude = fc.tuple(fc.boolean(), fc.double({ min: -3, max: 6, noNaN: true })).map(([neg, e]) => (neg ? -1 : 1) * 10 ** e);
    const value = fc.oneof(magnitude, fc.constantFrom(0, -0, 5e-324, -5e-324, 90, 90.5));
    fc.assert(fc.property(fc.array(value, { minLength: 1, maxLength: 300 }), (vs) => {
      expect(checkQuantiles(vs)).toEqual([]);
    }), { numRuns: 300 });
  });

  it('never reports a quantile outside [min, max], where the sketch\'s bucket may lie', () => {
    const r = fill([1, 1.004, 1.008], [1, 2, 3]).result();
    expect([r.p50, r.p95, r.p99].every((q) => q! >= r.min && q! <= r.max)).toBe(true);
    expect(r.p99).toBe(1.008); // the bucket's representative was 1.01
    fc.assert(fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 50 }), (vs) => {
      const q = fill(vs, vs.map((_, i) => i)).result();
      for (const v of [q.p50, q.p95, q.p99]) expect(v! >= q.min && v! <= q.max).toBe(true);
    }), { numRuns: 200 });
  });

  it('keeps the bound for the high quantiles when values span more decades than the bins hold', () => {
    const vs = Array.from({ length: 2000 }, (_, i) => 10 ** (-6 + (12 * ((i * 7919) % 2000)) / 2000));
    const a = fill(vs, vs.map(() => 0));
    const state = a.toJSON().sk!;
    expect(state.pos![4]).toBe(true); // collapsed
    expect(state.pos![1]).toBeLessThanOrEqual(1024);
    expect(checkQuantiles(vs)).toEqual([]);
    expect(a.result().p99).toBeGreaterThan(0);
  });

  it('restored from JSON at any point, continues bit for bit', () => {
    // Wide magnitudes, so that stores collapse and the restored layout matters.
    const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e100, max: 1e100 }), fc.integer({ min: -100, max: 100 }), fc.constant(-0));
    const item = fc.tuple(value, fc.integer({ min: 0, max: 20 }));
    fc.assert(fc.property(fc.array(item, { minLength: 2, maxLength: 200 }), fc.nat(), fc.boolean(), (items, cut, full) => {
      const options = full ? FULL : PLAIN;
      const k = 1 + (cut % (items.length - 1));
      const a = Accumulator.of(items[0]![0], items[0]![1], options);
      for (const [v, t] of items.slice(1, k)) a.add(v, t);
      const b = Accumulator.fromJSON(JSON.parse(JSON.stringify(a)), options);
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      for (const [v, t] of items.slice(k)) { a.add(v, t); b.add(v, t); }
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      const ra = a.result();
      const rb = b.result();
      for (const f of Object.keys(ra) as Array<keyof AccumulatorResult>) expect(Object.is(rb[f], ra[f]), f).toBe(true);
    }), { numRuns: 300 });
  });

  it('refuses a state that is malformed or does not match its options', () => {
    const s = fill([1, 2], [1, 2]).toJSON();
    expect(() => Accumulator.fromJSON(s, PLAIN)).toThrow(/does not match/);
    expect(() => Accumulator.fromJSON({ ...s, n: 0 }, FULL)).toThrow(/malformed/);
    expect(() => Accumulator.fromJSON({ ...s, sk: { pos: [0, 128, 0, 1, false, 2, [1]], neg: null, zero: 0 } }, FULL)).toThrow(/malformed sketch/);
    expect(() => Accumulator.fromJSON({ ...s, sk: { pos: [0, 128, 0, 1, false, 2, [200, 1]], neg: null, zero: 0 } }, FULL)).toThrow(/bad sketch bin/);
  });

  it('on a shared slab, interleaved, released and reused slots (past several growths) equal accumulators of their own', () => {
    // Model: random open / add / release operations over up to 300 live series; every
    // slab slot must give bit for bit what a one-slot Accumulator fed the same values gives.
    const op = fc.tuple(fc.nat(3), fc.nat(), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.integer({ min: 0, max: 50 }));
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 1500 }), fc.boolean(), (ops, full) => {
      const options = full ? FULL : PLAIN;
      const slab = new AccumulatorSlab(options, 2);
      const live: Array<{ slot: number; ref: Accumulator }> = [];
      const check = ({ slot, ref }: { slot: number; ref: Accumulator }): void => {
        expect(JSON.stringify(slab.toJSON(slot))).toBe(JSON.stringify(ref));
        const [a, b] = [slab.result(slot), ref.result()];
        for (const f of Object.keys(b) as Array<keyof AccumulatorResult>) expect(Object.is(a[f], b[f]), f).toBe(true);
      };
      for (const [kind, pick, v, t] of ops) {
        if (kind === 0 || live.length === 0) {
          if (live.length < 300) live.push({ slot: slab.open(v, t), ref: Accumulator.of(v, t, options) });
        } else if (kind === 3) {
          const [gone] = live.splice(pick % live.length, 1);
          check(gone!);
          slab.release(gone!.slot);
        } else {
          const s = live[pick % live.length]!;
          slab.add(s.slot, v, t);
          s.ref.add(v, t);
        }
      }
      expect(slab.size).toBe(live.length);
      expect(new Set(live.map((s) => s.slot)).size).toBe(live.length);
      live.forEach(check);
    }), { numRuns: 100 });
  });

  it('hands released slots out again before growing, and restores a saved slot into a fresh slab', () => {
    const slab = new AccumulatorSlab(FULL, 1);
    const a = slab.open(1, 1);
    const b = slab.open(2, 2);
    slab.add(a, 3, 3);
    slab.release(a);
    expect(slab.open(5, 5)).toBe(a);
    expect(slab.result(a)).toMatchObject({ count: 1, sum: 5, p50: 5 });
    const copy = new AccumulatorSlab(FULL);
    const c = copy.restore(JSON.parse(JSON.stringify(slab.toJSON(b))));
    expect(copy.result(c)).toEqual(slab.result(b));
    expect(() => copy.restore({ ...slab.toJSON(b), m2: undefined })).toThrow(/does not match/);
  });
});
