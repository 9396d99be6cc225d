/**
 * The open window keys of one window spec (internal to windows/): each series in each
 * open window is a slot — its accumulator is a row of the spec's AccumulatorSlab, its
 * label (metric, group tags, profile) an entry of one array indexed by the same slot.
 * An open window maps series keys to slots (window-series.ts: OpenWindow).
 *
 * Why: per open window key this holds one reference and a 64-byte row instead of a
 * Series object, an Accumulator object and its boxed doubles (state.ts has the figures),
 * so the garbage collector has nothing per key to mark. Labels are interned by
 * SeriesKeys: all devices' windows share one per (group, metric, profile) — three arrays
 * of references instead cost ~1.5 MB more at 10,000 devices.
 *
 * Call order: open() when a series first gets a value in a window → add() per further
 * value → release() once the window is emitted (or the value was a one-off, as a late
 * reading's correction). No errors; using a released slot is a caller bug.
 */
import { AccumulatorSlab, type AccumulatorOptions, type AccumulatorResult, type AccumulatorState } from './accumulator.js';
import type { SeriesLabel } from './series-keys.js';
import type { Sketch } from './sketch.js';

const RELEASED: SeriesLabel = Object.freeze({ metric: '', tags: Object.freeze({}), profile: '' });

export class SeriesTable {
  readonly acc: AccumulatorSlab;
  /** By slot; a released slot holds RELEASED, so it keeps no tags object or string alive. */
  readonly label: SeriesLabel[] = [];

  constructor(options: AccumulatorOptions) {
    this.acc = new AccumulatorSlab(options);
  }

  /** A new series slot holding one value seen at event time `ts`. */
  open(label: SeriesLabel, value: number, ts: number): number {
    return this.labelled(this.acc.open(value, ts), label);
  }

  /**
   * A slot restored from a checkpoint.
   * @throws Error as AccumulatorSlab.restore.
   */
  restore(label: SeriesLabel, state: AccumulatorState): number {
    return this.labelled(this.acc.restore(state), label);
  }

  /**
   * A slot restored from a binary checkpoint's row at `src[at]` (AccumulatorSlab.restoreRow).
   * @throws Error as AccumulatorSlab.restoreRow.
   */
  restoreRow(label: SeriesLabel, src: Float64Array, at: number, sketch: Sketch | undefined): number {
    return this.labelled(this.acc.restoreRow(src, at, sketch), label);
  }

  add(slot: number, value: number, ts: number): void {
    this.acc.add(slot, value, ts);
  }

  result(slot: number): AccumulatorResult {
    return this.acc.result(slot);
  }

  release(slot: number): void {
    this.label[slot] = RELEASED;
    this.acc.release(slot);
  }

  private labelled(slot: number, label: SeriesLabel): number {
    // Slots are handed out densely from 0, so the array stays packed.
    this.label[slot] = label;
    return slot;
  }
}
