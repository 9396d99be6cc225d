/**
 * The open window keys of one window spec (internal to windows/): each series in each
 * open window is a slot — its accumulator is a row of the spec's AccumulatorSlab, its
 * metric, group tags and profile are entries of three plain arrays indexed by the same
 * slot. An open window maps series keys to slots (state.ts: OpenWindow).
 *
 * Why: per open window key this holds three references and a 64-byte row instead of a
 * Series object, an Accumulator object and its boxed doubles (state.ts has the figures),
 * so the garbage collector has nothing per key to mark.
 *
 * Call order: open() when a series first gets a value in a window → add() per further
 * value → release() once the window is emitted (or the value was a one-off, as a late
 * reading's correction). No errors; using a released slot is a caller bug.
 */
import { AccumulatorSlab, type AccumulatorOptions, type AccumulatorResult, type AccumulatorState } from './accumulator.js';
import type { Sketch } from './sketch.js';

const NO_TAGS: Readonly<Record<string, string>> = Object.freeze({});

export class SeriesTable {
  readonly acc: AccumulatorSlab;
  readonly metric: string[] = [];
  /** Shared per group (series-keys.ts): never mutate. */
  readonly tags: Array<Readonly<Record<string, string>>> = [];
  readonly profile: string[] = [];

  constructor(options: AccumulatorOptions) {
    this.acc = new AccumulatorSlab(options);
  }

  /** A new series slot holding one value seen at event time `ts`. */
  open(metric: string, tags: Readonly<Record<string, string>>, profile: string, value: number, ts: number): number {
    return this.label(this.acc.open(value, ts), metric, tags, profile);
  }

  /**
   * A slot restored from a checkpoint.
   * @throws Error as AccumulatorSlab.restore.
   */
  restore(metric: string, tags: Readonly<Record<string, string>>, profile: string, state: AccumulatorState): number {
    return this.label(this.acc.restore(state), metric, tags, profile);
  }

  /**
   * A slot restored from a binary checkpoint's row at `src[at]` (AccumulatorSlab.restoreRow).
   * @throws Error as AccumulatorSlab.restoreRow.
   */
  restoreRow(metric: string, tags: Readonly<Record<string, string>>, profile: string, src: Float64Array, at: number, sketch: Sketch | undefined): number {
    return this.label(this.acc.restoreRow(src, at, sketch), metric, tags, profile);
  }

  add(slot: number, value: number, ts: number): void {
    this.acc.add(slot, value, ts);
  }

  result(slot: number): AccumulatorResult {
    return this.acc.result(slot);
  }

  release(slot: number): void {
    // Drop the references, so a released slot keeps no tags object or string alive.
    this.metric[slot] = '';
    this.tags[slot] = NO_TAGS;
    this.profile[slot] = '';
    this.acc.release(slot);
  }

  private label(slot: number, metric: string, tags: Readonly<Record<string, string>>, profile: string): number {
    // Slots are handed out densely from 0, so these arrays stay packed.
    this.metric[slot] = metric;
    this.tags[slot] = tags;
    this.profile[slot] = profile;
    return slot;
  }
}
