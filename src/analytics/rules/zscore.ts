import { RollingWindow } from './rolling.js';
import type { ZScoreRule } from './schema.js';
import { dec, enc, type Change, type RuleState, type SavedState } from './types.js';

/**
 * zscore (seed 003): each reading is scored against the window of readings observed
 * before it, z = (value − mean) / std, std the sample standard deviation (n − 1),
 * floored at minStd. Then the reading joins the window (anomalous ones too).
 *
 * - Window by count: the last N readings in arrival order.
 * - Window by time: readings in arrival order, evicted from the oldest arrival while
 *   its event time is <= (largest event time seen, including the reading being
 *   scored) − ms; also capped at maxReadings. A late reading therefore joins the
 *   window and leaves it when it becomes the oldest arrival and is old enough: the
 *   window is a deterministic function of arrival order.
 * - No z (and no change of state) while the window holds fewer than minSamples
 *   readings, or when its std (after the floor) is 0: identical values give no z
 *   unless minStd > 0.
 * - Fires when |z| > k; resolves when |z| <= k − hysteresis.
 */
export class ZScoreState implements RuleState {
  firing = false;
  private readonly window: RollingWindow;
  private readonly windowMs: number | undefined;
  private maxTs = -Infinity;

  constructor(private readonly spec: ZScoreRule, saved?: SavedState) {
    const w = spec.window;
    const timed = 'ms' in w;
    this.windowMs = timed ? w.ms : undefined;
    const capacity = timed ? w.maxReadings : w.readings;
    if (saved) {
      this.firing = dec(saved, 0) === 1;
      this.maxTs = dec(saved, 1, -Infinity);
      const inner = saved[2];
      this.window = new RollingWindow(capacity, timed, Array.isArray(inner) ? inner : []);
    } else {
      this.window = new RollingWindow(capacity, timed);
    }
  }

  observe(value: number, ts: number): Change | undefined {
    if (ts > this.maxTs) this.maxTs = ts;
    if (this.windowMs !== undefined) this.window.evictUpTo(this.maxTs - this.windowMs);
    const change = this.score(value, ts);
    this.window.push(value, ts);
    return change;
  }

  private score(value: number, ts: number): Change | undefined {
    const n = this.window.count;
    if (n < this.spec.minSamples) return undefined;
    const s = this.window.stats();
    if (!s) return undefined;
    const std = Math.max(s.std, this.spec.minStd);
    if (std === 0) return undefined;
    const z = (value - s.mean) / std;
    const { k, hysteresis } = this.spec;
    const a = Math.abs(z);
    if (!this.firing) {
      if (!(a > k)) return undefined;
      this.firing = true;
      return { state: 'firing', value, ts, details: { z, mean: s.mean, std, n, k } };
    }
    if (!(a <= k - hysteresis)) return undefined;
    this.firing = false;
    return { state: 'resolved', value, ts, details: { z, mean: s.mean, std, n, k } };
  }

  /** [firing, maxTs, window] — the window nested (RollingWindow.save()). */
  save(): SavedState {
    return [this.firing ? 1 : 0, enc(this.maxTs), this.window.save()];
  }
}
