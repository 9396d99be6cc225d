/**
 * A pure, deterministic event-time window engine: no I/O, no clock, no timers. Time comes
 * in only as event times on readings and as the processing times the caller passes.
 *
 * Watermarks are per device (Flink's BoundedOutOfOrderness, but kept per key instead of
 * per source partition): W(d) = maxTs(d) − L, where maxTs(d) is the largest event time
 * accepted from device d and L is the spec's allowedLatenessMs. A device with a bad clock
 * moves only its own windows.
 *
 * Closing rule (exact): a window [s, e) of device d closes — is emitted, and its state
 * freed — during the add() whose reading first makes maxTs(d) ≥ e + L. This is Flink's
 * DataStream `forBoundedOutOfOrderness(L)` (watermark maxTs − L − 1) with its
 * EventTimeTrigger (fire when watermark ≥ e − 1) and allowedLateness 0. (Flink SQL's
 * `WATERMARK FOR t AS t − INTERVAL '10' SECOND` has no −1 and fires 1 ms earlier.) A
 * reading at most L behind its device's newest one is therefore never late.
 *
 * Late: a reading is late for a window iff that window's end e ≤ closedThrough(d), where
 * closedThrough(d) = max(maxTs(d) − L, idle horizon), i.e. iff the window has closed (or
 * would have, had it held data) — Flink's WindowOperator.isWindowLate. Late readings are
 * never dropped silently: add() returns them (see LateReading) and stats() counts them.
 *
 * Idle: advanceIdle(now, idleMs) closes every open window of each device whose last
 * accepted reading came more than idleMs (processing time) before `now`, and sets the
 * device's idle horizon to the end of the last window holding maxTs(d), so later
 * readings for those windows are late too (the Dataflow model's processing-time
 * trigger: Akidau et al., VLDB 2015).
 *
 * Future skew: a reading with ts > processingNow + maxFutureSkewMs is ignored — not
 * aggregated, no watermark move, no idle refresh — and flagged in the result.
 *
 * Provisional event time (issue 4, point 3): a device that sends no time gets the
 * gateway's receive time, provisional until the gateway clock syncs. A window that takes
 * such a reading is marked; its aggregates carry `clock` ('unsynced', or the offset of
 * the sync that came in shiftProcessingTime), so that the records built from them move
 * their bounds as the readings' stamps move (device-windows.ts).
 *
 * Bounded: with maxDevices devices tracked, a reading of a new device is not aggregated
 * (flagged overCap); advanceIdle forgets a device with no open window silent longer than
 * forgetAfterMs, which then starts afresh (../retention.ts, forget.ts).
 *
 * Determinism: output depends only on the sequence of calls and their arguments. Within
 * one call, aggregates come ordered by (window_end, window_start, device, spec id, series).
 * snapshot() between calls, then restore() and the same further calls, yields exactly the
 * output of an uninterrupted run.
 *
 * Call order: construct (or restore) → add() per reading in journal order, advanceIdle()
 * whenever convenient, snapshot() between calls → flushAll() only to drain on purpose (a
 * normal stop checkpoints with snapshot() instead). Errors: RangeError for bad specs or a
 * non-finite processing time; Error for a malformed snapshot. Bad data never throws.
 */
import type { Unpacked } from '../packed-snapshot.js';
import { Retention } from '../retention.js';
import { DeviceWindows } from './device-windows.js';
import { forgetSilentDevices } from './forget.js';
import { decodeWindows, encodeWindows, type EncodedWindows } from './snapshot.js';
import { decodeSnapshotV1 } from './snapshot-v1.js';
import { compileSpecs, MAX_EVENT_TIME, type CompiledSpec, type WindowSpec } from './spec.js';
import { finish, newDevice, type DeviceState, type Emission } from './state.js';
import type { AddResult, Aggregate, EngineOptions, EngineStats, LateReading, WindowReading } from './types.js';

export type { EncodedWindows, WindowsHeader } from './snapshot.js';

/** A version 2 snapshot as read back: its header and float64 block. */
export type PackedWindows = Unpacked;

// add() runs per reading: most readings close no window and are not late, so the
// result shares these empty lists instead of allocating two arrays each time.
const NO_AGGREGATES: readonly Aggregate[] = Object.freeze([]);
const NO_LATE: readonly LateReading[] = Object.freeze([]);

export class WindowEngine {
  private readonly specs: CompiledSpec[];
  /** The devices' open windows: where readings go, what closes (device-windows.ts). */
  private readonly windows: DeviceWindows;
  private readonly maxFutureSkewMs: number;
  private readonly specsByProfile = new Map<string, number[]>();
  private readonly devices = new Map<string, DeviceState>();
  private futureSkewTotal = 0;
  private droppedOnRestore = 0;
  private readonly retention: Retention;
  private forgottenTotal = 0;

  /** @throws RangeError on an invalid spec, duplicate spec id, or negative/NaN maxFutureSkewMs, maxDevices or forgetAfterMs. */
  constructor(specs: readonly WindowSpec[], options: EngineOptions = {}) {
    this.specs = compileSpecs(specs);
    this.windows = new DeviceWindows(this.specs);
    this.maxFutureSkewMs = options.maxFutureSkewMs ?? Infinity;
    if (!(this.maxFutureSkewMs >= 0)) throw new RangeError('maxFutureSkewMs must be >= 0');
    this.retention = new Retention(options);
  }

  /**
   * Feeds one reading; `processingNow` is the gateway time it is processed at (its
   * `received`, for exact replay). Returns the windows it closed, its late parts, and
   * whether it was refused for future skew, an invalid event time or the device cap (then nothing else happened).
   * @throws RangeError when processingNow is not a finite number (a caller bug, not bad data).
   */
  add(reading: WindowReading, processingNow: number): AddResult {
    const { ts } = reading;
    if (!Number.isFinite(processingNow)) throw new RangeError('window engine: processingNow must be a finite number');
    const result: AddResult = { emitted: NO_AGGREGATES, late: NO_LATE, futureSkew: false, invalidTime: false };
    if (typeof ts !== 'number' || !(Math.abs(ts) <= MAX_EVENT_TIME)) {
      this.windows.invalidTotal++;
      result.invalidTime = true;
      return result;
    }
    if (ts > processingNow + this.maxFutureSkewMs && reading.unsyncedClock !== true) {
      this.futureSkewTotal++;
      result.futureSkew = true;
      return result;
    }
    const idx = this.specsFor(reading.profile);
    if (idx.length === 0) return result;
    let dev = this.devices.get(reading.device);
    if (!dev) {
      if (this.retention.full(this.devices.size)) {
        result.overCap = true;
        return result;
      }
      this.devices.set(reading.device, (dev = newDevice(-Infinity, processingNow, this.specs.length)));
    }
    dev.lastSeen = processingNow;
    this.retention.seen(processingNow);
    let late: LateReading[] | undefined;
    for (const i of idx) late = this.windows.accept(dev, i, reading, late);
    if (late) result.late = late;
    if (ts > dev.maxTs) {
      dev.maxTs = ts;
      let out: Emission[] | undefined;
      for (let i = 0; i < dev.specs.length; i++) out = this.windows.fire(reading.device, dev, i, out);
      if (out) result.emitted = finish(out);
    }
    return result;
  }

  /**
   * Closes every open window of each device silent (no accepted reading) for more than
   * `idleMs` before `now`, then forgets the devices silent past forgetAfterMs (forget.ts;
   * `forgotten` counts them: a call that forgot some changed state without returning
   * anything). For exact replay, drive `now` from journaled time, not the wall clock.
   */
  advanceIdle(now: number, idleMs: number): Aggregate[] {
    if (!Number.isFinite(now) || !(idleMs >= 0)) throw new RangeError('advanceIdle: now must be finite and idleMs >= 0');
    const out: Emission[] = [];
    for (const [device, dev] of this.devices) if (dev.open > 0 && now - dev.lastSeen > idleMs) this.windows.closeAll(device, dev, out);
    this.forgottenTotal += forgetSilentDevices(this.devices, this.retention, now);
    return finish(out);
  }

  /** Devices this engine object forgot (not carried across restore); grows only in advanceIdle. */
  get forgotten(): number {
    return this.forgottenTotal;
  }

  /**
   * The gateway clock was corrected by `deltaMs` (NTP sync): processing times already
   * seen move with it, so idle timers neither fire at once nor wait years; windows of
   * provisional event times take it as their offset (a window's times stay as they were:
   * the aggregates carry the offset).
   */
  shiftProcessingTime(deltaMs: number): void {
    if (!Number.isFinite(deltaMs)) throw new RangeError('shiftProcessingTime: deltaMs must be finite');
    for (const dev of this.devices.values()) dev.lastSeen += deltaMs;
    this.retention.shift(deltaMs);
    this.windows.clockSynced(deltaMs);
  }

  /** Closes every open window of every device, as advanceIdle would. For tests and deliberate drains. */
  flushAll(): Aggregate[] {
    const out: Emission[] = [];
    for (const [device, dev] of this.devices) if (dev.open > 0) this.windows.closeAll(device, dev, out);
    return finish(out);
  }

  stats(): EngineStats {
    const w = this.windows;
    return {
      keys: this.devices.size, openWindows: w.openWindows, lateTotal: w.lateTotal,
      futureSkewTotal: this.futureSkewTotal, invalidTotal: w.invalidTotal, droppedOnRestore: this.droppedOnRestore,
    };
  }

  /**
   * All state, ready to pack (snapshot.ts): call between add/advanceIdle calls and pack it
   * at once; checkpoint it with the journal seq it covers.
   */
  snapshot(): EncodedWindows {
    const w = this.windows;
    return encodeWindows(this.specs, w.tables, this.devices, [w.lateTotal, this.futureSkewTotal, w.invalidTotal], w.provisional);
  }

  /**
   * An engine with `specs` and the state of `snapshot`: a version 3 or 2 snapshot as unpacked,
   * or a version 1 JSON snapshot an older gateway wrote (snapshot-v1.ts). State of a spec
   * that is gone or whose definition changed is dropped and counted in
   * stats().droppedOnRestore; new specs start empty.
   * @throws Error on a snapshot this version cannot read; RangeError as the constructor.
   */
  static restore(specs: readonly WindowSpec[], snapshot: PackedWindows | unknown, options: EngineOptions = {}): WindowEngine {
    const e = new WindowEngine(specs, options);
    const packed = snapshot as Partial<PackedWindows> | null;
    const w = e.windows;
    const d = packed?.block instanceof Float64Array
      ? decodeWindows(e.specs, w.keys, w.tables, packed.header, packed.block)
      : decodeSnapshotV1(e.specs, w.keys, w.tables, snapshot);
    // All of them, even beyond maxDevices (the cap was lowered): the cap only turns new devices away.
    for (const [device, dev] of d.devices) {
      e.devices.set(device, dev);
      e.retention.seen(dev.lastSeen);
    }
    [w.lateTotal, e.futureSkewTotal, w.invalidTotal] = d.totals;
    w.openWindows = d.openWindows;
    for (const [win, clock] of d.provisional) w.provisional.set(win, clock);
    e.droppedOnRestore = d.dropped;
    return e;
  }

  private specsFor(profile: string): number[] {
    let idx = this.specsByProfile.get(profile);
    if (!idx) {
      idx = [];
      this.specs.forEach((s, i) => { if (s.profile === undefined || s.profile === profile) idx!.push(i); });
      this.specsByProfile.set(profile, idx);
    }
    return idx;
  }
}
