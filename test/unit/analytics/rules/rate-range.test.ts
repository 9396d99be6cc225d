import { describe, expect, it } from 'vitest';
import { RuleEngine, type Alert, type RuleSpecInput } from '../../../../src/analytics/rules/index.js';

const T0 = 1_700_000_000_000;
const s = (sec: number) => T0 + sec * 1000;

function feed(rule: RuleSpecInput, pairs: Array<[number, number]>): Alert[] {
  const e = new RuleEngine({ p: [rule] });
  return pairs.flatMap(([sec, v]) => e.evaluate({ device: 'd', profile: 'p', ts: s(sec), received: s(sec), metrics: { x: v } }));
}

describe('rate rule', () => {
  const base = { device: 'd', profile: 'p', rule: 'x-rate', kind: 'rate', metric: 'x', tags: {} } as const;

  it('fires when |rate| passes the limit, once, ignores late readings, and resolves past the hysteresis', () => {
    const alerts = feed({ kind: 'rate', metric: 'x', limit: 2, hysteresis: 0.5 }, [
      [0, 10], // first reading: no rate
      [1, 11], // 1/s
      [2, 14], // 3/s: fires
      [3, 16], // 2/s: inside the band (1.5, 2]: still firing
      [2.5, 100], // late (not after 3 s): ignored entirely
      [4, 17.5], // 1.5/s: resolves
      [6, 11.5], // -3/s: |rate| > 2 fires
      [7, 11.5], // 0/s: resolves
    ]);
    expect(alerts).toEqual([
      { ...base, state: 'firing', value: 14, ts: s(2), details: { rate: 3, limit: 2, dtMs: 1000 } },
      { ...base, state: 'resolved', value: 17.5, ts: s(4), details: { rate: 1.5, limit: 2, dtMs: 1000 } },
      { ...base, state: 'firing', value: 11.5, ts: s(6), details: { rate: -3, limit: 2, dtMs: 2000 } },
      { ...base, state: 'resolved', value: 11.5, ts: s(7), details: { rate: 0, limit: 2, dtMs: 1000 } },
    ]);
  });

  it('signed directions: up ignores falls, down ignores rises; a repeated timestamp is ignored', () => {
    const pairs: Array<[number, number]> = [[0, 0], [1, -5], [2, 0], [2, 50], [3, 0]];
    expect(feed({ kind: 'rate', metric: 'x', limit: 4, direction: 'up' }, pairs).map((a) => [a.state, a.details!.rate])).toEqual([
      ['firing', 5], ['resolved', 0],
    ]);
    expect(feed({ kind: 'rate', metric: 'x', limit: 4, direction: 'down' }, pairs).map((a) => [a.state, a.details!.rate])).toEqual([
      ['firing', -5], ['resolved', 5],
    ]);
  });
});

describe('range rule', () => {
  const base = { device: 'd', profile: 'p', rule: 'x-range', kind: 'range', metric: 'x', tags: {} } as const;

  it('fires outside [min, max] (bounds inclusive), once, and resolves inside [min + h, max - h]', () => {
    const alerts = feed({ kind: 'range', metric: 'x', min: 10, max: 20, hysteresis: 1 }, [
      [0, 15], [1, 20], [2, 10], // inside, bounds included
      [3, 20.5], // above: fires
      [4, 19.5], // inside the band: still firing
      [5, 9], // out on the other side: still the same episode, no second firing
      [6, 11], // resolves
      [7, 9.99], // fires
      [8, 10.5], // band
      [9, 12], // resolves
    ]);
    const d = { min: 10, max: 20 };
    expect(alerts).toEqual([
      { ...base, state: 'firing', value: 20.5, ts: s(3), details: d },
      { ...base, state: 'resolved', value: 11, ts: s(6), details: d },
      { ...base, state: 'firing', value: 9.99, ts: s(7), details: d },
      { ...base, state: 'resolved', value: 12, ts: s(9), details: d },
    ]);
  });

  it('one bound alone', () => {
    expect(feed({ name: 'too-low', kind: 'range', metric: 'x', min: 0 }, [[0, 1e9], [1, -1], [2, 0]]).map((a) => [a.rule, a.state, a.value, a.details]))
      .toEqual([['too-low', 'firing', -1, { min: 0 }], ['too-low', 'resolved', 0, { min: 0 }]]);
  });
});
