// The window engine's device cap and forgetting (src/analytics/retention.ts, windows/forget.ts):
// a new device beyond maxDevices is not aggregated, a known one always is; a device with
// no open window silent past forgetAfterMs is forgotten at the first advanceIdle on or
// after the next grain, and starts afresh; and all of it stays exact across a restart
// that replays only the ticks the journal logged (those that emitted or forgot).
import { describe, expect, it } from 'vitest';
import { packSnapshot, unpackSnapshot } from '../../../../src/analytics/packed-snapshot.js';
import { WindowEngine, type EngineOptions, type WindowReading, type WindowSpec } from '../../../../src/analytics/windows/index.js';
import { churnWorkload, expectExactAroundForgets, expectSkippedForgetsDiffer } from '../restart-points.js';

const SPEC: WindowSpec = { name: 'v-1m', type: 'tumbling', sizeMs: 60_000, aggregates: ['avg'], allowedLatenessMs: 0 };
/** A whole minute: the default grain's boundaries are multiples of it. */
const T = 60_000 * 28_333_334;
const read = (device: string, ts: number, v = 1): WindowReading => ({ device, profile: 'p', ts, tags: {}, metrics: { v } });

describe('window engine: device cap', () => {
  it('refuses a new device when full, never a known one, and takes new ones again once some are forgotten', () => {
    const eng = new WindowEngine([SPEC], { maxDevices: 2, forgetAfterMs: 1000, forgetGrainMs: 1 });
    expect(eng.add(read('a', T), T).overCap).toBeUndefined();
    expect(eng.add(read('b', T), T).overCap).toBeUndefined();
    const refused = eng.add(read('c', T + 1), T + 1);
    expect(refused).toEqual({ emitted: [], late: [], futureSkew: false, invalidTime: false, overCap: true });
    expect(eng.stats()).toMatchObject({ keys: 2, openWindows: 2 });
    // Known devices: aggregated as ever, also when they close windows.
    expect(eng.add(read('a', T + 60_000), T + 2).emitted.map((g) => [g.device, g.count])).toEqual([['a', 1]]);
    expect(eng.add(read('b', T + 5), T + 3).overCap).toBeUndefined();
    // b closes by idle and is forgotten; a stays (it spoke later). Then c has room.
    eng.advanceIdle(T + 500, 100);
    eng.add(read('a', T + 60_001), T + 900);
    expect(eng.advanceIdle(T + 1004, 100)).toEqual([]);
    expect(eng.stats().keys).toBe(1);
    expect(eng.add(read('c', T + 7), T + 1005).overCap).toBeUndefined();
    expect(eng.stats().keys).toBe(2);
  });

  it('holds at most maxDevices devices whatever the number of ids (100,000 ids, cap 1,000)', () => {
    const eng = new WindowEngine([SPEC], { maxDevices: 1000, forgetAfterMs: 3_600_000 });
    let refused = 0;
    for (let i = 0; i < 100_000; i++) if (eng.add(read(`id-${i}`, T + i), T + i).overCap) refused++;
    expect(eng.stats().keys).toBe(1000);
    expect(refused).toBe(99_000);
    eng.advanceIdle(T + 100_000, 300_000);
    expect(eng.stats().keys).toBe(1000);
  });
});

describe('window engine: forgetting', () => {
  it('forgets a device silent more than forgetAfterMs with no open window, not a millisecond before', () => {
    const eng = new WindowEngine([SPEC], { forgetAfterMs: 1000, forgetGrainMs: 1 });
    eng.add(read('a', T), T);
    eng.advanceIdle(T + 101, 100); // idle: the window closes
    expect(eng.stats()).toMatchObject({ keys: 1, openWindows: 0 });
    eng.advanceIdle(T + 1000, 100); // exactly forgetAfterMs: kept
    expect(eng.stats().keys).toBe(1);
    expect(eng.forgotten).toBe(0);
    eng.advanceIdle(T + 1001, 100);
    expect(eng.stats().keys).toBe(0);
    expect(eng.forgotten).toBe(1);
  });

  it('with the default grain, at the first whole minute after forgetAfterMs', () => {
    const eng = new WindowEngine([SPEC], { forgetAfterMs: 1000 });
    eng.add(read('a', T), T);
    eng.advanceIdle(T + 59_999, 100);
    expect(eng.stats()).toMatchObject({ keys: 1, openWindows: 0 });
    eng.advanceIdle(T + 60_000, 100);
    expect(eng.stats().keys).toBe(0);
  });

  it('keeps a device while it has an open window; idle closes and forgets it in one call', () => {
    const eng = new WindowEngine([SPEC], { forgetAfterMs: 1000, forgetGrainMs: 1 });
    eng.add(read('a', T), T);
    expect(eng.advanceIdle(T + 5000, 10_000)).toEqual([]); // not idle yet for this call: window open
    expect(eng.stats()).toMatchObject({ keys: 1, openWindows: 1 });
    expect(eng.advanceIdle(T + 5001, 1000).map((g) => g.device)).toEqual(['a']);
    expect(eng.stats()).toMatchObject({ keys: 0, openWindows: 0 });
  });

  it('a forgotten device starts afresh: a reading behind its old watermark is on time, not late', () => {
    const opts = { forgetAfterMs: 10_000, forgetGrainMs: 1 };
    const forgets = new WindowEngine([SPEC], opts);
    const remembers = new WindowEngine([SPEC]);
    for (const eng of [forgets, remembers]) {
      eng.add(read('a', T + 120_000), T);
      eng.advanceIdle(T + 10_001, 100);
    }
    expect(forgets.stats().keys).toBe(0);
    expect(remembers.add(read('a', T, 5), T + 20_000).late).toHaveLength(1);
    const fresh = forgets.add(read('a', T, 5), T + 20_000);
    expect(fresh.late).toEqual([]);
    expect(forgets.stats()).toMatchObject({ keys: 1, openWindows: 1, lateTotal: 0 });
    expect(forgets.flushAll().map((g) => [g.window_start, g.count])).toEqual([[T, 1]]);
  });

  it('a clock correction moves the forgetting time with the last-seen times', () => {
    const eng = new WindowEngine([SPEC], { forgetAfterMs: 1000, forgetGrainMs: 1 });
    eng.add(read('a', T), 5000); // provisional time, before the sync
    eng.shiftProcessingTime(T - 5000);
    eng.advanceIdle(T + 1000, 100);
    expect(eng.stats().keys).toBe(1);
    eng.advanceIdle(T + 1001, 100);
    expect(eng.stats().keys).toBe(0);
  });
});

// ---- exact across restarts, as the journal replays: only ticks that emitted or forgot ----

type Op = { read: WindowReading; at: number } | { tick: number };
const IDLE = 400;
const OPTS: EngineOptions = { maxDevices: 5, forgetAfterMs: 2000, forgetGrainMs: 500, maxFutureSkewMs: 60_000 };
const SPECS: WindowSpec[] = [SPEC, { name: 'h', type: 'hopping', sizeMs: 2000, slideMs: 500, aggregates: ['max'], allowedLatenessMs: 300 }];

/** 8 ids for a cap of 5, bursts and long silences (past forgetAfterMs), a tick every 100 ms, disordered event times. */
function workload(seed: number, n: number): Op[] {
  return churnWorkload<Op>(seed, n, 8, T, (now) => ({ tick: now }), (d, now, r) => ({ read: read(`d${d}`, now - Math.floor(r() * 3000), Math.round(r() * 100)), at: now }));
}

function pack(eng: WindowEngine): Buffer {
  const w = eng.snapshot();
  return packSnapshot({ windows: w.header }, w.doubles, w.fill);
}
function unpack(bytes: Uint8Array): WindowEngine {
  const { header, block } = unpackSnapshot(bytes);
  return WindowEngine.restore(SPECS, { header: (header as { windows: unknown }).windows, block }, OPTS);
}

/** Applies one op; its output line, and whether a journal would log it (a tick that emitted or forgot). */
function step(eng: WindowEngine, op: Op): { line: string; logged: boolean } {
  if ('tick' in op) {
    const before = eng.forgotten;
    const out = eng.advanceIdle(op.tick, IDLE);
    return { line: JSON.stringify(out), logged: out.length > 0 || eng.forgotten !== before };
  }
  return { line: JSON.stringify(eng.add(op.read, op.at)), logged: true };
}

interface Straight { lines: string[]; logged: boolean[]; forgetAt: number[]; refused: number; final: string }
function straight(ops: Op[]): Straight {
  const eng = new WindowEngine(SPECS, OPTS);
  const lines: string[] = [];
  const logged: boolean[] = [];
  const forgetAt: number[] = [];
  let refused = 0;
  ops.forEach((op, i) => {
    const before = eng.forgotten;
    const s = step(eng, op);
    if (eng.forgotten !== before) forgetAt.push(i);
    if (s.line.includes('"overCap":true')) refused++;
    lines.push(s.line);
    logged.push(s.logged);
  });
  return { lines, logged, forgetAt, refused, final: pack(eng).toString('base64') };
}

/**
 * Checkpoint before op `cp`, crash before op `crash`: restore, replay [cp, crash) as the
 * journal would (readings, logged ticks), go on live. `oldJournal`: log only ticks that
 * emitted, as before tickChanged().
 */
function restarted(ops: Op[], ref: Straight, cp: number, crash: number, oldJournal = false): { lines: string[]; final: string } {
  const live = new WindowEngine(SPECS, OPTS);
  for (let i = 0; i < cp; i++) step(live, ops[i]!);
  const eng = unpack(pack(live));
  for (let i = cp; i < crash; i++) {
    const op = ops[i]!;
    if ('tick' in op && (!ref.logged[i] || (oldJournal && ref.lines[i] === '[]'))) continue;
    step(eng, op);
  }
  const lines = ops.slice(crash).map((op) => step(eng, op).line);
  return { lines, final: pack(eng).toString('base64') };
}

describe('window engine: forgetting and the cap are exact across restarts', () => {
  const ops = workload(5, 2400);
  const ref = straight(ops);

  it('the workload forgets, refuses, and reuses freed room', () => {
    expect(ref.forgetAt.length).toBeGreaterThan(5);
    expect(ref.refused).toBeGreaterThan(5);
  });

  it('checkpoint and crash just before, at and after each forgetting tick: same output and state as the uninterrupted run', () => {
    expectExactAroundForgets(ref, ops.length, (cp, crash, old) => restarted(ops, ref, cp, crash, old));
  });

  it('(the test has teeth) a replay that skipped the ticks that only forgot would differ', () => {
    expectSkippedForgetsDiffer(ref, (cp, crash, old) => restarted(ops, ref, cp, crash, old));
  });
});
