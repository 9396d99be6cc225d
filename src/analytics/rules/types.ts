import type { RuleKind } from './schema.js';

/** `firing` when a key's condition starts to hold, `resolved` when it stops (contract: weir.alerts). */
export type AlertState = 'firing' | 'resolved';

/**
 * One alert. With `gateway` added by the caller it is the `weir.alerts` value
 * `{gateway, device, profile, rule, kind, state, metric, value, ts}`, plus `tags` (the
 * rule's `by` tags, {} without) and `details`. Alerts the engine returns are frozen.
 */
export interface Alert {
  device: string;
  profile: string;
  /** Rule name. */
  rule: string;
  kind: RuleKind;
  state: AlertState;
  /** The metric watched; "*" for a stale rule without a metric. */
  metric: string;
  /** Values of the rule's `by` tags for this key. */
  tags: Readonly<Record<string, string>>;
  /** The reading's value (stale: milliseconds of silence). */
  value: number;
  /** Event time (epoch ms) of the reading that changed the state; stale: processing time. */
  ts: number;
  /**
   * Why, in numbers: e.g. z, mean, std, threshold, heldMs, rate. A `resolved` alert whose
   * condition did not end carries the reason: retired = 1 (its rule was removed or changed),
   * forgotten = 1 (a stale alert of a device forgotten after analytics.forgetAfterMs, still silent).
   */
  details?: Readonly<Record<string, number>>;
}

/** What the engine reads of a reading: the `weir.readings` fields less gateway and seq. */
export interface RuleReading {
  device: string;
  profile: string;
  /** Event time, epoch ms. */
  ts: number;
  /** Gateway (processing) time of receipt, epoch ms, after any clock correction: stale rules use it. */
  received: number;
  tags?: Readonly<Record<string, string>>;
  metrics: Readonly<Record<string, number>>;
}

/** A change of state reported by a per-key rule state machine. */
export interface Change {
  state: AlertState;
  value: number;
  ts: number;
  details: Record<string, number>;
}

/** A JSON-safe saved state: numbers, null, and (nested) arrays of them. */
export type SavedValue = number | null | SavedValue[];
export type SavedState = SavedValue[];

/**
 * The state machine of one (profile, device, rule, by-tags) key for a metric rule.
 * observe() is called once per reading carrying the metric, in arrival order; it
 * returns a Change when the key fires or resolves (at most once per call), else
 * undefined. save() returns a JSON-safe value from which the kind's load() rebuilds
 * a state that continues exactly as this one would.
 */
export interface RuleState {
  readonly firing: boolean;
  observe(value: number, ts: number): Change | undefined;
  save(): SavedState;
}

/** A snapshot passed to RuleEngine.restore() is malformed or of another version. */
export class RuleSnapshotError extends Error {
  constructor(message: string) {
    super(`rule snapshot: ${message}`);
    this.name = 'RuleSnapshotError';
  }
}

/** -Infinity/NaN-free encoding for JSON: a finite number or null. */
export function enc(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

/** Reads element i of a saved state as a number (null → `ifNull`); throws RuleSnapshotError otherwise. */
export function dec(s: SavedState, i: number, ifNull?: number): number {
  const v = s[i];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v === null && ifNull !== undefined) return ifNull;
  throw new RuleSnapshotError(`state field ${i} is ${JSON.stringify(v)}, expected a number`);
}

/** Reads element i of a saved state as an array of finite numbers; throws RuleSnapshotError otherwise. */
export function decArray(s: SavedState, i: number): number[] {
  const v = s[i];
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as number[];
  throw new RuleSnapshotError(`state field ${i} is not an array of numbers`);
}
