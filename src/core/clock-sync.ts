import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from './clock.js';

/**
 * Gateway time on a device that may not know the time yet.
 *
 * A Raspberry Pi has no battery-backed real-time clock: it boots at 1970 (or at the time
 * fake-hwclock last saved) and its wall clock steps when NTP first syncs, possibly long
 * after records started arriving. ClockSync decides what `received` to stamp, whether
 * that stamp is provisional, and, once the wall clock is trustworthy, the single offset
 * that corrects every provisional stamp.
 *
 * Why one offset suffices: gateway time is anchored, time = anchorWall + (monotonic −
 * anchorMono). While unsynced the anchor never moves, so every provisional stamp lies on
 * one timeline driven by the monotonic clock, which never jumps; the sync's offset is the
 * distance between that timeline and the true one. (Up to the clocks' resolution: on the
 * system clock Date.now() is whole milliseconds, so a corrected stamp is within ~1 ms.)
 *
 * Pure apart from the injected probe; all time comes from the injected Clock.
 */

export type ClockState = 'unsynced' | 'synced';

export interface ClockSyncOptions {
  clock: Clock;
  /** Wall times before this (epoch ms) are certainly wrong: a Pi without RTC boots at 1970 or at fake-hwclock's last save. */
  minPlausibleMs: number;
  /**
   * |wall elapsed − monotonic elapsed| beyond this between two check() calls is a step (jump) of the wall clock.
   * Must be > 0; keep it well above 1 ms (e.g. 1000), since Date.now() is whole milliseconds and
   * performance.now() is not, so each comparison carries up to 1 ms of rounding.
   */
  jumpThresholdMs: number;
  /** The OS's own NTP status when known: true synced, false not synced, undefined unknown. */
  probe?: () => boolean | undefined;
}

export interface ClockStamp {
  /** Gateway time, whole epoch milliseconds (the journal stores it as an INTEGER). */
  received: number;
  /** True when the clock was not trustworthy: add the offset of the next 'sync' correction. */
  unsynced: boolean;
}

export interface ClockCorrection {
  /** 'sync': the clock became trustworthy; 'jump': a synced clock stepped. */
  reason: 'sync' | 'jump';
  /** Add this to every provisional stamp handed out since the clock was last trustworthy (only meaningful for reason 'sync'). For 'jump': the size of the step. */
  offsetMs: number;
  /** How many provisional stamps were handed out that this correction covers (0 for jump). */
  provisional: number;
  /** Gateway time (corrected) at which it was detected. */
  at: number;
}

/**
 * Tracks whether the wall clock can be trusted and hands out stamps.
 *
 * Call order: construct once at start-up, before the first stamp(); then stamp() for every
 * payload and check() periodically (the gateway: every second). There is no close(): the
 * class holds no timers or handles.
 *
 * Guarantees:
 * - stamp() never calls the probe and never reads the wall clock: between check() calls it
 *   derives time from the monotonic clock alone, so a step of the wall clock cannot show up
 *   in stamps until check() has reported it.
 * - Stamps are whole milliseconds and never decrease, except across a correction that
 *   check() returned (a 'sync' or a 'jump'); a small backwards slew (≤ jumpThresholdMs)
 *   holds the stamps still rather than moving them back.
 * - While unsynced, provisional stamp + the next 'sync' offsetMs = the true time of receipt
 *   (exactly, for a clock with whole-millisecond readings such as ManualClock).
 *
 * Errors: the constructor throws RangeError for a non-finite minPlausibleMs or a
 * jumpThresholdMs that is not a finite number > 0 (a programming error: config validation
 * comes first). A probe that throws is treated as "unknown" (undefined), never rethrown:
 * a broken status source must not stop ingestion.
 */
export class ClockSync {
  private readonly clock: Clock;
  private readonly minPlausibleMs: number;
  private readonly jumpThresholdMs: number;
  private readonly probe: (() => boolean | undefined) | undefined;

  private current: ClockState;
  private anchorWall: number;
  private anchorMono: number;
  /** The last stamp handed out; stamps are held at it rather than going backwards. */
  private lastStamp = -Infinity;
  /** Provisional stamps since the clock was last trustworthy (what the next 'sync' covers). */
  private pending = 0;
  private counts = { jumps: 0, syncs: 0, provisional: 0 };

  constructor(opts: ClockSyncOptions) {
    if (!Number.isFinite(opts.minPlausibleMs)) {
      throw new RangeError(`ClockSync: minPlausibleMs must be a finite epoch-ms number, got ${String(opts.minPlausibleMs)}`);
    }
    if (!Number.isFinite(opts.jumpThresholdMs) || opts.jumpThresholdMs <= 0) {
      throw new RangeError(`ClockSync: jumpThresholdMs must be a finite number > 0, got ${String(opts.jumpThresholdMs)}`);
    }
    this.clock = opts.clock;
    this.minPlausibleMs = opts.minPlausibleMs;
    this.jumpThresholdMs = opts.jumpThresholdMs;
    this.probe = opts.probe;

    this.anchorWall = this.clock.now();
    this.anchorMono = this.clock.monotonic();
    // With no probe answer, a plausible wall is the best evidence available; an
    // implausible one, or an OS that says "not synced", makes every stamp provisional.
    this.current = this.anchorWall < this.minPlausibleMs || this.askProbe() === false ? 'unsynced' : 'synced';
  }

  get state(): ClockState {
    return this.current;
  }

  /**
   * The time to stamp a record received now. Cheap (runs per payload): no probe call, no
   * wall-clock read, no allocation beyond the returned object. Counts a provisional stamp
   * while unsynced. Does not call check(): a correction must reach the caller of check().
   */
  stamp(): ClockStamp {
    let received = Math.floor(this.anchorWall + (this.clock.monotonic() - this.anchorMono));
    // Re-anchoring after a quiet slew backwards, or a millisecond of rounding, would
    // otherwise move stamps back; hold them instead (corrections reset this).
    if (received < this.lastStamp) received = this.lastStamp;
    else this.lastStamp = received;
    if (this.current === 'synced') return { received, unsynced: false };
    this.pending++;
    this.counts.provisional++;
    return { received, unsynced: true };
  }

  /**
   * Compares the wall clock with the anchored timeline and returns a correction when a
   * sync or a jump happened since the last call, else null. Call periodically; any
   * frequency works (more often only detects sooner). Calls the probe at most once, and
   * only when it matters: every call while unsynced, and on a jump while synced.
   *
   * - unsynced → 'sync' when the wall is plausible and the probe says true, or the probe
   *   does not know and the wall stepped by more than jumpThresholdMs (taken as NTP's
   *   first step). offsetMs corrects all `provisional` stamps. Until then the anchor is
   *   never moved, so that one offset stays valid for all of them.
   * - synced, step > jumpThresholdMs → 'jump' (offsetMs = the step); back to unsynced
   *   when the new wall is implausible or the probe says false.
   * - synced, smaller step → re-anchor quietly, so slow NTP slewing is followed and small
   *   differences do not accumulate into a false jump; null.
   */
  check(): ClockCorrection | null {
    const actual = this.clock.now();
    const mono = this.clock.monotonic();
    const step = actual - (this.anchorWall + (mono - this.anchorMono));
    const stepped = Math.abs(step) > this.jumpThresholdMs;
    const plausible = actual >= this.minPlausibleMs;

    if (this.current === 'unsynced') {
      const probed = this.askProbe();
      if (!plausible || !(probed === true || (probed === undefined && stepped))) return null;
      const provisional = this.pending;
      this.current = 'synced';
      this.counts.syncs++;
      this.reanchor(actual, mono, true);
      return { reason: 'sync', offsetMs: Math.round(step), provisional, at: actual };
    }

    if (!stepped) {
      this.reanchor(actual, mono, false);
      return null;
    }
    this.counts.jumps++;
    // Only now is the probe worth a call: a synced clock that stepped may have lost sync.
    if (!plausible || this.askProbe() === false) this.current = 'unsynced';
    this.reanchor(actual, mono, true);
    return { reason: 'jump', offsetMs: Math.round(step), provisional: 0, at: actual };
  }

  /** Counters for /metrics: jumps seen, syncs seen, provisional stamps handed out in total. */
  stats(): { jumps: number; syncs: number; provisional: number } {
    return { ...this.counts };
  }

  /** Moves the anchor to the wall clock; after a reported correction stamps may move back and a new provisional run starts. */
  private reanchor(wall: number, mono: number, corrected: boolean): void {
    this.anchorWall = wall;
    this.anchorMono = mono;
    if (corrected) {
      this.lastStamp = -Infinity;
      this.pending = 0;
    }
  }

  private askProbe(): boolean | undefined {
    if (!this.probe) return undefined;
    try {
      return this.probe();
    } catch {
      return undefined;
    }
  }
}

/**
 * The default probe on Linux: systemd-timesyncd creates /run/systemd/timesync/synchronized once synced.
 * Returns undefined when that directory does not exist (another NTP daemon, or none).
 *
 * The directory is timesyncd's RuntimeDirectory, so it exists exactly while timesyncd runs
 * (or ran) this boot; /run is a tmpfs, so nothing survives a reboot. Two existsSync calls
 * per probe: cheap enough for a once-a-second check(), too slow for a per-payload path.
 * existsSync never throws. In a container, /run/systemd/timesync must be mounted from the
 * host, or the probe answers undefined and ClockSync falls back to detecting the step.
 */
export function timesyncdProbe(dir = '/run/systemd/timesync'): () => boolean | undefined {
  const flag = join(dir, 'synchronized');
  return () => (existsSync(dir) ? existsSync(flag) : undefined);
}
