/**
 * The window engine's open windows (engine.ts has the rules: closing, lateness, idle): per
 * device and spec, which windows a reading's metrics go into — or which late corrections it
 * makes — and the emission of the windows a device's watermark or its idleness closed.
 * The engine decides which readings are taken and when windows close; this decides where
 * each value goes. It owns the per-spec series keys and accumulator tables the snapshot
 * encodes (snapshot.ts), and the counts of open window keys, late readings and invalid values.
 *
 * Provisional event times (types.ts: ProvisionalClock): a window that took a reading
 * whose event time was the gateway's provisional time is marked, as a whole and for
 * good (a window mixing such readings with device-timed ones needs a sync offset
 * smaller than the window: all of it is then taken as provisional); the gateway clock's
 * sync gives every marked window its offset, which its aggregates carry. A side map,
 * not a field: only windows of clockless devices before a sync are in it, so the
 * common window costs nothing more and a sync visits only the marked ones.
 *
 * Call order: accept() per accepted reading and spec, then fire() per spec when the
 * device's maxTs moved; closeAll() on idle or flush; clockSynced() at the sync. No
 * errors: bad values are counted.
 */
import { MAX_ABS_VALUE } from './accumulator.js';
import { SeriesKeys, type SeriesGroup } from './series-keys.js';
import { SeriesTable } from './series-table.js';
import { lastWindowStart, windowStarts, type CompiledSpec } from './spec.js';
import { toAggregate, type DeviceState, type Emission } from './state.js';
import { UNSYNCED, type LateReading, type ProvisionalClock, type WindowReading } from './types.js';
import { addSeries, forEachSeries, newWindow, seriesCount, seriesSlot, withWindowAt, type OpenWindow } from './window-series.js';

/** One reusable list for a tumbling window's single start: accept() is never re-entered. */
const ONE_START = [0];
function oneStart(ts: number, spec: CompiledSpec): number[] {
  ONE_START[0] = lastWindowStart(Math.floor(ts), spec.slide, spec.offset);
  return ONE_START;
}

export class DeviceWindows {
  /** Interned series keys and group tags, per spec (by index). */
  readonly keys: SeriesKeys[];
  /** Open window keys' accumulators and labels, per spec (by index). */
  readonly tables: SeriesTable[];
  /** Open window keys (one series in one window), late readings, invalid values (the engine adds invalid event times). */
  openWindows = 0;
  lateTotal = 0;
  invalidTotal = 0;
  /** The open windows holding a reading of provisional event time, and how they stand; deleted as they are emitted. */
  readonly provisional = new Map<OpenWindow, ProvisionalClock>();

  constructor(readonly specs: readonly CompiledSpec[]) {
    this.keys = specs.map((s) => new SeriesKeys(s.groupBy));
    this.tables = specs.map((s) => new SeriesTable(s));
  }

  /** closedThrough(d) of engine.ts for spec i: a window ending at or before it has closed, so a reading for it is late. */
  private closedThrough(dev: DeviceState, i: number): number {
    return Math.max(dev.maxTs - this.specs[i]!.lateness, dev.specs[i]?.idleClosed ?? -Infinity);
  }

  /** Adds the reading's metrics to their open windows of spec i, or reports them late (into `late`, created when first needed; returned). */
  accept(dev: DeviceState, i: number, r: WindowReading, late: LateReading[] | undefined): LateReading[] | undefined {
    const spec = this.specs[i]!;
    const closed = this.closedThrough(dev, i);
    // Tumbling: one window, found without allocating a list (this runs per reading and spec).
    const starts = spec.slide === spec.size ? oneStart(r.ts, spec) : windowStarts(r.ts, spec);
    const group = this.keys[i]!.group(r.tags);
    if (spec.metrics) for (const metric of spec.metrics) late = this.acceptMetric(dev, i, r, metric, group, starts, closed, late);
    // for-in rather than Object.keys(): no array per reading and spec (acceptMetric checks own keys).
    else for (const metric in r.metrics) late = this.acceptMetric(dev, i, r, metric, group, starts, closed, late);
    return late;
  }

  private acceptMetric(
    dev: DeviceState, i: number, r: WindowReading, metric: string, group: SeriesGroup, starts: readonly number[], closed: number, late: LateReading[] | undefined,
  ): LateReading[] | undefined {
    if (!Object.hasOwn(r.metrics, metric)) return late;
    const v = r.metrics[metric];
    if (typeof v !== 'number' || !(Math.abs(v) <= MAX_ABS_VALUE)) {
      this.invalidTotal++;
      return late;
    }
    const spec = this.specs[i]!;
    const table = this.tables[i]!;
    const key = this.keys[i]!.key(group, metric);
    for (const start of starts) {
      const end = start + spec.size;
      if (end <= closed) {
        this.lateTotal++;
        const slot = table.open(this.keys[i]!.label(group, metric, r.profile), v, r.ts);
        const correction = toAggregate(spec, r.device, table, slot, start, end);
        table.release(slot);
        correction.late = 1;
        // Provisional means before the sync (its shift follows this reading in the journal).
        if (r.provisionalTs === true) correction.clock = UNSYNCED;
        (late ??= []).push({ ts: r.ts, value: v, closedThrough: closed, correction });
        continue;
      }
      const w = this.openWindow(dev, i, start);
      if (r.provisionalTs === true && !this.provisional.has(w)) this.provisional.set(w, UNSYNCED);
      const slot = seriesSlot(w, key);
      if (slot !== undefined) table.add(slot, v, r.ts);
      else {
        addSeries(w, key, table.open(this.keys[i]!.label(group, metric, r.profile), v, r.ts));
        this.openWindows++;
      }
    }
    return late;
  }

  /** The open window of spec i starting at `start`, created in start order if new. */
  private openWindow(dev: DeviceState, i: number, start: number): OpenWindow {
    const ss = (dev.specs[i] ??= { idleClosed: -Infinity, windows: [] });
    const ws = ss.windows;
    let j = ws.length - 1;
    for (; j >= 0; j--) {
      const w = ws[j]!;
      if (w.start === start) return w;
      if (w.start < start) break;
    }
    const w = newWindow(start);
    ss.windows = withWindowAt(ws, j + 1, w);
    dev.open++;
    return w;
  }

  /** Emits the windows of spec i that the device's watermark has passed, into `out` (created when first needed; returned). */
  fire(device: string, dev: DeviceState, i: number, out: Emission[] | undefined): Emission[] | undefined {
    const ss = dev.specs[i];
    if (!ss) return out;
    const closed = this.closedThrough(dev, i);
    const size = this.specs[i]!.size;
    while (ss.windows.length > 0 && ss.windows[0]!.start + size <= closed) this.emit(device, dev, i, ss.windows.shift()!, (out ??= []));
    return out;
  }

  /** Idle / flush: emits all of a device's open windows and moves its idle horizons. */
  closeAll(device: string, dev: DeviceState, out: Emission[]): void {
    dev.specs.forEach((ss, i) => {
      if (!ss) return;
      const spec = this.specs[i]!;
      const horizon = lastWindowStart(Math.floor(dev.maxTs), spec.slide, spec.offset) + spec.size;
      ss.idleClosed = Math.max(ss.idleClosed, horizon);
      for (const w of ss.windows) this.emit(device, dev, i, w, out);
      ss.windows = [];
    });
  }

  /**
   * The gateway clock synced: `offsetMs` corrects every window still marked 'unsynced'.
   * The first clock shift after a provisional reading is always its sync: an unsynced
   * clock reports no jumps (core/clock-sync.ts), so a jump finds none marked so.
   */
  clockSynced(offsetMs: number): void {
    for (const [w, clock] of this.provisional) if (clock === UNSYNCED) this.provisional.set(w, offsetMs);
  }

  private emit(device: string, dev: DeviceState, i: number, w: OpenWindow, out: Emission[]): void {
    const spec = this.specs[i]!;
    const table = this.tables[i]!;
    const clock = this.provisional.size > 0 ? this.provisional.get(w) : undefined;
    if (clock !== undefined) this.provisional.delete(w);
    forEachSeries(w, (key, slot) => {
      const agg = toAggregate(spec, device, table, slot, w.start, w.start + spec.size);
      if (clock !== undefined) agg.clock = clock;
      out.push({ agg, spec: spec.id, key });
      table.release(slot);
    });
    this.openWindows -= seriesCount(w);
    dev.open--;
  }
}
