import type { FlatlineRule, RangeRule, RateRule, RuleSpec, ThresholdRule } from './schema.js';
import { dec, enc, RuleSnapshotError, type Change, type RuleState, type SavedState } from './types.js';
import { ZScoreState } from './zscore.js';

/**
 * Per-key state machines of the metric rules (z-score: zscore.ts). Each is
 * ok → firing → ok: it reports `firing` once when its condition starts to hold and
 * `resolved` once when it stops, never twice in a row. Readings are observed in
 * arrival order, which may differ from event-time order; how each kind treats a
 * reading older than one already seen is stated on its class. Nothing here reads a
 * clock: all time comes from the readings' event time.
 *
 * Construct with (spec) for a fresh key, or (spec, saved) with the result of save()
 * to continue exactly where that state stopped (throws RuleSnapshotError when saved is
 * malformed). Memory per key is a fixed handful of numbers (see engine.ts).
 */

/**
 * threshold: fires when value > above (or < below) has held on consecutive readings
 * for minDurationMs of event time, measured as (largest event time seen) − (largest
 * event time seen when the run began); so a late reading never shortens or lengthens
 * a run, and the run's clock never goes back. A reading that does not breach ends
 * the run. Firing resolves on the first reading at or past the limit ∓ hysteresis
 * (above: value <= above − h; below: value >= below + h), whatever its event time.
 */
export class ThresholdState implements RuleState {
  firing = false;
  /** Largest event time seen when the current breaching run began; null: no run. */
  private since: number | null = null;
  private maxTs = -Infinity;

  constructor(private readonly spec: ThresholdRule, saved?: SavedState) {
    if (saved) {
      this.firing = dec(saved, 0) === 1;
      this.since = saved[1] === null ? null : dec(saved, 1);
      this.maxTs = dec(saved, 2, -Infinity);
    }
  }

  observe(value: number, ts: number): Change | undefined {
    if (ts > this.maxTs) this.maxTs = ts;
    const { above, below, hysteresis, minDurationMs } = this.spec;
    const limit = above ?? below!;
    if (this.firing) {
      const clear = above !== undefined ? value <= above - hysteresis : value >= below! + hysteresis;
      if (!clear) return undefined;
      this.firing = false;
      return { state: 'resolved', value, ts, details: { threshold: limit, hysteresis } };
    }
    const breach = above !== undefined ? value > above : value < below!;
    if (!breach) {
      this.since = null;
      return undefined;
    }
    if (this.since === null) this.since = this.maxTs;
    const heldMs = this.maxTs - this.since;
    if (heldMs < minDurationMs) return undefined;
    this.firing = true;
    this.since = null;
    return { state: 'firing', value, ts, details: { threshold: limit, heldMs } };
  }

  save(): SavedState {
    return [this.firing ? 1 : 0, this.since, enc(this.maxTs)];
  }
}

/**
 * range: fires on the first reading outside [min, max] (either bound optional),
 * resolves on the first reading inside [min + h, max − h]. Each reading is judged on
 * its own, in arrival order; event time only stamps the alert.
 */
export class RangeState implements RuleState {
  firing = false;

  constructor(private readonly spec: RangeRule, saved?: SavedState) {
    if (saved) this.firing = dec(saved, 0) === 1;
  }

  observe(value: number, ts: number): Change | undefined {
    const { min, max, hysteresis: h } = this.spec;
    const details: Record<string, number> = {};
    if (min !== undefined) details.min = min;
    if (max !== undefined) details.max = max;
    if (!this.firing) {
      if ((min === undefined || value >= min) && (max === undefined || value <= max)) return undefined;
      this.firing = true;
      return { state: 'firing', value, ts, details };
    }
    if ((min !== undefined && value < min + h) || (max !== undefined && value > max - h)) return undefined;
    this.firing = false;
    return { state: 'resolved', value, ts, details };
  }

  save(): SavedState {
    return [this.firing ? 1 : 0];
  }
}

/**
 * rate: rate = (value − previous value) / (event-time gap in seconds) between a
 * reading and the previous one taken. A reading whose event time is not after the
 * previous one taken (late, or a duplicate timestamp) is ignored entirely: no rate,
 * no change of state, and it does not become the previous reading. Fires when the
 * rate passes the limit in the configured direction, resolves when it is back to
 * limit − hysteresis or less.
 */
export class RateState implements RuleState {
  firing = false;
  private prevValue = 0;
  private prevTs: number | null = null;

  constructor(private readonly spec: RateRule, saved?: SavedState) {
    if (saved) {
      this.firing = dec(saved, 0) === 1;
      this.prevValue = dec(saved, 1);
      this.prevTs = saved[2] === null ? null : dec(saved, 2);
    }
  }

  observe(value: number, ts: number): Change | undefined {
    const prevTs = this.prevTs;
    if (prevTs !== null && ts <= prevTs) return undefined;
    const prevValue = this.prevValue;
    this.prevValue = value;
    this.prevTs = ts;
    if (prevTs === null) return undefined;
    const dtMs = ts - prevTs;
    const rate = ((value - prevValue) * 1000) / dtMs;
    const { limit, hysteresis, direction } = this.spec;
    const magnitude = direction === 'any' ? Math.abs(rate) : direction === 'up' ? rate : -rate;
    if (!this.firing) {
      if (!(magnitude > limit)) return undefined;
      this.firing = true;
      return { state: 'firing', value, ts, details: { rate, limit, dtMs } };
    }
    if (!(magnitude <= limit - hysteresis)) return undefined;
    this.firing = false;
    return { state: 'resolved', value, ts, details: { rate, limit, dtMs } };
  }

  save(): SavedState {
    return [this.firing ? 1 : 0, this.prevValue, this.prevTs];
  }
}

/**
 * flatline: a run is a sequence of readings (arrival order) each within epsilon of
 * the run's first value; the first reading outside starts a new run (and resolves a
 * firing key, stamped with that reading; its details give the run that ended). Fires
 * once the run has `readings` readings and/or spans `ms` of event time (largest event
 * time seen − that when the run began).
 */
export class FlatlineState implements RuleState {
  firing = false;
  private anchor: number | null = null;
  private runStart = 0;
  private runCount = 0;
  private maxTs = -Infinity;

  constructor(private readonly spec: FlatlineRule, saved?: SavedState) {
    if (saved) {
      this.firing = dec(saved, 0) === 1;
      this.anchor = saved[1] === null ? null : dec(saved, 1);
      this.runStart = dec(saved, 2);
      this.runCount = dec(saved, 3);
      this.maxTs = dec(saved, 4, -Infinity);
    }
  }

  observe(value: number, ts: number): Change | undefined {
    const before = this.maxTs;
    if (ts > this.maxTs) this.maxTs = ts;
    const { epsilon, readings, ms } = this.spec;
    if (this.anchor !== null && Math.abs(value - this.anchor) <= epsilon) {
      this.runCount++;
    } else {
      const ended = { readings: this.runCount, heldMs: before - this.runStart };
      this.anchor = value;
      this.runStart = this.maxTs;
      this.runCount = 1;
      if (this.firing) {
        this.firing = false;
        return { state: 'resolved', value, ts, details: ended };
      }
    }
    const heldMs = this.maxTs - this.runStart;
    if (this.firing || (readings !== undefined && this.runCount < readings) || (ms !== undefined && heldMs < ms)) return undefined;
    this.firing = true;
    return { state: 'firing', value, ts, details: { readings: this.runCount, heldMs, epsilon } };
  }

  save(): SavedState {
    return [this.firing ? 1 : 0, this.anchor, this.runStart, this.runCount, enc(this.maxTs)];
  }
}

/**
 * A fresh (or, with `saved`, restored) state machine for a metric rule. Stale rules
 * have no per-reading state machine (the engine keeps their last-seen time) and throw.
 */
export function createState(spec: RuleSpec, saved?: SavedState): RuleState {
  switch (spec.kind) {
    case 'threshold': return new ThresholdState(spec, saved);
    case 'zscore': return new ZScoreState(spec, saved);
    case 'rate': return new RateState(spec, saved);
    case 'range': return new RangeState(spec, saved);
    case 'flatline': return new FlatlineState(spec, saved);
    case 'stale': throw new RuleSnapshotError('a stale rule has no per-reading state');
  }
}
