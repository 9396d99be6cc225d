/**
 * Quantiles from DDSketch (Masson, Rim & Lee, "DDSketch: A Fast and Fully-Mergeable
 * Quantile Sketch with Relative-Error Guarantees", VLDB 2019), as implemented by
 * `@datadog/sketches-js` 2.1.x: logarithmic mapping, dense stores that collapse their
 * lowest bins beyond SKETCH_BIN_LIMIT (`LogCollapsingLowestDenseDDSketch`), so one device
 * sending wild values cannot make a window's sketch grow without bound.
 *
 * Error bound: with relative accuracy α = SKETCH_RELATIVE_ACCURACY (1 %), the value
 * reported for quantile q is within α·|x| of x, the exact value at rank ⌊q·(n−1)⌋ of the
 * n values in ascending order (the library's rank convention), provided that |x| lies
 * within γ^1023 ≈ 8e8 (γ = (1+α)/(1−α)) of the largest |value| of its sign in the window
 * (smaller magnitudes collapse into the lowest bin) and |x| ≤ ~1.7e308. Values with
 * |v| ≤ 2^-1023·γ (~1.1e-308) are counted as exactly 0, so there the error is that |x|.
 *
 * Serialisation: the library's toProto()/fromProto() drop the store's layout (offset,
 * length, collapsed flag) and min/max/sum, and a collapsing store's future behaviour
 * depends on that layout. So we save each store's layout and its non-zero bins (sparse)
 * and restore them as they were: a restored sketch continues bit for bit.
 *
 * Memory: one 8-byte slot per key between a store's lowest and highest key, grown in
 * chunks of 128 up to SKETCH_BIN_LIMIT: values spanning 1..100 use 256 slots (~2 KiB);
 * each decade of range adds ~116 keys at 1 %; at most 2 × 1024 slots (~16 KiB). Only
 * specs that ask for p50/p95/p99 carry a sketch.
 */
import { LogCollapsingLowestDenseDDSketch } from '@datadog/sketches-js';

export const SKETCH_RELATIVE_ACCURACY = 0.01;
export const SKETCH_BIN_LIMIT = 1024;

export type Sketch = LogCollapsingLowestDenseDDSketch;

/** One store: null when empty, else [offset, length, minKey, maxKey, collapsed, count, [index, binCount, …]]. */
export type StoreState = null | [offset: number, length: number, minKey: number, maxKey: number, collapsed: boolean, count: number, bins: number[]];

/** A sketch as plain JSON. */
export interface SketchState {
  pos: StoreState;
  neg: StoreState;
  zero: number;
}

/** The fields of the library's CollapsingLowestDenseStore that make up its state. */
interface StoreFields {
  bins: number[];
  count: number;
  minKey: number;
  maxKey: number;
  offset: number;
  isCollapsed: boolean;
}

export function newSketch(): Sketch {
  return new LogCollapsingLowestDenseDDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY, binLimit: SKETCH_BIN_LIMIT });
}

function storeToJSON(store: StoreFields): StoreState {
  if (store.count === 0) return null;
  const bins: number[] = [];
  store.bins.forEach((c, i) => { if (c !== 0) bins.push(i, c); });
  return [store.offset, store.bins.length, store.minKey, store.maxKey, store.isCollapsed, store.count, bins];
}

function storeFromJSON(store: StoreFields, state: StoreState): number {
  if (state === null) return 0;
  const [offset, length, minKey, maxKey, collapsed, count, pairs] = state;
  const ints = [offset, length, minKey, maxKey];
  if (!ints.every(Number.isSafeInteger) || length < 1 || length > SKETCH_BIN_LIMIT || !(count > 0) || !Array.isArray(pairs) || pairs.length % 2 !== 0) {
    throw new Error('window snapshot: malformed sketch store');
  }
  const bins = new Array<number>(length).fill(0);
  for (let i = 0; i < pairs.length; i += 2) {
    const at = pairs[i]!;
    if (!Number.isSafeInteger(at) || at < 0 || at >= length || !(pairs[i + 1]! > 0)) throw new Error('window snapshot: bad sketch bin');
    bins[at] = pairs[i + 1]!;
  }
  Object.assign(store, { bins, count, minKey, maxKey, offset, isCollapsed: collapsed === true });
  return count;
}

export function sketchToJSON(s: Sketch): SketchState {
  return { pos: storeToJSON(s.store as unknown as StoreFields), neg: storeToJSON(s.negativeStore as unknown as StoreFields), zero: s.zeroCount };
}

/**
 * The sketch that was serialised, layout and all.
 * @throws Error on a malformed state.
 */
export function sketchFromJSON(state: SketchState): Sketch {
  const s = newSketch();
  const n = storeFromJSON(s.store as unknown as StoreFields, state.pos) + storeFromJSON(s.negativeStore as unknown as StoreFields, state.neg);
  if (!(state.zero >= 0)) throw new Error('window snapshot: bad sketch zero count');
  s.zeroCount = state.zero;
  // Only `count` takes part in getValueAtQuantile; min/max/sum are tracked by the accumulator.
  s.count = n + state.zero;
  return s;
}
