/**
 * The engine's in-memory state and the pure helpers around it (internal to windows/).
 *
 * Shape: device → per spec (by index) → open windows in start order → series key (metric +
 * group-by tag values) → slot of the spec's SeriesTable (series-table.ts), which holds the
 * accumulator and labels. The lists are kept exactly sized (window-series.ts). Per open
 * window key (one series in one window) that is a key and slot in its window's array, a
 * 64-byte slab row and a shared label; each device adds its watermark, window
 * lists and windows. memory.test.ts: ~540 B for a device with one series in one window,
 * ~230 B per key at 4 series per device (949 and 332 B with a Map per window), 12.0 MB
 * for 10,000 devices × 3 metrics × 2 windows.
 */
import type { CompiledSpec } from './spec.js';
import type { SeriesTable } from './series-table.js';
import type { Aggregate } from './types.js';
import type { OpenWindow } from './window-series.js';

/** idleClosed: windows ending at or before it were closed by advanceIdle/flushAll (−Infinity: none); windows: in start order. */
export interface SpecState { idleClosed: number; windows: OpenWindow[] }
/** maxTs: largest accepted event time; lastSeen: processing time of the last accepted reading; open: open windows; specs: by spec index, one element per spec. */
export interface DeviceState { maxTs: number; lastSeen: number; open: number; specs: Array<SpecState | undefined> }

/** A device with no state yet, its spec list exactly as long as `specCount` (see window-series.ts for why). */
export function newDevice(maxTs: number, lastSeen: number, specCount: number): DeviceState {
  return { maxTs, lastSeen, open: 0, specs: new Array<SpecState | undefined>(specCount) };
}

/** An aggregate on its way out, with its sort keys. */
export interface Emission { agg: Aggregate; spec: string; key: string }

/** Code-unit order: deterministic, locale-free. */
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Emission order: window end, window start, device, spec id, series key. */
export function byEmissionOrder(a: Emission, b: Emission): number {
  return a.agg.window_end - b.agg.window_end || a.agg.window_start - b.agg.window_start
    || cmp(a.agg.device, b.agg.device) || cmp(a.spec, b.spec) || cmp(a.key, b.key);
}

/** Sorts emissions into emission order and unwraps them. */
export function finish(out: Emission[]): Aggregate[] {
  if (out.length > 1) out.sort(byEmissionOrder);
  return out.map((e) => e.agg);
}

/** The group-by tags a reading carries, in group-by order. */
export function pickTags(tags: Readonly<Record<string, string>>, groupBy: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of groupBy) if (Object.hasOwn(tags, t)) out[t] = tags[t]!;
  return out;
}

/**
 * The group part of a series' identity within one device and spec: each group-by tag as
 * `<length>:<value>`, or `-` when the reading lacks it (its own group). Unambiguous, and
 * computed once per reading and spec.
 */
export function groupKey(tags: Readonly<Record<string, string>>, groupBy: readonly string[]): string {
  let k = '';
  for (const t of groupBy) k += Object.hasOwn(tags, t) ? `${tags[t]!.length}:${tags[t]!}` : '-';
  return k;
}

/** A series' identity within one device and spec; also its emission tie-breaker. */
export function seriesKey(metric: string, group: string): string {
  return group === '' ? metric : `${group}|${metric}`;
}

/** The aggregate of the series in `slot` of `table` over window [start, end): core fields always, extras as the spec asks. */
export function toAggregate(spec: CompiledSpec, device: string, table: SeriesTable, slot: number, start: number, end: number): Aggregate {
  // The table was built with the spec as its options: its result holds exactly the spec's extras.
  const l = table.label[slot]!;
  return {
    window: spec.name, device, profile: l.profile, metric: l.metric, tags: { ...l.tags },
    window_start: start, window_end: end,
    ...table.result(slot),
  };
}

