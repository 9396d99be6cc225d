// Exact across restarts: snapshot at random points, pack to bytes, unpack, restore, carry
// on — the concatenated output equals an uninterrupted run's, bit for bit.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packSnapshot, unpackSnapshot } from '../../../../src/analytics/packed-snapshot.js';
import { WindowEngine, type WindowSpec } from '../../../../src/analytics/windows/index.js';
import { seed001Workload, T0, type Ev } from './support.js';

const SPECS: WindowSpec[] = [
  { name: 'usage-1m', type: 'tumbling', sizeMs: 60_000, aggregates: ['avg', 'max'], allowedLatenessMs: 10_000, groupByTags: ['cpu'], profile: 'cpu-monitor' },
  { name: 'all-2m', type: 'hopping', sizeMs: 120_000, slideMs: 30_000, offsetMs: 7000, aggregates: ['stddev', 'p50', 'p95', 'p99'], allowedLatenessMs: 3000 },
];
const OPTIONS = { maxFutureSkewMs: 30 * 60_000 };
const IDLE = 45_000;

/** The engine's snapshot as the checkpoint stores it. */
function pack(eng: WindowEngine): Buffer {
  const w = eng.snapshot();
  return packSnapshot({ windows: w.header }, w.doubles, w.fill);
}

/** A fresh engine from stored bytes; `shift` copies them to an odd offset first, as SQLite may hand them back. */
function unpack(bytes: Uint8Array, specs: WindowSpec[] = SPECS, shift = 0): WindowEngine {
  let b = bytes;
  if (shift > 0) {
    const moved = new Uint8Array(bytes.length + shift);
    moved.set(bytes, shift);
    b = moved.subarray(shift);
  }
  const { header, block } = unpackSnapshot(b);
  return WindowEngine.restore(specs, { header: (header as { windows: unknown }).windows, block }, OPTIONS);
}

function workload(seed: number): Ev[] {
  const evs = seed001Workload({ seed, hosts: 4, cpus: 2, durationMs: 12 * 60_000, periodMs: 3000, maxDisorderMs: 10_000, lateFraction: 0.05, maxLateMs: 120_000, signed: seed % 2 === 0 });
  // host-3 falls silent half way (idle closes), then comes back; one reading is far in the future.
  const mid = T0 + 6 * 60_000;
  const out = evs.filter((e) => e.device !== 'host-3' || e.received < mid || e.received > mid + 2 * 60_000);
  out.splice(out.length >> 1, 0, { ...out[0]!, ts: T0 + 5 * 3_600_000 });
  return out;
}

/** Every call's output as one JSON line, in order; `cutAt` indices snapshot and restore first. */
function replay(evs: readonly Ev[], cutAt: ReadonlySet<number>): string[] {
  let eng = new WindowEngine(SPECS, OPTIONS);
  const lines: string[] = [];
  evs.forEach((e, i) => {
    if (cutAt.has(i)) eng = unpack(pack(eng), SPECS, i % 8);
    lines.push(JSON.stringify(eng.advanceIdle(e.received, IDLE)));
    lines.push(JSON.stringify(eng.add(e, e.received)));
  });
  lines.push(JSON.stringify(eng.stats()), pack(eng).toString('base64'), JSON.stringify(eng.flushAll()));
  return lines;
}

describe('snapshot and restore', () => {
  it('a run restored at random points emits exactly what an uninterrupted run emits', () => {
    const cache = new Map<number, { evs: Ev[]; ref: string[] }>();
    const get = (seed: number) => {
      let c = cache.get(seed);
      if (!c) {
        const evs = workload(seed);
        cache.set(seed, (c = { evs, ref: replay(evs, new Set()) }));
      }
      return c;
    };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }), (seed, cuts) => {
        const { evs, ref } = get(seed);
        const got = replay(evs, new Set(cuts.map((c) => Math.floor(c * evs.length))));
        expect(got.length).toBe(ref.length);
        for (let i = 0; i < ref.length; i++) if (got[i] !== ref[i]) expect(got[i], `output line ${i}`).toBe(ref[i]);
      }),
      { numRuns: 40 },
    );
    // The workload exercises what it should: late, idle closes, future skew, percentiles.
    const stats = JSON.parse(get(1).ref.at(-3)!) as { lateTotal: number; futureSkewTotal: number };
    expect(stats.lateTotal).toBeGreaterThan(0);
    expect(stats.futureSkewTotal).toBe(1);
    expect(get(1).ref.some((l) => l.includes('"p99"'))).toBe(true);
  });

  it('a snapshot is canonical: the restored engine packs to the same bytes', () => {
    const evs = workload(3);
    const a = new WindowEngine(SPECS, OPTIONS);
    for (const e of evs.slice(0, 500)) a.add(e, e.received);
    const bytes = pack(a);
    const b = unpack(bytes, SPECS, 3);
    expect(pack(b).equals(bytes)).toBe(true);
    expect(b.stats()).toEqual(a.stats());
    // Far smaller than the JSON tree it replaces: the header holds each name once.
    expect(bytes.length).toBeLessThan(200 * a.stats().openWindows + 4096);
  });

  it('keeps the windows of provisional event times, before and after the sync, and drops their marks with their spec', () => {
    const evs = workload(4).slice(0, 300);
    const a = new WindowEngine(SPECS, OPTIONS);
    // host-1 has no clock of its own: its event times are the gateway's, provisional before the sync.
    const feed = (eng: WindowEngine, from: number, to: number) => {
      const provisional = from < 100;
      for (const e of evs.slice(from, to)) eng.add(e.device === 'host-1' ? { ...e, ts: e.received, unsyncedClock: provisional, provisionalTs: provisional } : e, e.received);
    };
    feed(a, 0, 100);
    const before = unpack(pack(a));
    expect(pack(before).equals(pack(a))).toBe(true);
    a.shiftProcessingTime(777);
    before.shiftProcessingTime(777);
    const after = unpack(pack(a), SPECS, 5);
    feed(a, 100, 200);
    feed(after, 100, 200);
    const marked = a.flushAll();
    // Open across the sync: corrected; opened after it: unmarked; other devices: never marked.
    expect(new Set(marked.filter((x) => x.device === 'host-1').map((x) => x.clock))).toEqual(new Set([777, undefined]));
    expect(marked.filter((x) => x.device !== 'host-1' && x.clock !== undefined)).toEqual([]);
    expect(after.flushAll()).toEqual(marked);
    feed(before, 100, 200);
    expect(before.flushAll()).toEqual(marked);
    // A changed spec drops its windows and their marks; the other spec keeps its own.
    const c = new WindowEngine(SPECS, OPTIONS);
    feed(c, 0, 100);
    const changed = unpack(pack(c), [SPECS[0]!, { ...SPECS[1]!, slideMs: 60_000 }]);
    expect(changed.flushAll().filter((x) => x.clock !== undefined).map((x) => x.window)).toEqual(expect.arrayContaining(['usage-1m']));
  });

  it('drops, and counts, state of a spec that was removed or changed; keeps the rest', () => {
    const evs = workload(2).slice(0, 300);
    const a = new WindowEngine(SPECS, OPTIONS);
    for (const e of evs) a.add(e, e.received);
    const open2m = a.stats().openWindows;
    const changed = [SPECS[0]!, { ...SPECS[1]!, slideMs: 60_000 }];
    const b = unpack(pack(a), changed);
    const only1m = new WindowEngine([SPECS[0]!], OPTIONS);
    for (const e of evs) only1m.add(e, e.received);
    expect(b.stats().openWindows).toBe(only1m.stats().openWindows);
    expect(b.stats().droppedOnRestore).toBe(open2m - only1m.stats().openWindows);
    expect(b.flushAll()).toEqual(only1m.flushAll());
  });

  it('refuses what is not a snapshot, and a damaged one, with a reason', () => {
    expect(() => WindowEngine.restore(SPECS, { v: 2 })).toThrow(/not a version 1/);
    expect(() => WindowEngine.restore(SPECS, null)).toThrow(/not a version 1/);
    const a = new WindowEngine(SPECS, OPTIONS);
    for (const e of workload(1).slice(0, 200)) a.add(e, e.received);
    const bytes = pack(a);
    expect(() => unpack(bytes.subarray(0, bytes.length - 8))).toThrow(/truncated/);
    expect(() => unpack(Buffer.concat([bytes, Buffer.alloc(8)]))).toThrow(/trailing data/);
    expect(() => unpack(Buffer.from('{"v":1}'))).toThrow(/not a packed snapshot/);
    const { header, block } = unpackSnapshot(bytes);
    const windows = (header as { windows: { names: string[]; v: number } }).windows;
    expect(() => WindowEngine.restore(SPECS, { header: { ...windows, v: 4 }, block })).toThrow(/not a version 2 or 3/);
    // Version 2 had no clock list; version 3's names windows the block holds, in order.
    expect(() => WindowEngine.restore(SPECS, { header: { ...windows, v: 2 }, block })).toThrow(/not a version 2 or 3/);
    expect(() => WindowEngine.restore(SPECS, { header: { ...windows, clock: [[0, 'synced']] }, block })).toThrow(/not a version 2 or 3/);
    expect(() => WindowEngine.restore(SPECS, { header: { ...windows, clock: [[1, 5], [0, 5]] }, block })).toThrow(/not a version 2 or 3/);
    expect(() => WindowEngine.restore(SPECS, { header: { ...windows, clock: [[a.stats().openWindows, 5]] }, block })).toThrow(/clock list/);
    expect(() => WindowEngine.restore(SPECS, { header: { ...windows, names: [] }, block })).toThrow(/index out of range/);
    const badRow = block.slice();
    badRow[badRow.length - 1] = NaN;
    expect(() => WindowEngine.restore(SPECS, { header: windows, block: badRow })).toThrow(/malformed accumulator/);
    const swapped = Buffer.from(bytes);
    const at = swapped.length - block.byteLength - 8;
    swapped.subarray(at, at + 8).reverse();
    expect(() => unpack(swapped)).toThrow(/byte order/);
  });
});
