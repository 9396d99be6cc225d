/** The window engine's inputs and outputs. */
import type { RetentionOptions } from '../retention.js';

/** What the engine reads from a reading: `Reading` from profiles/profile.ts fits as is. */
export interface WindowReading {
  device: string;
  profile: string;
  /** Event time, epoch ms. */
  ts: number;
  tags: Readonly<Record<string, string>>;
  metrics: Readonly<Record<string, number>>;
  /**
   * Received while the gateway clock was not yet synced: processing time is provisional,
   * so the future-skew check cannot be made and is skipped for this reading.
   */
  unsyncedClock?: boolean;
  /**
   * Its event time is that provisional processing time: the device sent none (ts =
   * received). The windows it joins lie on the provisional timeline and are marked
   * (ProvisionalClock): the gateway clock's sync corrects them by its offset.
   */
  provisionalTs?: boolean;
}

/**
 * How a window of provisional event times stands (issue 4, point 3; core/clock-sync.ts):
 * 'unsynced' until the gateway clock syncs, then the sync's offset in ms. One offset
 * corrects all of them, as it does the readings' stamps (journal/clock-corrections.ts).
 */
export type ProvisionalClock = 'unsynced' | number;

/** ProvisionalClock before the sync. */
export const UNSYNCED: ProvisionalClock = 'unsynced';

/** The quantiles an aggregate can carry. */
export type QuantileName = 'p50' | 'p95' | 'p99';

/** The values of one window of one series; an AccumulatorSlab slot's result. */
export interface AggregateValues {
  count: number;
  sum: number;
  min: number;
  max: number;
  avg: number;
  first: number;
  last: number;
  stddev?: number;
  p50?: number;
  p95?: number;
  p99?: number;
}

/**
 * One closed window of one series, in the `weir.aggregates` shape less `gateway` (the
 * journal adds it). count, sum, min, max, avg, first and last are always present; stddev
 * and p50/p95/p99 only when the spec asks for them.
 */
export interface Aggregate extends AggregateValues {
  /** The spec's name. */
  window: string;
  device: string;
  profile: string;
  metric: string;
  /** The spec's group-by tags that the readings carried (a missing tag is its own group, absent here). */
  tags: Record<string, string>;
  /** Epoch ms, inclusive. */
  window_start: number;
  /** Epoch ms, exclusive. */
  window_end: number;
  /**
   * Present only on a late correction (see LateReading): the number of late readings it
   * carries. Downstream, a window's totals are its on-time aggregate merged with its
   * corrections (counts and sums add, min/max combine).
   */
  late?: number;
  /**
   * Present only when a reading in the window had a provisional event time
   * (WindowReading.provisionalTs): window_start and window_end are then on the provisional
   * timeline, and the offset, once known, corrects both (analytics/records.ts adds it).
   * The corrected window keeps its length but stays aligned on the provisional grid:
   * the offset is rarely a multiple of the window size.
   */
  clock?: ProvisionalClock;
}

/**
 * A reading that arrived after its window had closed (the analogue of Flink's late-data
 * side output). It is not in any emitted aggregate; the engine counts it (stats().lateTotal)
 * and hands it back so the caller can journal `correction` or count it per window.
 */
export interface LateReading {
  ts: number;
  value: number;
  /** The device's close horizon for the spec when it arrived; window_end ≤ closedThrough made it late. */
  closedThrough: number;
  /** This reading alone as an aggregate of its closed window, with `late: 1`. */
  correction: Aggregate;
}

export interface AddResult {
  /** Windows this reading closed, in emission order (a shared empty array when none). */
  emitted: readonly Aggregate[];
  /** One entry per (metric, window) this reading could not join because it had closed (shared empty array when none). */
  late: readonly LateReading[];
  /** The reading was stamped beyond processingNow + maxFutureSkewMs: ignored, flag or dead-letter it. */
  futureSkew: boolean;
  /** Its event time was not a finite number within ±8.64e15 ms (MAX_EVENT_TIME): ignored, counted as invalid. */
  invalidTime: boolean;
  /**
   * Present (true) only when its device is new and the engine already tracks maxDevices
   * devices: not aggregated (count it, warn). Absent otherwise, so the common result keeps its shape.
   */
  overCap?: true;
}

/** maxDevices, forgetAfterMs, forgetGrainMs: see ../retention.ts. */
export interface EngineOptions extends RetentionOptions {
  /**
   * A reading with ts > processingNow + maxFutureSkewMs is not aggregated and does not
   * move its device's watermark. Default Infinity (no check): the config layer owns the
   * default and must pass it.
   */
  maxFutureSkewMs?: number;
}

export interface EngineStats {
  /** Devices with watermark state. */
  keys: number;
  /** Open window keys: one per (device, spec, window, series) with at least one reading. */
  openWindows: number;
  /** Readings × windows turned away as late since the engine's state began (survives restore). */
  lateTotal: number;
  futureSkewTotal: number;
  /** Readings with an invalid event time, plus metric values skipped as not numbers, not finite, or beyond ±1e100 (MAX_ABS_VALUE). */
  invalidTotal: number;
  /** Open window keys discarded by restore() because their spec was removed or changed. */
  droppedOnRestore: number;
}
