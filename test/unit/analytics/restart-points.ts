// Shared by the window and rule engines' retention tests (not a test file): how a run
// checkpointed and crashed around the ticks that forgot devices must compare with the
// uninterrupted one.
import { expect } from 'vitest';
import { mulberry32 } from '../../../src/simulate/prng.js';

/** The uninterrupted run: each op's output line, the ops whose tick forgot, the final state. */
export interface StraightRun {
  lines: string[];
  forgetAt: number[];
  final: string;
}

/**
 * A run checkpointed before op `cp` and crashed before op `crash`, restored and replayed
 * as the journal would; `oldJournal`: logging only the ticks that emitted (as before
 * RecordProcessor.tickChanged). Its output from `crash` on, and its final state.
 */
export type RestartedRun = (cp: number, crash: number, oldJournal?: boolean) => { lines: string[]; final: string };

/** Checkpoint and crash just before, at and after each of the first forgetting ticks: same output and state. */
export function expectExactAroundForgets(ref: StraightRun, opCount: number, restarted: RestartedRun): void {
  let cases = 0;
  for (const f of ref.forgetAt.slice(0, 12)) {
    for (const [cp, crash] of [[f - 1, f], [f, f + 1], [f + 1, f + 2], [f - 7, f + 1], [f - 3, f + 9]] as const) {
      if (cp < 0 || crash > opCount) continue;
      const got = restarted(cp, crash);
      expect(got.lines).toEqual(ref.lines.slice(crash));
      expect(got.final).toBe(ref.final);
      cases++;
    }
  }
  expect(cases).toBeGreaterThan(30);
}

/** The check has teeth: a replay that skipped the ticks that only forgot (emitted nothing) would differ. */
export function expectSkippedForgetsDiffer(ref: StraightRun, restarted: RestartedRun): void {
  const silent = ref.forgetAt.filter((i) => ref.lines[i] === '[]');
  expect(silent.length).toBeGreaterThan(0);
  expect(silent.some((f) => {
    const got = restarted(f - 1, f + 1, true);
    return got.final !== ref.final || JSON.stringify(got.lines) !== JSON.stringify(ref.lines.slice(f + 1));
  })).toBe(true);
}

/**
 * A churning fleet, reproducible from `seed`: n steps 100 ms of processing time apart from
 * `start`, every other one a tick; between them readings of one of a few active ids out
 * of `ids` (more than the tests' cap), with bursts, the whole set going quiet now and
 * then (silences past forgetAfterMs) and 30 % of steps silent. `read` builds the op for
 * device index d at processing time `now`, drawing what else it needs from `random`.
 */
export function churnWorkload<Op>(seed: number, n: number, ids: number, start: number,
  tick: (now: number) => Op, read: (d: number, now: number, random: () => number) => Op): Op[] {
  const r = mulberry32(seed);
  const ops: Op[] = [];
  let now = start;
  const active = new Set<number>();
  for (let i = 0; i < n; i++) {
    now += 100;
    if (i % 2 === 0) { ops.push(tick(now)); continue; }
    if (r() < 0.08) active.clear();
    if (active.size < 2 || r() < 0.1) active.add(Math.floor(r() * ids));
    const list = [...active];
    const d = list[Math.floor(r() * list.length)]!;
    if (r() < 0.3) continue; // silence
    ops.push(read(d, now, r));
  }
  return ops;
}
