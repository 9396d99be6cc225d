import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RuleEngine, RuleSnapshotError, type Alert, type RulesByProfile } from '../../../../src/analytics/rules/index.js';

const T0 = 1_700_000_000_000;

/** Every kind, `by` tags, both window types, per-profile and "*" rules. */
const RULES: RulesByProfile = {
  p: [
    { kind: 'threshold', metric: 'x', above: 5, hysteresis: 1, minDurationMs: 2000 },
    { kind: 'zscore', metric: 'x', k: 1.5, window: { readings: 5 }, minSamples: 3, hysteresis: 0.5 },
    { name: 'zt', kind: 'zscore', metric: 'y', k: 1, window: { ms: 2500, maxReadings: 6 }, minSamples: 2 },
    { kind: 'rate', metric: 'y', limit: 2, direction: 'up' },
    { kind: 'range', metric: 'x', min: 1, max: 8, hysteresis: 0.5, by: ['t'] },
    { kind: 'flatline', metric: 'y', readings: 3, epsilon: 0.5 },
    { kind: 'stale', afterMs: 3000 },
  ],
  q: [{ kind: 'threshold', metric: 'x', below: 2 }],
  '*': [{ name: 'any-stale', kind: 'stale', metric: 'x', afterMs: 5000, by: ['t'] }],
};

type Op =
  | { op: 'read'; device: string; profile: string; dt: number; x: number | undefined; y: number | undefined; t: string | undefined }
  | { op: 'tick' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({
    op: fc.constant('read' as const),
    device: fc.constantFrom('a', 'b'),
    profile: fc.constantFrom('p', 'p', 'q', 'r'),
    dt: fc.integer({ min: -9000, max: 3000 }),
    x: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
    // Often the same value, so flatline runs happen.
    y: fc.option(fc.oneof({ weight: 2, arbitrary: fc.constant(4) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 10 }) }), { nil: undefined }),
    t: fc.constantFrom('u', 'v', undefined),
  }) },
  { weight: 1, arbitrary: fc.constant({ op: 'tick' as const }) },
);

/** Applies ops[from, to) to the engine; processing time advances 700 ms per op, event time jitters around it. */
function apply(e: RuleEngine, ops: Op[], from: number, to: number): Alert[] {
  const out: Alert[] = [];
  for (let i = from; i < to; i++) {
    const o = ops[i]!;
    const now = T0 + i * 700;
    if (o.op === 'tick') {
      out.push(...e.tick(now));
      continue;
    }
    const metrics: Record<string, number> = {};
    if (o.x !== undefined) metrics.x = o.x;
    if (o.y !== undefined) metrics.y = o.y;
    out.push(...e.evaluate({ device: o.device, profile: o.profile, ts: now + o.dt, received: now, tags: o.t === undefined ? {} : { t: o.t }, metrics }));
  }
  return out;
}

/** Long workloads from a fixed seed, always run first, so coverage does not depend on luck. */
const LONG_EXAMPLES: Array<[Op[], number[]]> = fc.sample(fc.array(opArb, { minLength: 400, maxLength: 400 }), { seed: 20240601, numRuns: 4 })
  .map((ops, i) => [ops, [0.1 * (i + 1), 0.3, 0.5, 0.61, 0.77, 0.9]]);

describe('snapshot / restore', () => {
  it('restoring at random points (through JSON) and continuing equals an uninterrupted run', () => {
    const kinds = new Set<string>();
    fc.assert(fc.property(
      fc.array(opArb, { minLength: 1, maxLength: 300 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 10 }),
      (ops, cutFractions) => {
        const straight = new RuleEngine(RULES);
        const expected = apply(straight, ops, 0, ops.length);
        for (const a of expected) kinds.add(`${a.kind}:${a.state}`);

        const cuts = [...new Set(cutFractions.map((f) => Math.floor(f * ops.length)))].sort((a, b) => a - b);
        let e = new RuleEngine(RULES);
        const got: Alert[] = [];
        let at = 0;
        for (const cut of [...cuts, ops.length]) {
          got.push(...apply(e, ops, at, cut));
          at = cut;
          if (cut < ops.length) {
            e = RuleEngine.restore(RULES, JSON.parse(JSON.stringify(e.snapshot())));
            expect(e.takeRetired(0)).toEqual([]);
          }
        }
        // Compared as what goes on the wire: JSON.
        expect(JSON.stringify(got)).toBe(JSON.stringify(expected));
        expect(JSON.stringify(e.firing())).toBe(JSON.stringify(straight.firing()));
        expect(JSON.stringify(e.snapshot())).toBe(JSON.stringify(straight.snapshot()));
        expect(e.stats).toEqual(straight.stats);
      },
    ), { numRuns: 300, examples: LONG_EXAMPLES });
    // The workloads (the fixed long examples at least) exercised every kind, both ways.
    for (const k of ['threshold', 'zscore', 'rate', 'range', 'flatline', 'stale']) {
      expect(kinds).toContain(`${k}:firing`);
      expect(kinds).toContain(`${k}:resolved`);
    }
  });

  it('keys of a changed or removed rule are dropped; those firing are retired once, resolved', () => {
    const rules: RulesByProfile = { p: [{ name: 'hot', kind: 'threshold', metric: 'x', above: 5 }, { name: 'low', kind: 'range', metric: 'x', min: 0 }] };
    const e = new RuleEngine(rules);
    e.evaluate({ device: 'a', profile: 'p', ts: T0, received: T0, metrics: { x: 9 } });
    e.evaluate({ device: 'b', profile: 'p', ts: T0, received: T0, metrics: { x: 1 } });
    const snap = JSON.parse(JSON.stringify(e.snapshot()));

    // Same rules: nothing retired, state kept.
    expect(RuleEngine.restore(rules, snap).takeRetired(T0 + 1)).toEqual([]);

    // "hot" now above 7: a changed rule starts afresh; a's firing alert is resolved as retired.
    const changed = RuleEngine.restore({ p: [{ name: 'hot', kind: 'threshold', metric: 'x', above: 7 }, { name: 'low', kind: 'range', metric: 'x', min: 0 }] }, snap);
    expect(changed.takeRetired(T0 + 1)).toEqual([{
      device: 'a', profile: 'p', rule: 'hot', kind: 'threshold', state: 'resolved', metric: 'x', tags: {}, value: 9, ts: T0 + 1, details: { retired: 1 },
    }]);
    expect(changed.takeRetired(T0 + 2)).toEqual([]);
    expect(changed.firing()).toEqual([]);
    expect(changed.stats).toEqual({ firing: 0, keys: 2 }); // the two "low" keys
    expect(changed.evaluate({ device: 'a', profile: 'p', ts: T0 + 2, received: T0 + 2, metrics: { x: 9 } }).map((a) => [a.rule, a.state])).toEqual([['hot', 'firing']]);

    // No rules at all: everything firing is retired.
    expect(RuleEngine.restore({}, snap).takeRetired(T0).map((a) => [a.device, a.rule, a.state])).toEqual([['a', 'hot', 'resolved']]);
  });

  it('rejects a malformed snapshot with RuleSnapshotError', () => {
    const rules: RulesByProfile = { p: [{ kind: 'threshold', metric: 'x', above: 5 }] };
    const e = new RuleEngine(rules);
    e.evaluate({ device: 'a', profile: 'p', ts: T0, received: T0, metrics: { x: 9 } });
    const good = JSON.parse(JSON.stringify(e.snapshot()));
    expect(() => RuleEngine.restore(rules, { ...good, v: 2 })).toThrow(RuleSnapshotError);
    expect(() => RuleEngine.restore(rules, null)).toThrow(RuleSnapshotError);
    const dev = (keys: unknown[]) => ({ ...good, devices: [['p', 'a', keys]] });
    expect(() => RuleEngine.restore(rules, dev([[5, {}, [0, null, null], null]]))).toThrow(/rule index 5/);
    expect(() => RuleEngine.restore(rules, dev([[0, {}, ['x'], null]]))).toThrow(RuleSnapshotError);
    expect(() => RuleEngine.restore(rules, dev([[0, {}, [1, [2], 3], null]]))).toThrow(RuleSnapshotError);
    expect(() => RuleEngine.restore(rules, dev([[0, {}, [1], null]]))).toThrow(RuleSnapshotError);
    const staleRules: RulesByProfile = { p: [{ kind: 'stale', afterMs: 1 }] };
    const staleSnap = new RuleEngine(staleRules);
    staleSnap.evaluate({ device: 'a', profile: 'p', ts: T0, received: T0, metrics: { x: 1 } });
    const ss = JSON.parse(JSON.stringify(staleSnap.snapshot()));
    expect(RuleEngine.restore(staleRules, ss).stats.keys).toBe(1);
    ss.devices[0][2][0][2] = [1, 2];
    expect(() => RuleEngine.restore(staleRules, ss)).toThrow(/stale rule "stale" with a state of 2 fields/);
  });
});
