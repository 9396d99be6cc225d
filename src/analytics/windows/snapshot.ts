/**
 * The engine's checkpoint, version 3: a JSON header for what is small and shared (spec
 * fingerprints, totals, the distinct device/metric/profile names, group tag sets,
 * quantile sketches) and a float64 block for the rest — per device its watermark, per
 * open window its start, per open window key three name indices and the accumulator's
 * row as it sits in the slab (../packed-snapshot.ts packs the two into one buffer).
 *
 * Why: the block copies doubles bit for bit (no formatting, no object per key), so a
 * restored engine continues exactly as the original would have, and a checkpoint at
 * 60,000 keys costs a few milliseconds and ~90 B per key instead of a JSON tree.
 *
 * Block, in order (counts and indices are whole numbers stored as doubles):
 *   devices; per device: name, maxTs, lastSeen, spec states;
 *     per spec state: spec (index into header.specs), idleClosed (−Infinity: none), windows;
 *       per window: start, keys;
 *         per key: metric, group (index into header.groups), profile, [sketch], row.
 * Canonical: devices sorted by name, windows in start order, keys in insertion order, so
 * equal states give equal bytes.
 *
 * Version 3 adds header.clock: the windows of provisional event times (types.ts:
 * ProvisionalClock) as [window's ordinal in the block, 'unsynced' or the sync's offset],
 * ascending — few and only before or just after a sync, so the header, not a number per
 * window in the block. Version 2 is the same without it, and still read.
 *
 * Call order: encodeWindows() between engine calls, its fill() at once (before the engine
 * changes); decodeWindows() once, into a fresh engine. Errors: decodeWindows throws Error
 * on anything it cannot read; fill() throws if the state changed since encodeWindows().
 */
import { sketchFromJSON, type SketchState } from './sketch.js';
import type { CompiledSpec } from './spec.js';
import type { SeriesKeys } from './series-keys.js';
import type { SeriesTable } from './series-table.js';
import { cmp, newDevice, type DeviceState, type SpecState } from './state.js';
import { checkHeader, type Totals, type WindowsHeader } from './snapshot-header.js';
import type { ProvisionalClock } from './types.js';
import { addSeries, forEachSeries, newWindow, seriesCount, type OpenWindow } from './window-series.js';

export type { Totals, WindowsHeader } from './snapshot-header.js';

export interface Decoded {
  devices: Map<string, DeviceState>;
  totals: Totals;
  openWindows: number;
  /** Open window keys whose spec is gone or changed. */
  dropped: number;
  /** The windows of provisional event times (device-windows.ts). */
  provisional: Map<OpenWindow, ProvisionalClock>;
}

/** A snapshot ready to pack: `doubles` numbers for the block, written by fill(). */
export interface EncodedWindows {
  header: WindowsHeader;
  doubles: number;
  fill(block: Float64Array): void;
}

/** Interns values (by identity) as dense indices. */
class Indices<T> {
  readonly values: T[] = [];
  private readonly index = new Map<T, number>();
  of(v: T): number {
    let i = this.index.get(v);
    if (i === undefined) this.index.set(v, (i = this.values.push(v) - 1));
    return i;
  }
}

export function encodeWindows(
  specs: readonly CompiledSpec[], tables: readonly SeriesTable[], devices: ReadonlyMap<string, DeviceState>, totals: Totals,
  provisional: ReadonlyMap<OpenWindow, ProvisionalClock>,
): EncodedWindows {
  const order = [...devices.keys()].sort(cmp);
  const names = new Indices<string>();
  const groups = new Indices<Readonly<Record<string, string>>>();
  const sketches: SketchState[] = [];
  const clock: Array<[number, ProvisionalClock]> = [];
  let ordinal = 0;
  // First pass: the block's exact size, and every name, group and sketch the header lists.
  let doubles = 1;
  for (const device of order) {
    const dev = devices.get(device)!;
    names.of(device);
    doubles += 4;
    dev.specs.forEach((ss, i) => {
      if (!ss) return;
      const t = tables[i]!;
      const perKey = 3 + (t.acc.sketched ? 1 : 0) + t.acc.stride;
      doubles += 3;
      for (const w of ss.windows) {
        const c = provisional.size > 0 ? provisional.get(w) : undefined;
        if (c !== undefined) clock.push([ordinal, c]);
        ordinal++;
        doubles += 2 + perKey * seriesCount(w);
        forEachSeries(w, (_key, slot) => {
          const l = t.label[slot]!;
          names.of(l.metric);
          groups.of(l.tags);
          names.of(l.profile);
          if (t.acc.sketched) sketches.push(t.acc.sketchJSON(slot)!);
        });
      }
    });
  }
  const header: WindowsHeader = {
    v: 3, specs: specs.map((s, i) => [s.id, s.fingerprint, tables[i]!.acc.stride, tables[i]!.acc.sketched ? 1 : 0]),
    totals: [...totals], names: names.values, groups: groups.values, sketches, clock,
  };
  const fill = (out: Float64Array): void => {
    let at = 0;
    let sketch = 0;
    out[at++] = order.length;
    for (const device of order) {
      const dev = devices.get(device)!;
      out[at++] = names.of(device);
      out[at++] = dev.maxTs;
      out[at++] = dev.lastSeen;
      out[at++] = dev.specs.reduce((n, ss) => (ss ? n + 1 : n), 0);
      dev.specs.forEach((ss, i) => {
        if (!ss) return;
        const t = tables[i]!;
        out[at++] = i;
        out[at++] = ss.idleClosed;
        out[at++] = ss.windows.length;
        for (const w of ss.windows) {
          out[at++] = w.start;
          out[at++] = seriesCount(w);
          forEachSeries(w, (_key, slot) => {
            const l = t.label[slot]!;
            out[at++] = names.of(l.metric);
            out[at++] = groups.of(l.tags);
            out[at++] = names.of(l.profile);
            if (t.acc.sketched) out[at++] = sketch++;
            at = t.acc.writeRow(slot, out, at);
          });
        }
      });
    }
    if (at !== out.length || sketch !== sketches.length) throw new Error('window snapshot: state changed between encode and fill');
  };
  return { header, doubles, fill };
}

/** Reads the block front to back; every read is checked. */
class BlockReader {
  at = 0;
  constructor(readonly block: Float64Array) {}
  number(): number {
    if (this.at >= this.block.length) throw new Error('window snapshot: truncated');
    return this.block[this.at++]!;
  }
  /** A whole number in [0, limit). */
  index(limit: number): number {
    const n = this.number();
    if (!Number.isInteger(n) || n < 0 || n >= limit) throw new Error('window snapshot: index out of range');
    return n;
  }
  count(): number {
    return this.index(this.block.length + 1);
  }
  skip(n: number): void {
    if (this.at + n > this.block.length) throw new Error('window snapshot: truncated');
    this.at += n;
  }
}

/**
 * Rebuilds engine state for `specs` (matched by id and fingerprint) from a header and
 * block that encodeWindows() wrote, interning series keys and tags in `keys` and holding
 * the open window keys in `tables` (one of each per spec).
 */
export function decodeWindows(specs: readonly CompiledSpec[], keys: readonly SeriesKeys[], tables: readonly SeriesTable[], header: unknown, block: Float64Array): Decoded {
  const h = checkHeader(header);
  const byId = new Map(specs.map((s, i) => [s.id, i]));
  // Snapshot spec → current spec index, or −1 when it is gone or changed (its state is dropped).
  const target = h.specs.map(([id, fingerprint, stride, sketched]) => {
    const i = byId.get(id);
    if (i === undefined || specs[i]!.fingerprint !== fingerprint) return -1;
    if (tables[i]!.acc.stride !== stride || tables[i]!.acc.sketched !== (sketched === 1)) throw new Error('window snapshot: accumulator does not match its window spec');
    return i;
  });
  const r = new BlockReader(block);
  const out: Decoded = { devices: new Map(), totals: [...h.totals], openWindows: 0, dropped: 0, provisional: new Map() };
  // Windows are numbered in block order, dropped ones included, as encodeWindows() numbered them.
  const clock = new Map(h.clock);
  let ordinal = 0;
  for (let d = r.count(); d > 0; d--) {
    const device = h.names[r.index(h.names.length)]!;
    const dev = newDevice(r.number(), r.number(), specs.length);
    if (!Number.isFinite(dev.maxTs) || !Number.isFinite(dev.lastSeen)) throw new Error('window snapshot: malformed device entry');
    for (let s = r.count(); s > 0; s--) {
      const from = r.index(h.specs.length);
      const idleClosed = r.number();
      if (!Number.isFinite(idleClosed) && idleClosed !== -Infinity) throw new Error('window snapshot: malformed idle horizon');
      const [, , stride, sketched] = h.specs[from]!;
      const i = target[from]!;
      const windows = r.count();
      if (i < 0) {
        for (let w = 0; w < windows; w++) {
          ordinal++;
          r.number();
          const n = r.count();
          r.skip(n * (3 + sketched + stride));
          out.dropped += n;
        }
        continue;
      }
      const ss: SpecState = { idleClosed, windows: new Array<OpenWindow>(windows) };
      for (let w = 0; w < windows; w++) {
        const c = clock.get(ordinal++);
        const win = (ss.windows[w] = readWindow(r, h, specs[i]!, keys[i]!, tables[i]!, out));
        if (c !== undefined) out.provisional.set(win, c);
      }
      dev.open += windows;
      dev.specs[i] = ss;
    }
    out.devices.set(device, dev);
  }
  if (r.at !== block.length) throw new Error('window snapshot: trailing data');
  if ((h.clock?.at(-1)?.[0] ?? -1) >= ordinal) throw new Error('window snapshot: clock list names a window the block does not hold');
  return out;
}

function readWindow(r: BlockReader, h: WindowsHeader, spec: CompiledSpec, keys: SeriesKeys, table: SeriesTable, out: Decoded): OpenWindow {
  const start = r.number();
  if (!Number.isSafeInteger(start)) throw new Error('window snapshot: malformed window start');
  const w = newWindow(start);
  for (let n = r.count(); n > 0; n--) {
    const metric = h.names[r.index(h.names.length)]!;
    const group = keys.group(h.groups[r.index(h.groups.length)]!);
    const profile = h.names[r.index(h.names.length)]!;
    const sketch = table.acc.sketched ? sketchFromJSON(h.sketches[r.index(h.sketches.length)]!) : undefined;
    const slot = table.restoreRow(keys.label(group, metric, profile), r.block, r.at, sketch);
    r.skip(table.acc.stride);
    addSeries(w, keys.key(group, metric), slot);
    out.openWindows++;
  }
  return w;
}
