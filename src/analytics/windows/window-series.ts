/**
 * The series of one open window, and the windows of one device and spec, kept compact
 * (internal to windows/).
 *
 * Why: there is an open window per device and spec — 20,000 to 30,000 of them at 10,000
 * devices — and most hold a few series. A Map per window cost ~180 B however few its
 * entries (its hash table starts with room for 4, ~145 B); an array grown by push()
 * reserves 16 slots (~145 B) for its first element. Here a window's series are one
 * array of exactly its length, (key₀, slot₀, key₁, slot₁, …), searched in order: the
 * keys are interned (series-keys.ts), so a comparison is mostly one pointer test. Only
 * a window with more than INDEXED_ABOVE series gets a Map beside the array (and the
 * array then grows by push(), as copying it whole per new series would be quadratic).
 * Window lists are likewise copied into exactly sized arrays when a window opens,
 * which happens once per window, not per reading.
 *
 * Guarantees: insertion order is kept (emission and snapshots walk the series in it);
 * addSeries() takes a key the window does not hold yet (the engine looks first). No errors.
 */

/** Series per window searched linearly; past this a window keeps a Map index too. */
export const INDEXED_ABOVE = 16;

const NO_SERIES: ReadonlyArray<string | number> = Object.freeze([]);

/**
 * One open window [start, start + spec size) of one device and spec. The end is not
 * kept: it is a boxed double per window (~24 B with its field, 30,000 windows at 10,000 devices).
 */
export interface OpenWindow {
  start: number;
  /** Series key and slot of the spec's SeriesTable, alternating, in insertion order. */
  series: Array<string | number>;
  /** key → slot, only once the window holds more than INDEXED_ABOVE series. */
  index: Map<string, number> | undefined;
}

/** An open window holding no series yet. */
export function newWindow(start: number): OpenWindow {
  return { start, series: NO_SERIES as Array<string | number>, index: undefined };
}

/** How many series the window holds. */
export function seriesCount(w: OpenWindow): number {
  return w.series.length >> 1;
}

/** The slot of `key` in the window, or undefined. */
export function seriesSlot(w: OpenWindow, key: string): number | undefined {
  if (w.index !== undefined) return w.index.get(key);
  const s = w.series;
  for (let k = 0; k < s.length; k += 2) if (s[k] === key) return s[k + 1] as number;
  return undefined;
}

/** Adds a series the window does not hold yet. */
export function addSeries(w: OpenWindow, key: string, slot: number): void {
  const old = w.series;
  const n = old.length;
  if (w.index !== undefined) {
    old.push(key, slot);
    w.index.set(key, slot);
    return;
  }
  // new Array(n) reserves exactly n elements; push() onto a short array would reserve 16.
  const next = new Array<string | number>(n + 2);
  for (let k = 0; k < n; k++) next[k] = old[k]!;
  next[n] = key;
  next[n + 1] = slot;
  w.series = next;
  if (n / 2 + 1 > INDEXED_ABOVE) {
    w.index = new Map();
    for (let k = 0; k < next.length; k += 2) w.index.set(next[k] as string, next[k + 1] as number);
  }
}

/** Calls fn(key, slot) for every series of the window, in insertion order. */
export function forEachSeries(w: OpenWindow, fn: (key: string, slot: number) => void): void {
  const s = w.series;
  for (let k = 0; k < s.length; k += 2) fn(s[k] as string, s[k + 1] as number);
}

/** `windows` with `w` inserted at `at`, as a new array of exactly that length. */
export function withWindowAt(windows: readonly OpenWindow[], at: number, w: OpenWindow): OpenWindow[] {
  const next = new Array<OpenWindow>(windows.length + 1);
  for (let k = 0; k < at; k++) next[k] = windows[k]!;
  next[at] = w;
  for (let k = at; k < windows.length; k++) next[k + 1] = windows[k]!;
  return next;
}
