// Bad device clocks, future skew and idle devices: each device's windows move on its own time only.
import { describe, expect, it } from 'vitest';
import { WindowEngine, type Aggregate, type WindowSpec } from '../../../../src/analytics/windows/index.js';
import { exact, reference, run, seed001Workload, T0 } from './support.js';

const SPEC: WindowSpec = {
  name: 'usage-5m', type: 'tumbling', sizeMs: 300_000, aggregates: ['avg', 'max', 'p95'], allowedLatenessMs: 10_000, groupByTags: ['cpu'],
};
const HOUR = 3_600_000;
const base = { seed: 7, hosts: 5, cpus: 2, durationMs: 40 * 60_000, periodMs: 2000, maxDisorderMs: 10_000, lateFraction: 0.03, maxLateMs: 60_000 };
const without = (device: string) => (xs: Array<{ agg: Aggregate }>) => xs.filter((x) => x.agg.device !== device).map((x) => x.agg);

describe('a device with a clock 1 hour ahead', () => {
  const evs = seed001Workload({ ...base, skew: { host: 'host-2', ms: HOUR } });
  const others = evs.filter((e) => e.device !== 'host-2');

  it('does not change a single window of the other devices', () => {
    const withIt = run(new WindowEngine([SPEC]), evs);
    const alone = run(new WindowEngine([SPEC]), others);
    expect(without('host-2')(withIt.emitted)).toEqual(alone.emitted.map((x) => x.agg));
    expect(withIt.late.filter((l) => !l.key.startsWith('host-2|')).map((l) => l.key)).toEqual(alone.late.map((l) => l.key));
    // Its own windows follow its own (wrong) clock, and are complete.
    const own = withIt.emitted.filter((x) => x.agg.device === 'host-2');
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((x) => x.agg.window_start >= T0 + HOUR)).toBe(true);
    const ref = reference(evs, 300_000, 300_000, 10_000);
    expect(withIt.emitted.length).toBe(ref.windows.size);
  });

  it('with a future-skew limit, is flagged on every reading and aggregated nowhere', () => {
    const eng = new WindowEngine([SPEC], { maxFutureSkewMs: 5 * 60_000 });
    const withIt = run(eng, evs);
    const alone = run(new WindowEngine([SPEC], { maxFutureSkewMs: 5 * 60_000 }), others);
    expect(withIt.skewed.map((i) => evs[i]!.device)).toEqual(evs.filter((e) => e.device === 'host-2').map((e) => e.device));
    expect(withIt.emitted.map((x) => x.agg)).toEqual(alone.emitted.map((x) => x.agg));
    expect(eng.stats().futureSkewTotal).toBe(withIt.skewed.length);
  });
});

describe('future skew', () => {
  const at = (eng: WindowEngine, ts: number, now: number, usage = 1) =>
    eng.add({ device: 'd', profile: 'p', ts, tags: { cpu: 'c' }, metrics: { usage } }, now);

  it('a reading stamped beyond now + skew is flagged and does not move the watermark', () => {
    const eng = new WindowEngine([SPEC], { maxFutureSkewMs: 60_000 });
    at(eng, T0 + 1000, T0 + 1000);
    const far = at(eng, T0 + 2 * HOUR, T0 + 2000, 99);
    expect(far).toEqual({ emitted: [], late: [], futureSkew: true, invalidTime: false });
    // Had it moved the watermark, these would be late and window T0 would have closed.
    expect(at(eng, T0 + 3000, T0 + 3000, 3)).toEqual({ emitted: [], late: [], futureSkew: false, invalidTime: false });
    // The limit is inclusive: exactly now + skew is accepted.
    expect(at(eng, T0 + 4000 + 60_000, T0 + 4000).futureSkew).toBe(false);
    expect(eng.flushAll().map((a) => [a.window_start, a.count, a.max])).toEqual([[T0, 3, 3]]);
    expect(eng.stats()).toMatchObject({ futureSkewTotal: 1, lateTotal: 0 });
  });

  it('refuses event times that are not finite or beyond the Date range, without throwing', () => {
    const eng = new WindowEngine([SPEC]);
    for (const ts of [Number.NaN, Infinity, 1e300, -8.64e15 - 1]) {
      expect(at(eng, ts, T0)).toEqual({ emitted: [], late: [], futureSkew: false, invalidTime: true });
    }
    expect(at(eng, 8.64e15, T0).invalidTime).toBe(false);
    expect(eng.stats()).toMatchObject({ invalidTotal: 4, openWindows: 1 });
    expect(() => at(eng, T0, Number.NaN)).toThrow(RangeError);
  });
});

describe('idle timeout', () => {
  const IDLE = 60_000;
  // host-0 stops sending after 12 minutes; the others carry on.
  const full = seed001Workload({ ...base, lateFraction: 0, maxDisorderMs: 3000 });
  const stopAt = T0 + 12 * 60_000;
  const evs = full.filter((e) => e.device !== 'host-0' || e.received < stopAt);
  const lastSeen = Math.max(...evs.filter((e) => e.device === 'host-0').map((e) => e.received));

  it('closes a silent device’s open windows once it has been silent longer than the timeout', () => {
    const eng = new WindowEngine([SPEC]);
    const idleAt: number[] = [];
    const out = run(eng, evs, (i, e) => {
      const closed = eng.advanceIdle(e.received, IDLE);
      if (closed.length > 0) idleAt.push(i);
      return closed;
    });
    // Exactly one idle close, at the first arrival more than IDLE after host-0's last reading.
    expect(idleAt).toEqual([evs.findIndex((e) => e.received - lastSeen > IDLE)]);
    const idled = out.emitted.filter((x) => x.at === idleAt[0]).map((x) => x.agg);
    expect(idled.map((a) => [a.device, a.tags.cpu, a.window_start])).toEqual([
      ['host-0', 'cpu0', T0 + 600_000], ['host-0', 'cpu1', T0 + 600_000],
    ]);
    const ref = reference(evs, 300_000, 300_000, 10_000);
    for (const a of idled) {
      const w = ref.windows.get(`host-0|${a.tags.cpu}|${a.window_start}`)!;
      const x = exact(w.values, w.ts);
      expect([a.count, a.avg, a.max]).toEqual([x.count, x.avg, x.max]);
    }
    // The others are untouched: same windows as without any idle handling.
    const plain = run(new WindowEngine([SPEC]), evs);
    expect(without('host-0')(out.emitted)).toEqual(without('host-0')(plain.emitted));
  });

  it('treats readings for idle-closed windows as late, and opens new windows after them', () => {
    const eng = new WindowEngine([SPEC]);
    const add = (ts: number, now: number) => eng.add({ device: 'd', profile: 'p', ts, tags: {}, metrics: { usage: 1 } }, now);
    add(T0 + 1000, T0 + 1000);
    expect(eng.advanceIdle(T0 + 1000 + IDLE, IDLE)).toEqual([]);
    expect(eng.advanceIdle(T0 + 1001 + IDLE, IDLE).map((a) => a.window_start)).toEqual([T0]);
    expect(eng.advanceIdle(T0 + 9 * IDLE, IDLE)).toEqual([]);
    const back = add(T0 + 299_999, T0 + 10 * IDLE);
    expect(back.late.map((l) => [l.correction.window_start, l.closedThrough])).toEqual([[T0, T0 + 300_000]]);
    expect(add(T0 + 300_000, T0 + 10 * IDLE).late).toEqual([]);
    expect(eng.stats()).toMatchObject({ openWindows: 1, lateTotal: 1 });
  });
});

describe('provisional event time (a device without a clock, before the gateway clock syncs)', () => {
  const MIN = 60_000;
  const spec: WindowSpec = { name: '1m', type: 'tumbling', sizeMs: MIN, aggregates: ['max'], allowedLatenessMs: 0 };
  const add = (eng: WindowEngine, device: string, ts: number, provisionalTs: boolean) =>
    eng.add({ device, profile: 'p', ts, tags: {}, metrics: { v: 1 }, unsyncedClock: true, provisionalTs }, ts);
  const marks = (aggs: readonly Aggregate[]) => aggs.map((a) => [a.device, a.window_start, a.count, a.clock]);

  it('marks its windows, per window: unsynced until the sync, then the sync\'s offset; device-timed windows stay unmarked', () => {
    const eng = new WindowEngine([spec]);
    add(eng, 'pi', 5000, true);
    add(eng, 'plc', T0, false);
    // Closed before the sync: 'unsynced'. A late reading's correction likewise.
    expect(marks(add(eng, 'pi', MIN + 5000, true).emitted)).toEqual([['pi', 0, 1, 'unsynced']]);
    expect(add(eng, 'pi', 6000, true).late.map((l) => [l.correction.window_start, l.correction.late, l.correction.clock])).toEqual([[0, 1, 'unsynced']]);
    eng.shiftProcessingTime(1234);
    // A later shift (a jump of the synced clock) does not change the offset a window took.
    eng.shiftProcessingTime(99);
    // Closed after the sync: the offset, bounds as they were (the record layer adds it).
    expect(marks(add(eng, 'pi', T0, false).emitted)).toEqual([['pi', MIN, 1, 1234]]);
    expect(marks(eng.flushAll())).toEqual([['pi', T0, 1, undefined], ['plc', T0, 1, undefined]]);
  });

  it('marks a window that mixes provisional and device-timed readings as a whole', () => {
    const eng = new WindowEngine([spec]);
    add(eng, 'pi', 1000, false);
    add(eng, 'pi', 2000, true);
    add(eng, 'pi', 3000, false);
    expect(marks(eng.flushAll())).toEqual([['pi', 0, 3, 'unsynced']]);
  });
});
