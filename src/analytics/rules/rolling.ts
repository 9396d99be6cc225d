import { decArray, dec, RuleSnapshotError, type SavedState } from './types.js';

/**
 * A bounded rolling window of values (and, for time windows, their event times) in
 * arrival order, with O(1) mean and sample standard deviation.
 *
 * Numerics: Welford's update on push, its inverse on eviction (m2 clamped at 0), and
 * an exact two-pass recompute from the buffer after every `capacity` evictions, so the
 * rounding drift of add/remove is bounded by one window's worth of updates — and at
 * once when an eviction removes nearly all of m2 (an outlier leaving: its inverse
 * update would leave a cancellation residue larger than the remaining spread). A window
 * whose values are all identical is detected exactly (a run counter, no floating
 * point) and reports std 0 — never a tiny drift residue that would turn into a huge z.
 *
 * Deterministic: the result depends only on the sequence of calls; save()/load keeps
 * mean, m2 and the recompute counter bit for bit (JSON round-trips doubles exactly),
 * so a restored window continues exactly as the original.
 *
 * Memory: 8 bytes per slot (16 with times) in plain double arrays that start at 16
 * slots and double as needed up to `capacity`, so a key of a large time window that
 * sees few readings stays small; ~150 bytes of objects besides.
 */
const INITIAL_SLOTS = 16;

/** A plain array of doubles (V8 stores it unboxed: 8 bytes a slot, less overhead than a small Float64Array). */
function slots(size: number): number[] {
  return new Array<number>(size).fill(0.5);
}

export class RollingWindow {
  private values: number[];
  private times: number[] | null;
  private head = 0;
  private n = 0;
  private mean = 0;
  private m2 = 0;
  /** How many of the newest values equal the newest one (≤ n). */
  private run = 0;
  /** Evictions since the last exact recompute. */
  private evictions = 0;

  /**
   * @param capacity most values held; the oldest is evicted by push() beyond it (≥ 1).
   * @param timed keep event times too, for evictUpTo().
   */
  constructor(readonly capacity: number, timed: boolean, saved?: SavedState) {
    const size = Math.min(capacity, INITIAL_SLOTS);
    this.values = slots(size);
    this.times = timed ? slots(size) : null;
    if (saved) this.load(saved);
  }

  get count(): number {
    return this.n;
  }

  /** Appends a value (evicting the oldest when full). `ts` matters only for timed windows. */
  push(value: number, ts: number): void {
    if (this.n === this.capacity) this.evictOldest();
    else if (this.n === this.values.length) this.grow(Math.min(this.capacity, this.n * 2));
    const size = this.values.length;
    const at = (this.head + this.n) % size;
    const newest = this.n > 0 ? this.values[(at + size - 1) % size]! : NaN;
    this.values[at] = value;
    if (this.times) this.times[at] = ts;
    this.n++;
    this.run = value === newest ? this.run + 1 : 1;
    const d = value - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (value - this.mean);
  }

  /** Evicts, oldest arrival first, while the oldest value's event time is <= cutoff. Timed windows only. */
  evictUpTo(cutoff: number): void {
    const times = this.times;
    if (!times) return;
    while (this.n > 0 && times[this.head]! <= cutoff) this.evictOldest();
  }

  /** Mean and sample standard deviation (n − 1) of the window; undefined below 2 values. */
  stats(): { mean: number; std: number } | undefined {
    if (this.n < 2) return undefined;
    if (this.run >= this.n) return { mean: this.values[this.head]!, std: 0 };
    return { mean: this.mean, std: Math.sqrt(this.m2 / (this.n - 1)) };
  }

  private evictOldest(): void {
    const x = this.values[this.head]!;
    this.head = (this.head + 1) % this.values.length;
    this.n--;
    if (this.run > this.n) this.run = this.n;
    if (this.n === 0) {
      this.mean = 0;
      this.m2 = 0;
      this.evictions = 0;
      return;
    }
    const d = x - this.mean;
    const before = this.m2;
    this.mean -= d / this.n;
    this.m2 -= d * (x - this.mean);
    if (this.m2 < 0) this.m2 = 0;
    // Removing a value that dwarfs the rest (a sensor's 0xFFFFFFFF) cancels
    // catastrophically: m2 keeps a rounding error of ~before · 2⁻⁵², which can exceed
    // what the remaining values spread. Once more than 2²⁰ of m2 went with x, recompute.
    if (++this.evictions >= this.capacity || this.m2 * 2 ** 20 < before) this.recompute();
  }

  /** Re-allocates the buffers at `size` slots, values oldest first from slot 0. */
  private grow(size: number): void {
    const values = slots(size);
    const times = this.times ? slots(size) : null;
    for (let i = 0; i < this.n; i++) {
      const at = (this.head + i) % this.values.length;
      values[i] = this.values[at]!;
      if (times) times[i] = this.times![at]!;
    }
    this.values = values;
    this.times = times;
    this.head = 0;
  }

  /** Exact two-pass mean and m2 over the buffer, oldest first. */
  private recompute(): void {
    const size = this.values.length;
    let sum = 0;
    for (let i = 0; i < this.n; i++) sum += this.values[(this.head + i) % size]!;
    const mean = sum / this.n;
    let m2 = 0;
    for (let i = 0; i < this.n; i++) {
      const d = this.values[(this.head + i) % size]! - mean;
      m2 += d * d;
    }
    this.mean = mean;
    this.m2 = m2;
    this.evictions = 0;
  }

  /** [values oldest first, times oldest first (or []), mean, m2, run, evictions]. */
  save(): SavedState {
    const values: number[] = [];
    const times: number[] = [];
    for (let i = 0; i < this.n; i++) {
      const at = (this.head + i) % this.values.length;
      values.push(this.values[at]!);
      if (this.times) times.push(this.times[at]!);
    }
    return [values, times, this.mean, this.m2, this.run, this.evictions];
  }

  private load(saved: SavedState): void {
    const values = decArray(saved, 0);
    const times = decArray(saved, 1);
    if (values.length > this.capacity || (this.times && times.length !== values.length)) {
      throw new RuleSnapshotError(`window of ${values.length} values does not fit capacity ${this.capacity}`);
    }
    this.n = 0;
    if (values.length > this.values.length) this.grow(values.length);
    for (let i = 0; i < values.length; i++) {
      this.values[i] = values[i]!;
      if (this.times) this.times[i] = times[i]!;
    }
    this.n = values.length;
    this.mean = dec(saved, 2);
    this.m2 = dec(saved, 3);
    this.run = dec(saved, 4);
    this.evictions = dec(saved, 5);
  }
}
