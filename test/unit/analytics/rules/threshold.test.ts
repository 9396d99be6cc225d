import { describe, expect, it } from 'vitest';
import { RuleEngine, type Alert, type RuleSpecInput } from '../../../../src/analytics/rules/index.js';

const T0 = 1_700_000_000_000;
const s = (sec: number) => T0 + sec * 1000;

function engineFor(rule: RuleSpecInput): RuleEngine {
  return new RuleEngine({ p: [rule] });
}

/** Feeds [event second, value] pairs to device d, in the order given; returns all alerts. */
function feed(e: RuleEngine, pairs: Array<[number, number]>): Alert[] {
  return pairs.flatMap(([sec, v]) => e.evaluate({ device: 'd', profile: 'p', ts: s(sec), received: s(sec), metrics: { t: v } }));
}

const base = { device: 'd', profile: 'p', rule: 't-threshold', kind: 'threshold', metric: 't', tags: {} } as const;

describe('threshold rule', () => {
  it('fires after the minimum duration (edge inclusive), once, and resolves only past the hysteresis', () => {
    const e = engineFor({ kind: 'threshold', metric: 't', above: 90, hysteresis: 5, minDurationMs: 10_000 });
    const alerts = feed(e, [
      [0, 95], [5, 96], // a run of 5 s …
      [8, 89], // … broken by a reading not above 90
      [10, 91], [19, 99], // 9 s: not yet
      [20, 92], // 10 s exactly: fires
      [21, 99], // already firing: nothing
      [22, 88], [23, 85.5], // inside the hysteresis band (85, 90]: still firing
      [24, 85], // 90 - 5: resolves
      [25, 91], [34, 91], [35, 90.5], // a new run: fires again after 10 s
    ]);
    expect(alerts).toEqual([
      { ...base, state: 'firing', value: 92, ts: s(20), details: { threshold: 90, heldMs: 10_000 } },
      { ...base, state: 'resolved', value: 85, ts: s(24), details: { threshold: 90, hysteresis: 5 } },
      { ...base, state: 'firing', value: 90.5, ts: s(35), details: { threshold: 90, heldMs: 10_000 } },
    ]);
    expect(e.firing()).toEqual([alerts[2]]);
    expect(e.stats).toEqual({ firing: 1, keys: 1 });
  });

  it('is strict: exactly the limit neither fires (above) nor keeps a run going', () => {
    const e = engineFor({ kind: 'threshold', metric: 't', above: 90 });
    expect(feed(e, [[0, 90], [1, 90.000001]])).toEqual([
      { ...base, state: 'firing', value: 90.000001, ts: s(1), details: { threshold: 90, heldMs: 0 } },
    ]);
    // Without hysteresis, back to the limit resolves.
    expect(feed(e, [[2, 90]])).toEqual([{ ...base, state: 'resolved', value: 90, ts: s(2), details: { threshold: 90, hysteresis: 0 } }]);
  });

  it('below: fires under the limit and resolves at limit + hysteresis', () => {
    const e = engineFor({ name: 'cold', kind: 'threshold', metric: 't', below: 10, hysteresis: 2 });
    const b = { ...base, rule: 'cold' };
    expect(feed(e, [[0, 11], [1, 10], [2, 9.5], [3, 8], [4, 11.9], [5, 12]])).toEqual([
      { ...b, state: 'firing', value: 9.5, ts: s(2), details: { threshold: 10, heldMs: 0 } },
      { ...b, state: 'resolved', value: 12, ts: s(5), details: { threshold: 10, hysteresis: 2 } },
    ]);
  });

  it('measures the minimum duration on the largest event time seen: a late reading cannot stretch a run', () => {
    const e = engineFor({ kind: 'threshold', metric: 't', above: 90, minDurationMs: 10_000 });
    const alerts = feed(e, [
      [0, 50], [30, 50], // event time has reached 30 s
      [5, 95], // late and breaching: the run starts at 30 s (not 5 s)
      [31, 95], [39, 95], // 9 s
      [40, 95], // 10 s
    ]);
    expect(alerts).toEqual([{ ...base, state: 'firing', value: 95, ts: s(40), details: { threshold: 90, heldMs: 10_000 } }]);
  });

  it('keeps keys apart per device and per `by` tag; a reading without the metric is not evaluated', () => {
    const e = new RuleEngine({ p: [{ name: 'hot', kind: 'threshold', metric: 't', above: 90, by: ['cpu'] }] });
    const r = (device: string, cpu: string | undefined, v: number | undefined, sec: number) => e.evaluate({
      device, profile: 'p', ts: s(sec), received: s(sec), tags: cpu === undefined ? {} : { cpu }, metrics: v === undefined ? { other: 1 } : { t: v },
    });
    expect(r('a', 'cpu1', 95, 0).map((a) => [a.device, a.tags, a.state])).toEqual([['a', { cpu: 'cpu1' }, 'firing']]);
    expect(r('a', 'cpu2', 95, 1).map((a) => [a.device, a.tags, a.state])).toEqual([['a', { cpu: 'cpu2' }, 'firing']]);
    expect(r('b', 'cpu1', 95, 1).map((a) => [a.device, a.tags, a.state])).toEqual([['b', { cpu: 'cpu1' }, 'firing']]);
    expect(r('a', undefined, 95, 2).map((a) => [a.device, a.tags, a.state])).toEqual([['a', {}, 'firing']]);
    expect(r('a', 'cpu1', undefined, 3)).toEqual([]); // metric missing: nothing evaluated, still firing
    expect(r('a', 'cpu1', 10, 4).map((a) => [a.device, a.tags, a.state])).toEqual([['a', { cpu: 'cpu1' }, 'resolved']]);
    expect(e.stats).toEqual({ firing: 3, keys: 4 });
    // Readings of a profile without rules create no state.
    expect(e.evaluate({ device: 'a', profile: 'other', ts: s(5), received: s(5), metrics: { t: 99 } })).toEqual([]);
    expect(e.stats.keys).toBe(4);
  });
});
