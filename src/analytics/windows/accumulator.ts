/**
 * One window's running aggregate of one series: count, sum, min, max, avg, first and last
 * always (the `weir.aggregates` contract), plus stddev and DDSketch quantiles on request.
 *
 * Call order: `Accumulator.of(firstValue, ts, options)`, then `add(value, ts)` per
 * reading in arrival order, then `result()` (any number of times). `toJSON()` may be
 * called at any point; `Accumulator.fromJSON(state)` gives an accumulator that continues
 * bit for bit as the original would have (same floating-point operations on the same
 * operands), so a restored window emits exactly what an uninterrupted one would.
 *
 * Guarantees:
 * - `sum` is the plain left-to-right sum in arrival order (what a brute-force reduce
 *   over the same readings gives); `avg` = sum / count.
 * - `first` / `last` are the values with the smallest / largest event time; on equal
 *   event times the earlier arrival is first and the later arrival is last.
 * - `stddev` is the POPULATION standard deviation (divide by n; 0 for one value), by
 *   Welford's online algorithm (Welford 1962; Knuth, TAOCP vol. 2, §4.2.2), like Flink
 *   SQL's STDDEV_POP.
 * - p50/p95/p99: see sketch.ts for the error bound (1 % relative).
 * Values must be finite with |v| ≤ MAX_ABS_VALUE (the engine counts the rest as invalid):
 * then no sum or Welford term can overflow for any realistic count, every state field is
 * a finite number, and the JSON round trip is exact (-0 is stored as 0 for the same reason).
 */
import { newSketch, sketchFromJSON, sketchToJSON, type Sketch, type SketchState } from './sketch.js';
import type { AggregateValues, QuantileName } from './types.js';

/** Largest accepted |value|: sums of up to 1e200 such values, and their squares, stay finite. */
export const MAX_ABS_VALUE = 1e100;

export interface AccumulatorOptions {
  stddev: boolean;
  /** Quantiles in (0, 1) with their output names; a sketch is kept only if non-empty. */
  quantiles: ReadonlyArray<readonly [QuantileName, number]>;
}

/** Plain-JSON state. Field names are short: snapshots hold one of these per open window key. */
export interface AccumulatorState {
  n: number;
  sum: number;
  min: number;
  max: number;
  /** first: event time, value; last: event time, value. */
  ft: number;
  fv: number;
  lt: number;
  lv: number;
  /** Welford mean and sum of squared deviations, present when stddev is kept. */
  mean?: number;
  m2?: number;
  sk?: SketchState;
}

/** What result() gives: the aggregate's values. */
export type AccumulatorResult = AggregateValues;

export class Accumulator {
  private n: number;
  private sum: number;
  private min: number;
  private max: number;
  private ft: number;
  private fv: number;
  private lt: number;
  private lv: number;
  /** Welford state; NaN / 0 when stddev is not kept. */
  private mean: number;
  private m2: number;
  private readonly sketch: Sketch | undefined;

  private constructor(private readonly options: AccumulatorOptions, s: AccumulatorState, sketch: Sketch | undefined) {
    this.n = s.n;
    this.sum = s.sum;
    this.min = s.min;
    this.max = s.max;
    this.ft = s.ft;
    this.fv = s.fv;
    this.lt = s.lt;
    this.lv = s.lv;
    this.mean = s.mean ?? NaN;
    this.m2 = s.m2 ?? 0;
    this.sketch = sketch;
  }

  /** A new accumulator holding one (finite) value seen at event time `ts`. */
  static of(value: number, ts: number, options: AccumulatorOptions): Accumulator {
    const v = value === 0 ? 0 : value;
    let sketch: Sketch | undefined;
    if (options.quantiles.length > 0) {
      sketch = newSketch();
      sketch.accept(v);
    }
    const state: AccumulatorState = { n: 1, sum: v, min: v, max: v, ft: ts, fv: v, lt: ts, lv: v };
    if (options.stddev) { state.mean = v; state.m2 = 0; }
    return new Accumulator(options, state, sketch);
  }

  /**
   * Restores what toJSON() saved, with the options it was created with.
   * @throws Error when the state is malformed or does not fit the options.
   */
  static fromJSON(state: AccumulatorState, options: AccumulatorOptions): Accumulator {
    const nums = [state.n, state.sum, state.min, state.max, state.ft, state.fv, state.lt, state.lv];
    if (!nums.every((x) => typeof x === 'number' && Number.isFinite(x)) || !Number.isSafeInteger(state.n) || state.n < 1) {
      throw new Error('window snapshot: malformed accumulator');
    }
    const hasWelford = typeof state.mean === 'number' && typeof state.m2 === 'number';
    if (options.stddev !== hasWelford || (options.quantiles.length > 0) !== (state.sk !== undefined)) {
      throw new Error('window snapshot: accumulator does not match its window spec');
    }
    return new Accumulator(options, state, state.sk ? sketchFromJSON(state.sk) : undefined);
  }

  get count(): number {
    return this.n;
  }

  /** Adds one finite value seen at event time `ts`. */
  add(value: number, ts: number): void {
    const v = value === 0 ? 0 : value;
    this.n++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (ts < this.ft) { this.ft = ts; this.fv = v; }
    if (ts >= this.lt) { this.lt = ts; this.lv = v; }
    if (this.options.stddev) {
      const d = v - this.mean;
      this.mean += d / this.n;
      this.m2 += d * (v - this.mean);
    }
    this.sketch?.accept(v);
  }

  result(): AccumulatorResult {
    const r: AccumulatorResult = {
      count: this.n, sum: this.sum, min: this.min, max: this.max, avg: this.sum / this.n, first: this.fv, last: this.lv,
    };
    if (this.options.stddev) r.stddev = Math.sqrt(this.m2 / this.n);
    if (this.sketch) {
      // n equal values: report the value itself (exact), not its bucket's representative.
      for (const [name, q] of this.options.quantiles) r[name] = this.min === this.max ? this.min : this.sketch.getValueAtQuantile(q);
    }
    return r;
  }

  toJSON(): AccumulatorState {
    const s: AccumulatorState = { n: this.n, sum: this.sum, min: this.min, max: this.max, ft: this.ft, fv: this.fv, lt: this.lt, lv: this.lv };
    if (this.options.stddev) { s.mean = this.mean; s.m2 = this.m2; }
    if (this.sketch) s.sk = sketchToJSON(this.sketch);
    return s;
  }
}
