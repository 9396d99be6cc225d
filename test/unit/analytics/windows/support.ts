// Shared helpers for the window-engine tests (not a test file: vitest only picks *.test.ts):
// a seeded workload generator and brute-force references that share no code with the engine.
import type { Aggregate, WindowEngine, WindowReading } from '../../../../src/analytics/windows/index.js';
import { mulberry32 } from '../../../../src/simulate/prng.js';

export interface Ev extends WindowReading {
  /** Gateway time of arrival: the processing time passed to add(). */
  received: number;
}

export interface WorkloadOptions {
  seed: number;
  hosts: number;
  cpus: number;
  durationMs: number;
  /** One reading per (host, cpu) every periodMs, jittered within the period. */
  periodMs: number;
  /** On-time readings arrive 0..maxDisorderMs after their event time. */
  maxDisorderMs: number;
  /** This fraction arrives maxDisorderMs..maxLateMs after its event time instead. */
  lateFraction: number;
  maxLateMs: number;
  start?: number;
  /** Usage values: 0.0..100.0 in tenths by default; `signed` spreads them over −50..50. */
  signed?: boolean;
  /** Add this to every event time of one host (a bad device clock). */
  skew?: { host: string; ms: number };
}

export const T0 = 1_642_763_100_000; // 2022-01-21, seed 001's era; a multiple of 5 minutes.

/** Seed 001's readings (hostname, cpu, usage, occurred_at) in arrival order. */
export function seed001Workload(o: WorkloadOptions): Ev[] {
  const r = mulberry32(o.seed);
  const start = o.start ?? T0;
  const evs: Array<Ev & { order: number }> = [];
  let order = 0;
  for (let h = 0; h < o.hosts; h++) {
    const host = `host-${h}`;
    for (let c = 0; c < o.cpus; c++) {
      for (let t = start; t < start + o.durationMs; t += o.periodMs) {
        const ts = t + Math.floor(r() * o.periodMs);
        const delay = r() < o.lateFraction
          ? o.maxDisorderMs + 1 + Math.floor(r() * (o.maxLateMs - o.maxDisorderMs))
          : Math.floor(r() * (o.maxDisorderMs + 1));
        const usage = o.signed ? Math.round(r() * 1000) / 10 - 50 : Math.round(r() * 1000) / 10;
        const shifted = o.skew?.host === host ? ts + o.skew.ms : ts;
        evs.push({ device: host, profile: 'cpu-monitor', ts: shifted, received: ts + delay, tags: { cpu: `cpu${c}` }, metrics: { usage }, order: order++ });
      }
    }
  }
  evs.sort((a, b) => a.received - b.received || a.order - b.order);
  return evs.map(({ order: _o, ...e }) => e);
}

export interface Reference {
  /** Per window key: the on-time values and event times, in arrival order. */
  windows: Map<string, { device: string; cpu: string; start: number; end: number; values: number[]; ts: number[] }>;
  /** Per window key: how many readings came after it closed. */
  late: Map<string, number>;
  /** Per window key: index of the event whose arrival closes it (absent: never closes). */
  closedAt: Map<string, number>;
}

export const wkey = (device: string, cpu: string, start: number): string => `${device}|${cpu}|${start}`;

/**
 * Brute force, straight from the rule: window starts are the multiples of `slide` with
 * start ≤ ts < start + size (found by scanning); a reading is late for a window when its
 * device's largest earlier event time is ≥ end + lateness; a window closes at the first
 * arrival that makes its device's largest event time ≥ end + lateness.
 */
export function reference(evs: readonly Ev[], size: number, slide: number, lateness: number): Reference {
  const ref: Reference = { windows: new Map(), late: new Map(), closedAt: new Map() };
  const maxTs = new Map<string, number>();
  const pending = new Map<string, Set<string>>();
  evs.forEach((e, i) => {
    const cpu = e.tags.cpu!;
    const seen = maxTs.get(e.device) ?? -Infinity;
    for (let k = Math.floor((e.ts - size) / slide) - 1; k * slide <= e.ts; k++) {
      const start = k * slide;
      if (!(start <= e.ts && e.ts < start + size)) continue;
      const key = wkey(e.device, cpu, start);
      if (start + size + lateness <= seen) {
        ref.late.set(key, (ref.late.get(key) ?? 0) + 1);
        continue;
      }
      let w = ref.windows.get(key);
      if (!w) {
        ref.windows.set(key, (w = { device: e.device, cpu, start, end: start + size, values: [], ts: [] }));
        if (!pending.has(e.device)) pending.set(e.device, new Set());
        pending.get(e.device)!.add(key);
      }
      w.values.push(e.metrics.usage!);
      w.ts.push(e.ts);
    }
    const now = Math.max(seen, e.ts);
    maxTs.set(e.device, now);
    for (const key of pending.get(e.device) ?? []) {
      if (ref.windows.get(key)!.end + lateness <= now) {
        ref.closedAt.set(key, i);
        pending.get(e.device)!.delete(key);
      }
    }
  });
  return ref;
}

/** Exact statistics of one reference window, computed the obvious way. */
export function exact(values: readonly number[], ts: readonly number[]) {
  const n = values.length;
  const sum = values.reduce((a, v) => a + v, 0);
  let fi = 0;
  let li = 0;
  ts.forEach((t, i) => {
    if (t < ts[fi]!) fi = i;
    if (t >= ts[li]!) li = i;
  });
  const mean = sum / n;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: n, sum, avg: sum / n, min: Math.min(...values), max: Math.max(...values), first: values[fi]!, last: values[li]!,
    stddev: Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / n),
    quantile: (q: number) => sorted[Math.floor(q * (n - 1))]!,
  };
}

export interface Run {
  /** Every aggregate, tagged with the index of the event whose add() emitted it (-1: flushAll). */
  emitted: Array<{ at: number; agg: Aggregate }>;
  late: Array<{ at: number; key: string }>;
  skewed: number[];
}

/** Feeds every event, then flushes; `between(i)` runs before event i (e.g. advanceIdle). */
export function run(engine: WindowEngine, evs: readonly Ev[], between?: (i: number, e: Ev) => Aggregate[]): Run {
  const out: Run = { emitted: [], late: [], skewed: [] };
  evs.forEach((e, i) => {
    for (const agg of between?.(i, e) ?? []) out.emitted.push({ at: i, agg });
    const r = engine.add(e, e.received);
    for (const agg of r.emitted) out.emitted.push({ at: i, agg });
    for (const l of r.late) out.late.push({ at: i, key: wkey(l.correction.device, l.correction.tags.cpu ?? '', l.correction.window_start) });
    if (r.futureSkew) out.skewed.push(i);
  });
  for (const agg of engine.flushAll()) out.emitted.push({ at: -1, agg });
  return out;
}

export function countBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return m;
}
