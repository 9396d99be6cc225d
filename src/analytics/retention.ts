/**
 * How many devices an analytics engine tracks, and when it forgets one: shared by the
 * window engine (windows/forget.ts) and the rule engine (rules/forget.ts).
 *
 * Why: neither engine used to forget a device, so a client publishing under a new
 * device id per message grew both without bound until the heap cap killed the gateway
 * — and the checkpoint brought the state back on restart, a crash loop.
 *
 * - Cap: an engine already tracking `maxDevices` devices does not analyse a reading of
 *   a device it does not know (the reading itself is journaled and forwarded as always).
 *   Known devices are never affected. The check is one size comparison, made only when
 *   a device is new.
 * - Forgetting: a device whose last reading came at processing time `last` may be
 *   forgotten by the first advanceIdle/tick whose `now` reaches expiry(last): the first
 *   whole grain (default a minute of gateway time, epoch-aligned) strictly after
 *   last + forgetAfterMs. So never before forgetAfterMs has passed, at most a grain after.
 *   (The rule engine passes as `last` the time a stale rule of the device came due, when
 *   later: rules/forget.ts.)
 *
 * Pacing: a scan over all devices is due only when some device may have expired. The
 * engine keeps `floor`, a lower bound on `last` of every device it could forget (seen()
 * per reading: one comparison, no allocation); a scan is due at expiry(floor). A scan
 * recomputes the floor from the devices it keeps, so the next one is due no earlier than
 * the next grain: at most one scan per grain (a minute), whatever the device churn, and
 * about one per forgetAfterMs with a stable fleet — instead of one per tick.
 *
 * Exactness: which devices a tick forgets is a function of the state and `now` alone:
 * every device with expiry(last) ≤ now that the engine may forget (the floor only saves
 * the scans that would find none). The floor is a cache, not state: it is not in the
 * snapshot, a restore recomputes it, and a replay that skips an empty scan ends with the
 * same devices. A tick that forgot devices changed state without emitting anything, so
 * the journal must log it for a replay to repeat it (RecordProcessor.tickChanged).
 *
 * Call order: construct with the engine → seen(t) for every device's last time (each
 * reading, each restored device) → per tick: due(now), and if so startScan(), then per
 * device expired(last, now) or seen(last) for those kept. Errors: RangeError on bad options.
 */

export interface RetentionOptions {
  /**
   * Most devices the engine tracks; readings of further new devices are not analysed.
   * Default Infinity: the config layer owns the default (analytics.maxDevices) and must pass it.
   */
  maxDevices?: number;
  /** A device silent (processing time) longer than this may be forgotten. Default Infinity (never): the config passes analytics.forgetAfterMs. */
  forgetAfterMs?: number;
  /** Forgetting happens at whole multiples of this (ms of processing time, epoch-aligned); tests pass 1. Default 60,000. */
  forgetGrainMs?: number;
}

export const DEFAULT_FORGET_GRAIN_MS = 60_000;

export class Retention {
  readonly maxDevices: number;
  readonly forgetAfterMs: number;
  readonly grainMs: number;
  /** ≤ `last` of every device that may be forgotten (Infinity: none). A cache: never snapshotted. */
  private floor = Infinity;

  /** @throws RangeError when maxDevices or forgetAfterMs is negative or NaN, or the grain is not a positive finite number. */
  constructor(options: RetentionOptions = {}) {
    this.maxDevices = options.maxDevices ?? Infinity;
    this.forgetAfterMs = options.forgetAfterMs ?? Infinity;
    this.grainMs = options.forgetGrainMs ?? DEFAULT_FORGET_GRAIN_MS;
    if (!(this.maxDevices >= 0)) throw new RangeError('maxDevices must be >= 0');
    if (!(this.forgetAfterMs >= 0)) throw new RangeError('forgetAfterMs must be >= 0');
    if (!(this.grainMs > 0 && Number.isFinite(this.grainMs))) throw new RangeError('forgetGrainMs must be a positive finite number');
  }

  /** Whether `size` tracked devices leave no room for a new one. */
  full(size: number): boolean {
    return size >= this.maxDevices;
  }

  /** A device that may be forgotten was last seen at `last` (NaN: unknown, never forgotten; ignored). */
  seen(last: number): void {
    if (last < this.floor) this.floor = last;
  }

  /** Processing time from which a device last seen at `last` is forgotten: the first whole grain after last + forgetAfterMs. */
  expiry(last: number): number {
    return (Math.floor((last + this.forgetAfterMs) / this.grainMs) + 1) * this.grainMs;
  }

  /** Whether a device last seen at `last` is forgotten at `now` (false for NaN). */
  expired(last: number, now: number): boolean {
    return now >= this.expiry(last);
  }

  /** Whether some device may be expired at `now`: else a scan would forget none. */
  due(now: number): boolean {
    return now >= this.expiry(this.floor);
  }

  /** A scan begins: the floor is rebuilt from seen() of the devices it keeps. */
  startScan(): void {
    this.floor = Infinity;
  }

  /** The gateway clock was corrected: every `last` moved by deltaMs, so does the floor. */
  shift(deltaMs: number): void {
    this.floor += deltaMs;
  }
}
