// A small fleet for the central tier's tests: two sites (gateways) of cpu-monitor hosts
// with two cpus each, one reading per (host, cpu) every 30 s for an hour, up to 9 s out
// of order (inside seed 001's 10 s lateness, so a correct roll-up keeps every one).
// Window averages follow a plan: flat (alternating 40 / 30) except the ramps planted
// for the MATCH_RECOGNIZE job, a ramp broken by a window without readings, and a few
// readings over 90 for seed 001's filter. The references below recompute everything
// by brute force from the readings alone.
import { mulberry32 } from '../../src/simulate/prng.js';

export const WINDOW_MS = 300_000;
const STEP_MS = 30_000;
const WINDOWS = 12;
const STEPS_PER_WINDOW = WINDOW_MS / STEP_MS;

export interface Reading {
  gateway: string; device: string; cpu: string; ts: number; usage: number;
  /** The 30 s step the reading belongs to: steps are published in order. */
  step: number;
}
export interface Ramp { device: string; from: number; to: number }

/** Per-window usage of a host (both cpus), where it departs from the flat 40 / 30; null = no readings. */
const PLAN: Record<string, Record<number, number | null>> = {
  a1: { 0: 10, 1: 20, 2: 30, 3: 40, 4: 50, 5: 60, 6: 70, 7: 80 }, // an 8-window ramp: two matches
  a2: { 2: 90, 3: 50, 4: 60, 5: 70, 6: 80 }, // one match, windows 3..6
  b1: { 7: 90, 8: 20, 9: 25, 10: 30, 11: 35 }, // one match, windows 8..11
  b2: { 4: 50, 5: 60, 6: null, 7: 70, 8: 80 }, // rising, but window 6 is empty: no match
};
const SITES = [['a1', 'a2', 'a3', 'a4'], ['b1', 'b2', 'b3']];

/** The planned matches: device and [start of first window, end of last window). */
export const PLANTED_RAMPS = (readings: Reading[]): Ramp[] => {
  const base = Math.min(...readings.map((r) => r.ts)) - (Math.min(...readings.map((r) => r.ts)) % WINDOW_MS);
  const ramp = (device: string, k: number): Ramp => ({ device, from: base + k * WINDOW_MS, to: base + (k + 4) * WINDOW_MS });
  return [ramp('a1', 0), ramp('a1', 4), ramp('a2', 3), ramp('b1', 8)];
};

/** The fleet's readings, in the order each site publishes them. `gateways`: the two sites' ids. */
export function fleetWorkload(gateways: string[], now = Date.now()): Reading[] {
  const rand = mulberry32(6001); // the simulator's seeded PRNG: every run publishes the same fleet
  const base = Math.floor((now - 2 * 3_600_000) / WINDOW_MS) * WINDOW_MS;
  const out: Reading[] = [];
  SITES.forEach((hosts, site) => {
    const gateway = gateways[site]!;
    for (let step = 0; step < WINDOWS * STEPS_PER_WINDOW; step++) {
      const k = Math.floor(step / STEPS_PER_WINDOW);
      const batch: Reading[] = [];
      for (const device of hosts) {
        const planned = PLAN[device]?.[k];
        if (planned === null) continue;
        for (const cpu of ['cpu0', 'cpu1']) {
          let usage = planned ?? (k % 2 === 0 ? 40 : 30);
          if (device === 'a1' && cpu === 'cpu1' && k === 9) usage = 95; // over 90 for a whole window
          if (device === 'b3' && cpu === 'cpu0' && k === 5 && step % STEPS_PER_WINDOW < 3) usage = 91;
          if (device === 'b3' && cpu === 'cpu1' && step >= WINDOWS * STEPS_PER_WINDOW - 2) usage = 93; // still firing at the end
          batch.push({ gateway, device, cpu, ts: base + step * STEP_MS + Math.floor(rand() * 9_000), usage, step });
        }
      }
      // Shuffled within the step: out of order by up to 9 s.
      for (let i = batch.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [batch[i], batch[j]] = [batch[j]!, batch[i]!];
      }
      out.push(...batch);
    }
  });
  return out;
}

export interface RollupRef { site: string; windowStart: number; count: number; devices: number; min: number; max: number; sum: number }

/** Brute-force 5-minute tumbling roll-up per site (profile and metric are fixed here). */
export function rollupReference(readings: Reading[]): RollupRef[] {
  const groups = new Map<string, { site: string; windowStart: number; values: number[]; devices: Set<string> }>();
  for (const r of readings) {
    const windowStart = r.ts - (r.ts % WINDOW_MS);
    const key = `${r.gateway}@${windowStart}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { site: r.gateway, windowStart, values: [], devices: new Set() }));
    g.values.push(r.usage);
    g.devices.add(r.device);
  }
  return [...groups.values()]
    .map((g) => ({ site: g.site, windowStart: g.windowStart, count: g.values.length, devices: g.devices.size,
      min: Math.min(...g.values), max: Math.max(...g.values), sum: g.values.reduce((a, b) => a + b, 0) }))
    .sort((a, b) => a.site.localeCompare(b.site) || a.windowStart - b.windowStart);
}

/**
 * Brute force of docker/sql/30-patterns.sql: per (gateway, device) the 5-minute
 * averages in time order; four consecutive windows, each average above the last, is
 * a match, and the search resumes after the match's last window (SKIP PAST LAST ROW).
 */
export function risingRuns(readings: Reading[]): Ramp[] {
  const series = new Map<string, Map<number, number[]>>();
  for (const r of readings) {
    const key = `${r.gateway}\u0000${r.device}`;
    const windows = series.get(key) ?? new Map<number, number[]>();
    series.set(key, windows);
    const ws = r.ts - (r.ts % WINDOW_MS);
    windows.set(ws, [...(windows.get(ws) ?? []), r.usage]);
  }
  const out: Ramp[] = [];
  for (const [key, windows] of series) {
    const device = key.split('\u0000')[1]!;
    const ws = [...windows.keys()].sort((a, b) => a - b);
    const avg = (w: number): number => windows.get(w)!.reduce((a, b) => a + b, 0) / windows.get(w)!.length;
    for (let i = 0; i + 3 < ws.length;) {
      const run = ws.slice(i, i + 4);
      const ok = run.every((w, j) => j === 0 || (w === run[j - 1]! + WINDOW_MS && avg(w) > avg(run[j - 1]!)));
      if (ok) {
        out.push({ device, from: run[0]!, to: run[3]! + WINDOW_MS });
        i += 4;
      } else {
        i += 1;
      }
    }
  }
  return out.sort((a, b) => a.device.localeCompare(b.device) || a.from - b.from);
}
