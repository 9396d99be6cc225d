import { describe, expect, it } from 'vitest';
import { RuleEngine, type Alert, type RuleSpecInput } from '../../../../src/analytics/rules/index.js';

const T0 = 1_700_000_000_000;
const s = (sec: number) => T0 + sec * 1000;

function feed(rule: RuleSpecInput, pairs: Array<[number, number]>): Alert[] {
  const e = new RuleEngine({ p: [rule] });
  return pairs.flatMap(([sec, v]) => e.evaluate({ device: 'd', profile: 'p', ts: s(sec), received: s(sec), metrics: { x: v } }));
}

describe('flatline rule', () => {
  const base = { device: 'd', profile: 'p', rule: 'x-flatline', kind: 'flatline', metric: 'x', tags: {} } as const;

  it('fires after N readings within epsilon of the run\'s first value, once, and resolves on the first that is not', () => {
    const alerts = feed({ kind: 'flatline', metric: 'x', readings: 4, epsilon: 0.1 }, [
      [0, 7], [1, 5], // 7 then a new run at 5
      [2, 5.05], [3, 4.95], // 3 readings in the run
      [4, 5.1], // 4th (|5.1 - 5| <= 0.1): fires
      [5, 5], // still stuck: nothing more
      [6, 5.2], // leaves the run: resolves (stamped with this reading)
      [7, 5.2], [8, 5.2], [9, 5.25], // a new run of 4 from 5.2: fires again
    ]);
    expect(alerts).toEqual([
      { ...base, state: 'firing', value: 5.1, ts: s(4), details: { readings: 4, heldMs: 3000, epsilon: 0.1 } },
      { ...base, state: 'resolved', value: 5.2, ts: s(6), details: { readings: 5, heldMs: 4000 } },
      { ...base, state: 'firing', value: 5.25, ts: s(9), details: { readings: 4, heldMs: 3000, epsilon: 0.1 } },
    ]);
  });

  it('by duration of event time: drift by epsilon steps does not keep a run alive; a late reading does not stretch it', () => {
    const rule: RuleSpecInput = { kind: 'flatline', metric: 'x', ms: 60_000, epsilon: 0.5 };
    // 20 → 20.4 → 20.8: each step is within 0.5 of the previous, but 20.8 is not within 0.5 of 20.
    expect(feed(rule, [[0, 20], [30, 20.4], [60, 20.8], [90, 20.8], [119, 20.8]])).toEqual([]);
    expect(feed(rule, [[0, 20], [30, 20.4], [60, 20.8], [90, 20.8], [120, 20.8]]).map((a) => [a.state, a.ts, a.details!.heldMs]))
      .toEqual([['firing', s(120), 60_000]]);
    // Run begins at 100 s even though its first reading (late) is stamped 10 s.
    expect(feed(rule, [[0, 1], [100, 2], [10, 9], [159, 9], [160, 9]]).map((a) => [a.state, a.ts, a.details!.heldMs]))
      .toEqual([['firing', s(160), 60_000]]);
  });

  it('readings and ms together must both hold', () => {
    const rule: RuleSpecInput = { kind: 'flatline', metric: 'x', readings: 3, ms: 10_000 };
    expect(feed(rule, [[0, 1], [1, 1], [2, 1], [9, 1], [10, 1]]).map((a) => [a.state, a.details!.readings])).toEqual([['firing', 5]]);
    expect(feed(rule, [[0, 1], [20, 1], [21, 1]]).map((a) => [a.state, a.details!.readings])).toEqual([['firing', 3]]);
  });
});

describe('stale rule', () => {
  const base = { device: 'd', profile: 'p', rule: 'stale', kind: 'stale', metric: '*', tags: {} } as const;
  const read = (e: RuleEngine, device: string, received: number, metrics: Record<string, number> = { x: 1 }) =>
    e.evaluate({ device, profile: 'p', ts: received - 5000, received, metrics });

  it('fires at the first tick afterMs past the last reading (processing time), once, and the next reading resolves it', () => {
    const e = new RuleEngine({ p: [{ kind: 'stale', afterMs: 30_000 }] });
    expect(e.tick(s(100))).toEqual([]); // no device seen yet
    expect(read(e, 'd', s(1))).toEqual([]);
    expect(e.tick(s(30.999))).toEqual([]);
    const fired = e.tick(s(31));
    expect(fired).toEqual([{ ...base, state: 'firing', value: 30_000, ts: s(31), details: { lastReceived: s(1), afterMs: 30_000 } }]);
    expect(e.tick(s(40))).toEqual([]);
    expect(e.firing()).toEqual(fired);
    expect(read(e, 'd', s(45))).toEqual([{ ...base, state: 'resolved', value: 44_000, ts: s(45), details: { lastReceived: s(1), afterMs: 30_000 } }]);
    expect(e.firing()).toEqual([]);
    expect(e.tick(s(74.999))).toEqual([]);
    expect(e.tick(s(75)).map((a) => [a.state, a.value])).toEqual([['firing', 30_000]]);
  });

  it('is per device; with a metric, only readings carrying it count; a clock step back does not lower the last-seen time', () => {
    const e = new RuleEngine({ p: [{ name: 'x-silent', kind: 'stale', metric: 'x', afterMs: 10_000 }] });
    read(e, 'a', s(0));
    read(e, 'b', s(5));
    read(e, 'a', s(8), { y: 1 }); // no x: does not count
    expect(e.tick(s(10)).map((a) => [a.device, a.metric, a.rule, a.value])).toEqual([['a', 'x', 'x-silent', 10_000]]);
    read(e, 'b', s(12));
    read(e, 'b', s(3)); // processing time went back (clock step): last seen stays 12 s
    expect(e.tick(s(21.999))).toEqual([]);
    expect(e.tick(s(22)).map((a) => a.device)).toEqual(['b']);
    expect(e.stats).toEqual({ firing: 2, keys: 2 });
  });
});
