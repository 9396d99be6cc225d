/**
 * The engine's checkpoint format: plain JSON, versioned, canonical (devices sorted by id,
 * windows in start order, series in insertion order), so equal states give equal bytes
 * and a restored engine continues exactly as the original would have.
 *
 * Call order: encodeSnapshot() between engine calls; decodeSnapshot() once, into a fresh
 * engine. Errors: decodeSnapshot throws Error on anything it cannot read.
 */
import type { AccumulatorState } from './accumulator.js';
import type { CompiledSpec } from './spec.js';
import type { SeriesKeys } from './series-keys.js';
import type { SeriesTable } from './series-table.js';
import { cmp, type DeviceState, type OpenWindow, type SpecState } from './state.js';

type SeriesJSON = [metric: string, tags: Record<string, string>, profile: string, acc: AccumulatorState];
type SpecJSON = [specId: string, idleClosed: number | null, windows: Array<[start: number, series: SeriesJSON[]]>];
type Totals = [late: number, futureSkew: number, invalid: number];

/** Version 1. `specs` pairs each spec id with its fingerprint, to detect changed definitions. */
export interface WindowSnapshot {
  v: 1;
  specs: Array<[id: string, fingerprint: string]>;
  totals: Totals;
  devices: Array<[device: string, maxTs: number, lastSeen: number, specs: SpecJSON[]]>;
}

export function encodeSnapshot(specs: readonly CompiledSpec[], tables: readonly SeriesTable[], devices: ReadonlyMap<string, DeviceState>, totals: Totals): WindowSnapshot {
  const out: WindowSnapshot['devices'] = [];
  for (const device of [...devices.keys()].sort(cmp)) {
    const dev = devices.get(device)!;
    const states: SpecJSON[] = [];
    dev.specs.forEach((ss, i) => {
      if (!ss) return;
      const t = tables[i]!;
      const windows = ss.windows.map((w): [number, SeriesJSON[]] => [w.start, [...w.series.values()].map((slot): SeriesJSON => [t.metric[slot]!, t.tags[slot]!, t.profile[slot]!, t.acc.toJSON(slot)])]);
      states.push([specs[i]!.id, ss.idleClosed === -Infinity ? null : ss.idleClosed, windows]);
    });
    out.push([device, dev.maxTs, dev.lastSeen, states]);
  }
  return { v: 1, specs: specs.map((s) => [s.id, s.fingerprint]), totals: [...totals], devices: out };
}

export interface Decoded {
  devices: Map<string, DeviceState>;
  totals: Totals;
  openWindows: number;
  /** Open window keys whose spec is gone or changed. */
  dropped: number;
}

/**
 * Rebuilds engine state for `specs` (matched by id and fingerprint), interning series keys
 * and tags in `keys` and holding the open window keys in `tables` (one of each per spec).
 */
export function decodeSnapshot(specs: readonly CompiledSpec[], keys: readonly SeriesKeys[], tables: readonly SeriesTable[], snapshot: unknown): Decoded {
  const snap = snapshot as WindowSnapshot;
  if (typeof snap !== 'object' || snap === null || snap.v !== 1 || !Array.isArray(snap.devices) || !Array.isArray(snap.specs) || !Array.isArray(snap.totals)) {
    throw new Error('window snapshot: not a version 1 window-engine snapshot');
  }
  const fingerprints = new Map(snap.specs);
  const index = new Map(specs.map((s, i) => [s.id, i]));
  const out: Decoded = { devices: new Map(), totals: [...snap.totals], openWindows: 0, dropped: 0 };
  for (const [device, maxTs, lastSeen, states] of snap.devices) {
    if (typeof device !== 'string' || !Number.isFinite(maxTs) || !Number.isFinite(lastSeen) || !Array.isArray(states)) {
      throw new Error('window snapshot: malformed device entry');
    }
    const dev: DeviceState = { maxTs, lastSeen, open: 0, specs: [] };
    for (const [id, idleClosed, windows] of states) {
      const i = index.get(id);
      const spec = i === undefined ? undefined : specs[i];
      if (i === undefined || !spec || fingerprints.get(id) !== spec.fingerprint) {
        for (const [, series] of windows) out.dropped += series.length;
        continue;
      }
      const ss: SpecState = { idleClosed: idleClosed ?? -Infinity, windows: [] };
      for (const [start, series] of windows) {
        if (!Number.isSafeInteger(start)) throw new Error('window snapshot: malformed window start');
        const w: OpenWindow = { start, end: start + spec.size, series: new Map() };
        for (const [metric, tags, profile, acc] of series) {
          const group = keys[i]!.group(tags);
          w.series.set(keys[i]!.key(group, metric), tables[i]!.restore(metric, group.tags, profile, acc));
          out.openWindows++;
        }
        ss.windows.push(w);
        dev.open++;
      }
      dev.specs[i] = ss;
    }
    out.devices.set(device, dev);
  }
  return out;
}
