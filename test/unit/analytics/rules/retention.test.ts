// The rule engine's cap and forgetting (src/analytics/retention.ts, rules/forget.ts): a new
// (profile, device) beyond maxDevices is not evaluated, a known one always is; an entry
// with no firing key silent past forgetAfterMs is forgotten by tick() and starts afresh;
// one with a firing alert is kept (a stale one only for a while: forget-stale.test.ts);
// and all of it is exact across a restart that replays only the ticks the journal logged.
import { describe, expect, it } from 'vitest';
import { RuleEngine, type Alert, type RuleReading, type RulesByProfile } from '../../../../src/analytics/rules/index.js';
import type { RetentionOptions } from '../../../../src/analytics/retention.js';
import { expectExactAroundForgets, expectSkippedForgetsDiffer } from '../restart-points.js';
import { ruleRuns, ruleWorkload } from './replay-support.js';

const T = 1_700_000_040_000; // a whole minute
const read = (device: string, received: number, x: number, profile = 'p'): RuleReading => ({ device, profile, ts: received, received, metrics: { x } });
const states = (as: readonly Alert[]) => as.map((a) => `${a.device} ${a.rule} ${a.state}`);

describe('rule engine: device cap', () => {
  const rules: RulesByProfile = { p: [{ name: 'hot', kind: 'threshold', metric: 'x', above: 5 }], q: [{ name: 'low', kind: 'threshold', metric: 'x', below: 0 }] };

  it('refuses a new (profile, device) when full, never a known one', () => {
    const e = new RuleEngine(rules, { maxDevices: 2 });
    e.evaluate(read('a', T, 1));
    e.evaluate(read('a', T, -1, 'q')); // same device, another profile: another entry
    expect(e.evaluate(read('b', T + 1, 9))).toEqual([]);
    expect(e.refused).toBe(1);
    expect(e.entries).toBe(2);
    expect(states(e.evaluate(read('a', T + 2, 9)))).toEqual(['a hot firing']);
    expect(e.refused).toBe(1);
  });

  it('holds at most maxDevices entries whatever the number of ids (100,000 ids, cap 1,000)', () => {
    const e = new RuleEngine({ p: [{ kind: 'threshold', metric: 'x', above: 5 }, { kind: 'stale', afterMs: 60_000 }] }, { maxDevices: 1000, forgetAfterMs: 3_600_000 });
    for (let i = 0; i < 100_000; i++) e.evaluate(read(`id-${i}`, T + i, i % 10));
    expect(e.entries).toBe(1000);
    expect(e.stats.keys).toBe(2000);
    expect(e.refused).toBe(99_000);
  });
});

describe('rule engine: forgetting', () => {
  const opts: RetentionOptions = { forgetAfterMs: 1000, forgetGrainMs: 1 };

  it('forgets an entry silent more than forgetAfterMs with nothing firing, not a millisecond before', () => {
    const e = new RuleEngine({ p: [{ kind: 'threshold', metric: 'x', above: 5 }] }, opts);
    e.evaluate(read('a', T, 1));
    e.tick(T + 1000);
    expect([e.entries, e.stats.keys, e.forgotten]).toEqual([1, 1, 0]);
    expect(e.tick(T + 1001)).toEqual([]);
    expect([e.entries, e.stats.keys, e.forgotten]).toEqual([0, 0, 1]);
    expect(e.snapshot().devices).toEqual([]);
  });

  it('with the default grain, at the first whole minute after forgetAfterMs', () => {
    const e = new RuleEngine({ p: [{ kind: 'threshold', metric: 'x', above: 5 }] }, { forgetAfterMs: 1000 });
    e.evaluate(read('a', T, 1));
    e.tick(T + 59_999);
    expect(e.entries).toBe(1);
    e.tick(T + 60_000);
    expect(e.entries).toBe(0);
  });

  it('keeps a dead device with a firing stale alert forgetAfterMs, so the alert resolves if it returns (forget-stale.test.ts: later)', () => {
    const e = new RuleEngine({ p: [{ name: 'silent', kind: 'stale', afterMs: 500 }] }, opts);
    e.evaluate(read('a', T, 1));
    expect(states(e.tick(T + 500))).toEqual(['a silent firing']);
    e.tick(T + 1500);
    expect([e.entries, e.stats.firing]).toEqual([1, 1]);
    expect(states(e.evaluate(read('a', T + 1500, 1)))).toEqual(['a silent resolved']);
    e.tick(T + 1999); // nothing firing now, but not silent long enough
    expect(e.entries).toBe(1);
    expect(states(e.tick(T + 2000))).toEqual(['a silent firing']); // stale fires first: kept
    expect(e.entries).toBe(1);
  });

  it('keeps a device whose stale rule waits longer than forgetAfterMs, so the rule still fires', () => {
    const e = new RuleEngine({ p: [{ name: 'weekly', kind: 'stale', afterMs: 5000 }, { kind: 'threshold', metric: 'x', above: 5 }] }, opts);
    e.evaluate(read('a', T, 1));
    e.tick(T + 1001); // past forgetAfterMs, nothing firing: but the stale rule is still waiting
    expect(e.entries).toBe(1);
    expect(states(e.tick(T + 5000))).toEqual(['a weekly firing']);
  });

  it('keeps an entry with a firing threshold alert; forgets it once resolved and silent', () => {
    const e = new RuleEngine({ p: [{ kind: 'threshold', metric: 'x', above: 5 }] }, opts);
    e.evaluate(read('a', T, 9));
    e.tick(T + 5000);
    expect(e.entries).toBe(1);
    e.evaluate(read('a', T + 6000, 1));
    e.tick(T + 7000);
    expect(e.entries).toBe(1);
    e.tick(T + 7001);
    expect(e.entries).toBe(0);
  });

  it('a forgotten device starts afresh: a held threshold starts its hold again', () => {
    const rules: RulesByProfile = { p: [{ kind: 'threshold', metric: 'x', above: 5, minDurationMs: 2000 }] };
    const forgets = new RuleEngine(rules, opts);
    const remembers = new RuleEngine(rules);
    for (const e of [forgets, remembers]) {
      expect(e.evaluate(read('a', T, 9))).toEqual([]); // above, held for less than 2 s
      e.tick(T + 1001);
    }
    expect(forgets.entries).toBe(0);
    expect(states(remembers.evaluate(read('a', T + 3000, 9)))).toEqual(['a x-threshold firing']);
    expect(forgets.evaluate(read('a', T + 3000, 9))).toEqual([]);
    expect(states(forgets.evaluate(read('a', T + 5000, 9)))).toEqual(['a x-threshold firing']);
  });

  it('a clock correction moves the forgetting time', () => {
    const e = new RuleEngine({ p: [{ kind: 'threshold', metric: 'x', above: 5 }] }, opts);
    e.evaluate(read('a', 5000, 1));
    e.shiftProcessingTime(T - 5000);
    e.tick(T + 1000);
    expect(e.entries).toBe(1);
    e.tick(T + 1001);
    expect(e.entries).toBe(0);
  });

  it('an older snapshot (no last reading per entry) restores; its entries count from the next reading', () => {
    const rules: RulesByProfile = { p: [{ kind: 'threshold', metric: 'x', above: 5 }] };
    const e = new RuleEngine(rules, opts);
    e.evaluate(read('a', T, 1));
    e.evaluate(read('b', T, 1));
    const old = JSON.parse(JSON.stringify(e.snapshot())) as { devices: unknown[][] };
    expect(old.devices[0]).toHaveLength(4);
    for (const d of old.devices) d.length = 3; // as a gateway before forgetting wrote it
    const run = (): string[] => {
      const r = RuleEngine.restore(rules, old, opts);
      const seen: string[] = [];
      r.tick(T + 50_000); // no reading yet: nothing is known to be silent
      seen.push(`${r.entries}`);
      r.evaluate(read('b', T + 60_000, 1)); // a's last becomes this reading's received
      r.tick(T + 61_000);
      seen.push(`${r.entries}`);
      r.tick(T + 61_001);
      seen.push(`${r.entries}`, JSON.stringify(r.snapshot()));
      return seen;
    };
    const once = run();
    expect(once.slice(0, 3)).toEqual(['2', '2', '0']);
    expect(run()).toEqual(once);
  });
});

// ---- exact across restarts, as the journal replays: only ticks that alerted or forgot ----

const RULES: RulesByProfile = {
  p: [
    { name: 'hot', kind: 'threshold', metric: 'x', above: 7, minDurationMs: 300 },
    { name: 'z', kind: 'zscore', metric: 'x', k: 1.5, window: { readings: 8 }, minSamples: 3 },
    { name: 'band', kind: 'range', metric: 'x', min: 1, max: 9, by: ['t'] },
  ],
  q: [{ name: 'silent', kind: 'stale', afterMs: 1500 }],
};
const OPTS: RetentionOptions = { maxDevices: 5, forgetAfterMs: 2000, forgetGrainMs: 500 };


describe('rule engine: forgetting and the cap are exact across restarts', () => {
  const ops = ruleWorkload(9, 2400, 9, 7, T);
  const { ref, restarted } = ruleRuns(RULES, OPTS, ops);

  it('the workload forgets, refuses, fires and resolves', () => {
    expect(ref.forgetAt.length).toBeGreaterThan(5);
    expect(ref.refused).toBeGreaterThan(5);
    for (const s of ['"state":"firing"', '"state":"resolved"', '"rule":"silent"', '"rule":"z"']) expect(ref.lines.some((l) => l.includes(s)), s).toBe(true);
  });

  it('checkpoint and crash just before, at and after each forgetting tick: same alerts and state as the uninterrupted run', () => {
    expectExactAroundForgets(ref, ops.length, restarted);
  });

  it('(the test has teeth) a replay that skipped the ticks that only forgot would differ', () => {
    expectSkippedForgetsDiffer(ref, restarted);
  });
});
