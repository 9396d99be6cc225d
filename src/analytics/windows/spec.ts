/**
 * Window specs: what a profile (or the site config) declares, validated and compiled
 * for the engine, and Flink's event-time window assignment.
 *
 * Assignment follows Flink's `TumblingEventTimeWindows` / `SlidingEventTimeWindows`
 * (`TimeWindow.getWindowStartWithOffset`): windows are aligned to the epoch plus an
 * optional offset, a window [start, end) includes its start and excludes its end, and a
 * hopping window of size S and slide H holds every timestamp t with start ≤ t < start+S,
 * so each reading falls in ceil(S/H) or floor(S/H) windows.
 */
import type { QuantileName } from './types.js';

/** Every aggregate a spec may name. */
export const AGGREGATE_NAMES = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'stddev', 'p50', 'p95', 'p99'] as const;
export type AggregateName = (typeof AGGREGATE_NAMES)[number];

/**
 * The `weir.aggregates` contract names count, sum, min, max, avg, first and last, so
 * these are always computed and emitted (O(1) each). The list in a spec selects the
 * extras: stddev, p50, p95, p99. Naming a core aggregate is allowed and changes nothing.
 */
export const CORE_AGGREGATES: readonly AggregateName[] = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last'];

/** At most this many windows per reading (size / slide), so one spec cannot eat the heap. */
export const MAX_WINDOWS_PER_READING = 1000;
/** Longest window: 366 days. With event times within ±MAX_EVENT_TIME all window arithmetic is exact. */
export const MAX_WINDOW_MS = 366 * 86_400_000;
/** Event times beyond ±8.64e15 ms (the ECMAScript Date range) are refused as invalid. */
export const MAX_EVENT_TIME = 8.64e15;

/** A window as declared. All times are milliseconds. */
export interface WindowSpec {
  /** Name, carried as `window` on each aggregate. Unique per profile (see `specId`). */
  name: string;
  type: 'tumbling' | 'hopping';
  sizeMs: number;
  /** Hopping only: 0 < slideMs ≤ sizeMs. */
  slideMs?: number;
  /** Alignment offset from the epoch (Flink's `offset`); default 0. */
  offsetMs?: number;
  /** Extras beyond the core set; see CORE_AGGREGATES. */
  aggregates: readonly AggregateName[];
  /**
   * How far (event time) a device's readings may arrive out of order and still count.
   * Seed 001: 10 000. See engine.ts for the exact closing rule.
   */
  allowedLatenessMs: number;
  /** Tag names whose values split a device's metric into separate series. */
  groupByTags?: readonly string[];
  /** Only readings of this profile; all profiles when absent. */
  profile?: string;
  /** Only these metrics; every metric of a reading when absent. */
  metrics?: readonly string[];
}

/** A validated spec in the form the engine uses. */
export interface CompiledSpec {
  /** `<profile>/<name>`; the profile part is `*` for a spec that applies to every profile. */
  id: string;
  name: string;
  profile: string | undefined;
  metrics: readonly string[] | undefined;
  size: number;
  slide: number;
  /** Normalised to 0 ≤ offset < slide. */
  offset: number;
  lateness: number;
  groupBy: readonly string[];
  stddev: boolean;
  /** Quantiles in (0, 1) to report, in p50, p95, p99 order, with their field names. */
  quantiles: ReadonlyArray<readonly [QuantileName, number]>;
  /** Everything that shapes state; a snapshot's state is reused only if this matches. */
  fingerprint: string;
}

export function specId(spec: Pick<WindowSpec, 'name' | 'profile'>): string {
  return `${spec.profile ?? '*'}/${spec.name}`;
}

const isMs = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/**
 * The problems with one spec, as "field: message" strings (empty when valid), so a config
 * or profile schema can report them with its own file and path.
 */
export function windowSpecProblems(spec: WindowSpec): string[] {
  const p: string[] = [];
  if (typeof spec.name !== 'string' || spec.name === '') p.push('name: must be a non-empty string');
  if (spec.type !== 'tumbling' && spec.type !== 'hopping') p.push('type: must be "tumbling" or "hopping"');
  if (!isMs(spec.sizeMs) || spec.sizeMs < 1 || spec.sizeMs > MAX_WINDOW_MS) p.push(`sizeMs: must be an integer from 1 to ${MAX_WINDOW_MS} (366 days)`);
  if (spec.type === 'hopping') {
    if (!isMs(spec.slideMs) || spec.slideMs < 1 || spec.slideMs > spec.sizeMs) {
      p.push('slideMs: a hopping window needs an integer slide with 0 < slideMs <= sizeMs');
    } else if (spec.sizeMs / spec.slideMs > MAX_WINDOWS_PER_READING) {
      p.push(`slideMs: sizeMs / slideMs must be at most ${MAX_WINDOWS_PER_READING}`);
    }
  } else if (spec.slideMs !== undefined && spec.slideMs !== spec.sizeMs) {
    p.push('slideMs: a tumbling window has no slide (or slideMs = sizeMs)');
  }
  if (spec.offsetMs !== undefined && (!isMs(spec.offsetMs) || Math.abs(spec.offsetMs) > MAX_WINDOW_MS)) p.push('offsetMs: must be an integer of at most 366 days');
  if (!isMs(spec.allowedLatenessMs) || spec.allowedLatenessMs < 0 || spec.allowedLatenessMs > MAX_WINDOW_MS) p.push('allowedLatenessMs: must be an integer from 0 to 366 days');
  if (!Array.isArray(spec.aggregates)) p.push('aggregates: must be a list');
  else {
    for (const a of spec.aggregates) {
      if (!(AGGREGATE_NAMES as readonly string[]).includes(a)) p.push(`aggregates: unknown aggregate "${String(a)}" (known: ${AGGREGATE_NAMES.join(', ')})`);
    }
  }
  for (const [field, list] of [['groupByTags', spec.groupByTags], ['metrics', spec.metrics]] as const) {
    if (list !== undefined && (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || x === ''))) {
      p.push(`${field}: must be a list of non-empty strings`);
    }
  }
  if (spec.profile !== undefined && (typeof spec.profile !== 'string' || spec.profile === '')) p.push('profile: must be a non-empty string');
  return p;
}

/**
 * Validates and compiles specs, in order (the order does not affect output).
 * @throws RangeError naming the spec and every problem, or a duplicate `specId`.
 */
export function compileSpecs(specs: readonly WindowSpec[]): CompiledSpec[] {
  const seen = new Set<string>();
  return specs.map((spec) => {
    const problems = windowSpecProblems(spec);
    if (problems.length > 0) throw new RangeError(`window spec "${String(spec.name)}": ${problems.join('; ')}`);
    const id = specId(spec);
    if (seen.has(id)) throw new RangeError(`window spec "${spec.name}": two windows share the id ${id}`);
    seen.add(id);
    const slide = spec.type === 'hopping' ? spec.slideMs! : spec.sizeMs;
    const offset = (((spec.offsetMs ?? 0) % slide) + slide) % slide;
    const has = (a: AggregateName): boolean => spec.aggregates.includes(a);
    const quantiles = ([['p50', 0.5], ['p95', 0.95], ['p99', 0.99]] as const).filter(([n]) => has(n));
    const groupBy = [...(spec.groupByTags ?? [])];
    const metrics = spec.metrics ? [...new Set(spec.metrics)] : undefined;
    const compiled = {
      id, name: spec.name, profile: spec.profile, metrics,
      size: spec.sizeMs, slide, offset, lateness: spec.allowedLatenessMs,
      groupBy, stddev: has('stddev'), quantiles,
    };
    const fingerprint = JSON.stringify([compiled.size, slide, offset, compiled.lateness, groupBy, compiled.stddev, quantiles.map(([n]) => n), metrics ?? null]);
    return { ...compiled, fingerprint };
  });
}

/** Start of the last window (on the slide grid) holding ms `t`: Flink's getWindowStartWithOffset. */
export function lastWindowStart(t: number, slide: number, offset: number): number {
  const r = (t - offset) % slide;
  return t - (r < 0 ? r + slide : r);
}

/**
 * The starts of every window of `spec` that holds event time `ts`, ascending. `ts` is
 * floored to whole milliseconds first. Flink's SlidingEventTimeWindows.assignWindows:
 * `for (start = lastStart; start > ts - size; start -= slide)`.
 */
export function windowStarts(ts: number, spec: Pick<CompiledSpec, 'size' | 'slide' | 'offset'>): number[] {
  const t = Math.floor(ts);
  const last = lastWindowStart(t, spec.slide, spec.offset);
  if (spec.slide === spec.size) return [last];
  const out: number[] = [];
  for (let s = last; s > t - spec.size; s -= spec.slide) out.push(s);
  return out.reverse();
}
