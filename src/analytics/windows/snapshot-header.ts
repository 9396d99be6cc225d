/**
 * The JSON header of the window engine's checkpoint (snapshot.ts says what is in it and
 * why) and its check: decodeWindows() reads nothing of a snapshot whose header is not a
 * version 2 or 3 one, so a corrupt or foreign checkpoint fails loudly instead of
 * restoring wrong state.
 */
import type { SketchState } from './sketch.js';
import type { ProvisionalClock } from './types.js';

export type Totals = [late: number, futureSkew: number, invalid: number];

/** Per spec: id, fingerprint (to detect changed definitions), row stride, 1 if keys carry a sketch. */
type SpecEntry = [id: string, fingerprint: string, stride: number, sketched: 0 | 1];

export interface WindowsHeader {
  v: 2 | 3;
  specs: SpecEntry[];
  totals: Totals;
  names: string[];
  groups: Array<Readonly<Record<string, string>>>;
  sketches: SketchState[];
  /** Version 3: [ordinal of the window in the block, how it stands], ascending. */
  clock?: Array<[window: number, clock: ProvisionalClock]>;
}

/** `h` as a WindowsHeader, or Error when it is not a version 2 or 3 one. */
export function checkHeader(h: unknown): WindowsHeader {
  const x = h as WindowsHeader;
  const ok = typeof x === 'object' && x !== null && (x.v === 2 ? x.clock === undefined : x.v === 3 && checkClock(x.clock))
    && Array.isArray(x.specs) && Array.isArray(x.totals) && x.totals.length === 3
    && Array.isArray(x.names) && x.names.every((n) => typeof n === 'string')
    && Array.isArray(x.groups) && x.groups.every((g) => typeof g === 'object' && g !== null && Object.values(g).every((v) => typeof v === 'string'))
    && Array.isArray(x.sketches)
    && x.specs.every((s) => Array.isArray(s) && typeof s[0] === 'string' && typeof s[1] === 'string' && (s[2] === 8 || s[2] === 10) && (s[3] === 0 || s[3] === 1));
  if (!ok) throw new Error('window snapshot: not a version 2 or 3 window-engine snapshot');
  return x;
}

/** Version 3's clock list: ascending whole ordinals, each with 'unsynced' or a finite offset. */
function checkClock(list: unknown): boolean {
  if (!Array.isArray(list)) return false;
  let last = -1;
  for (const e of list as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || !Number.isSafeInteger(e[0]) || (e[0] as number) <= last) return false;
    if (e[1] !== 'unsynced' && !Number.isFinite(e[1])) return false;
    last = e[0] as number;
  }
  return true;
}
