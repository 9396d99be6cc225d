/**
 * One window's running aggregate of one series: count, sum, min, max, avg, first and last
 * always (the `weir.aggregates` contract), plus stddev and DDSketch quantiles on request.
 *
 * Storage: an AccumulatorSlab holds many accumulators as rows of one Float64Array (slots).
 * Why: a gateway keeps one accumulator per open window key — 60,000 at 10,000 devices ×
 * 3 metrics × 2 windows. As objects, each was an object plus eight boxed doubles
 * (~150 B and nine objects every full GC marks); as a slab row it is 64 B and no object.
 *
 * Call order (slab): `open(firstValue, ts)` → slot, then `add(slot, value, ts)` per
 * reading in arrival order, `result(slot)` any number of times, `release(slot)` once
 * (the slot may then be handed out again). `writeRow(slot)` + `sketchJSON(slot)` (the
 * binary checkpoint) or `toJSON(slot)` (plain JSON) may be called at any point;
 * `restoreRow(...)` / `restore(state)` give a slot that continues bit for bit as the
 * original would have (same floating-point operations on the same operands), so a
 * restored window emits exactly what an uninterrupted one would. Using a released slot
 * is a caller bug.
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

/** Plain-JSON state: what a version 1 (JSON) snapshot holds per open window key, hence the short names. */
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

/** Row layout: field offsets within a slot. MEAN and M2 exist only when stddev is kept. */
const N = 0, SUM = 1, MIN = 2, MAX = 3, FT = 4, FV = 5, LT = 6, LV = 7, MEAN = 8, M2 = 9;

export class AccumulatorSlab {
  private rows: Float64Array;
  /** Numbers per slot (a row): 8, or 10 with stddev. */
  readonly stride: number;
  /** One sketch per slot, when the options ask for quantiles. */
  private readonly sketches: Array<Sketch | undefined> | undefined;
  /** Released slots, reused before the slab grows. */
  private readonly free: number[] = [];
  /** Slots ever handed out (the high-water mark). */
  private top = 0;

  constructor(private readonly options: AccumulatorOptions, initialSlots = 64) {
    this.stride = options.stddev ? 10 : 8;
    this.rows = new Float64Array(Math.max(1, initialSlots) * this.stride);
    this.sketches = options.quantiles.length > 0 ? [] : undefined;
  }

  /** Slots in use. */
  get size(): number {
    return this.top - this.free.length;
  }

  /** A new accumulator holding one (finite) value seen at event time `ts`; returns its slot. */
  open(value: number, ts: number): number {
    const v = value === 0 ? 0 : value;
    const slot = this.allocate();
    const r = this.rows;
    const o = slot * this.stride;
    r[o + N] = 1;
    r[o + SUM] = r[o + MIN] = r[o + MAX] = r[o + FV] = r[o + LV] = v;
    r[o + FT] = r[o + LT] = ts;
    if (this.options.stddev) { r[o + MEAN] = v; r[o + M2] = 0; }
    if (this.sketches) {
      const sk = newSketch();
      sk.accept(v);
      this.sketches[slot] = sk;
    }
    return slot;
  }

  /** Whether each slot carries a quantile sketch. */
  get sketched(): boolean {
    return this.sketches !== undefined;
  }

  /**
   * A slot holding what toJSON() saved (for a slab with the same options).
   * @throws Error when the state is malformed or does not fit the options.
   */
  restore(state: AccumulatorState): number {
    const hasWelford = typeof state.mean === 'number' && typeof state.m2 === 'number';
    if (this.options.stddev !== hasWelford || this.sketched !== (state.sk !== undefined)) {
      throw new Error('window snapshot: accumulator does not match its window spec');
    }
    const row = [state.n, state.sum, state.min, state.max, state.ft, state.fv, state.lt, state.lv];
    if (hasWelford) row.push(state.mean!, state.m2!);
    if (!row.every((x) => typeof x === 'number')) throw new Error('window snapshot: malformed accumulator');
    return this.restoreRow(Float64Array.from(row), 0, state.sk ? sketchFromJSON(state.sk) : undefined);
  }

  /**
   * A slot holding the row writeRow() wrote at `src[at]` (stride numbers), with its
   * sketch when the slab keeps them.
   * @throws Error when the row is malformed or the sketch does not fit the options.
   */
  restoreRow(src: Float64Array, at: number, sketch: Sketch | undefined): number {
    const stride = this.stride;
    if (at < 0 || at + stride > src.length) throw new Error('window snapshot: truncated accumulator');
    for (let k = 0; k < stride; k++) if (!Number.isFinite(src[at + k]!)) throw new Error('window snapshot: malformed accumulator');
    const n = src[at + N]!;
    if (!Number.isSafeInteger(n) || n < 1) throw new Error('window snapshot: malformed accumulator');
    if (this.sketched !== (sketch !== undefined)) throw new Error('window snapshot: accumulator does not match its window spec');
    const slot = this.allocate();
    this.rows.set(src.subarray(at, at + stride), slot * stride);
    if (this.sketches) this.sketches[slot] = sketch;
    return slot;
  }

  /** Copies the slot's row (stride numbers) into `out` at `at`; returns the index after it. */
  writeRow(slot: number, out: Float64Array, at: number): number {
    // An element loop, not set(subarray): no view object per key (60,000 per checkpoint).
    const r = this.rows;
    const o = slot * this.stride;
    for (let k = 0; k < this.stride; k++) out[at + k] = r[o + k]!;
    return at + this.stride;
  }

  /** The slot's sketch as plain JSON (undefined when the slab keeps none). */
  sketchJSON(slot: number): SketchState | undefined {
    const sketch = this.sketches?.[slot];
    return sketch ? sketchToJSON(sketch) : undefined;
  }

  /** Adds one finite value seen at event time `ts`. */
  add(slot: number, value: number, ts: number): void {
    const v = value === 0 ? 0 : value;
    const r = this.rows;
    const o = slot * this.stride;
    const n = ++r[o + N]!;
    r[o + SUM]! += v;
    if (v < r[o + MIN]!) r[o + MIN] = v;
    if (v > r[o + MAX]!) r[o + MAX] = v;
    if (ts < r[o + FT]!) { r[o + FT] = ts; r[o + FV] = v; }
    if (ts >= r[o + LT]!) { r[o + LT] = ts; r[o + LV] = v; }
    if (this.options.stddev) {
      const d = v - r[o + MEAN]!;
      r[o + MEAN]! += d / n;
      r[o + M2]! += d * (v - r[o + MEAN]!);
    }
    this.sketches?.[slot]!.accept(v);
  }

  result(slot: number): AccumulatorResult {
    const r = this.rows;
    const o = slot * this.stride;
    const n = r[o + N]!;
    const min = r[o + MIN]!;
    const max = r[o + MAX]!;
    const out: AccumulatorResult = { count: n, sum: r[o + SUM]!, min, max, avg: r[o + SUM]! / n, first: r[o + FV]!, last: r[o + LV]! };
    if (this.options.stddev) out.stddev = Math.sqrt(r[o + M2]! / n);
    const sketch = this.sketches?.[slot];
    if (sketch) {
      // n equal values: report the value itself (exact), not its bucket's representative.
      // Otherwise clamp to [min, max]: a bucket's representative may lie past the extreme
      // value it holds (1, 1.004, 1.008 gave p99 1.01 > max), and the true quantile never
      // does, so clamping only brings the estimate closer and keeps p99 ≤ max for consumers.
      for (const [name, q] of this.options.quantiles) out[name] = min === max ? min : Math.min(max, Math.max(min, sketch.getValueAtQuantile(q)));
    }
    return out;
  }

  toJSON(slot: number): AccumulatorState {
    const r = this.rows;
    const o = slot * this.stride;
    const s: AccumulatorState = { n: r[o + N]!, sum: r[o + SUM]!, min: r[o + MIN]!, max: r[o + MAX]!, ft: r[o + FT]!, fv: r[o + FV]!, lt: r[o + LT]!, lv: r[o + LV]! };
    if (this.options.stddev) { s.mean = r[o + MEAN]!; s.m2 = r[o + M2]!; }
    const sk = this.sketchJSON(slot);
    if (sk) s.sk = sk;
    return s;
  }

  /** The slot's accumulator is done; the slot may be handed out again. */
  release(slot: number): void {
    if (this.sketches) this.sketches[slot] = undefined;
    this.free.push(slot);
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const slot = this.top++;
    if ((slot + 1) * this.stride > this.rows.length) {
      // Doubling: amortised O(1) per slot; the slab keeps its high-water size (no shrinking,
      // so a steady load never reallocates).
      const grown = new Float64Array(this.rows.length * 2);
      grown.set(this.rows);
      this.rows = grown;
    }
    return slot;
  }
}
