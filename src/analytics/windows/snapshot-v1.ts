/**
 * Reading the engine's version 1 checkpoint: plain JSON, as gateways before the binary
 * snapshot (snapshot.ts) wrote it. Kept so that a checkpoint an older gateway left in
 * the journal still restores exactly after an upgrade; nothing writes this format now.
 *
 * Call order: decodeSnapshotV1() once, into a fresh engine. Errors: throws Error on
 * anything it cannot read.
 */
import type { AccumulatorState } from './accumulator.js';
import type { CompiledSpec } from './spec.js';
import type { SeriesKeys } from './series-keys.js';
import type { SeriesTable } from './series-table.js';
import type { Decoded, Totals } from './snapshot.js';
import { newDevice, type SpecState } from './state.js';
import { addSeries, newWindow, type OpenWindow } from './window-series.js';

type SeriesJSON = [metric: string, tags: Record<string, string>, profile: string, acc: AccumulatorState];
type SpecJSON = [specId: string, idleClosed: number | null, windows: Array<[start: number, series: SeriesJSON[]]>];

/** Version 1. `specs` pairs each spec id with its fingerprint, to detect changed definitions. */
export interface WindowSnapshotV1 {
  v: 1;
  specs: Array<[id: string, fingerprint: string]>;
  totals: Totals;
  devices: Array<[device: string, maxTs: number, lastSeen: number, specs: SpecJSON[]]>;
}

/**
 * Rebuilds engine state for `specs` (matched by id and fingerprint), interning series keys
 * and tags in `keys` and holding the open window keys in `tables` (one of each per spec).
 */
export function decodeSnapshotV1(specs: readonly CompiledSpec[], keys: readonly SeriesKeys[], tables: readonly SeriesTable[], snapshot: unknown): Decoded {
  const snap = snapshot as WindowSnapshotV1;
  if (typeof snap !== 'object' || snap === null || snap.v !== 1 || !Array.isArray(snap.devices) || !Array.isArray(snap.specs) || !Array.isArray(snap.totals)) {
    throw new Error('window snapshot: not a version 1 window-engine snapshot');
  }
  const fingerprints = new Map(snap.specs);
  const index = new Map(specs.map((s, i) => [s.id, i]));
  const out: Decoded = { devices: new Map(), totals: [...snap.totals], openWindows: 0, dropped: 0, provisional: new Map() };
  for (const [device, maxTs, lastSeen, states] of snap.devices) {
    if (typeof device !== 'string' || !Number.isFinite(maxTs) || !Number.isFinite(lastSeen) || !Array.isArray(states)) {
      throw new Error('window snapshot: malformed device entry');
    }
    const dev = newDevice(maxTs, lastSeen, specs.length);
    for (const [id, idleClosed, windows] of states) {
      const i = index.get(id);
      const spec = i === undefined ? undefined : specs[i];
      if (i === undefined || !spec || fingerprints.get(id) !== spec.fingerprint) {
        for (const [, series] of windows) out.dropped += series.length;
        continue;
      }
      const ss: SpecState = { idleClosed: idleClosed ?? -Infinity, windows: new Array<OpenWindow>(windows.length) };
      for (const [at, [start, series]] of windows.entries()) {
        if (!Number.isSafeInteger(start)) throw new Error('window snapshot: malformed window start');
        const w = newWindow(start);
        for (const [metric, tags, profile, acc] of series) {
          const group = keys[i]!.group(tags);
          addSeries(w, keys[i]!.key(group, metric), tables[i]!.restore(keys[i]!.label(group, metric, profile), acc));
          out.openWindows++;
        }
        ss.windows[at] = w;
        dev.open++;
      }
      dev.specs[i] = ss;
    }
    out.devices.set(device, dev);
  }
  return out;
}
