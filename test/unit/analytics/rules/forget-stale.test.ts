// A firing `stale` alert does not hold its entry for ever (rules/forget.ts): a device
// silent past forgetAfterMs — counted from when its stale rules came due, so each alert
// stays firing at least that long — whose only firing alerts are stale ones gets them
// resolved (details.forgotten = 1) and is forgotten. Otherwise a client inventing device
// ids on a profile with a stale rule filled analytics.maxDevices for good, and real
// devices got no rules. Exact across restarts, like all forgetting (restart-points.ts).
import { describe, expect, it } from 'vitest';
import { RuleEngine, type Alert, type RuleReading, type RulesByProfile } from '../../../../src/analytics/rules/index.js';
import type { RetentionOptions } from '../../../../src/analytics/retention.js';
import { expectExactAroundForgets } from '../restart-points.js';
import { ruleRuns, ruleWorkload } from './replay-support.js';

const T = 1_700_000_040_000; // a whole minute
const read = (device: string, received: number, x: number, tags: Record<string, string> = {}): RuleReading =>
  ({ device, profile: 'p', ts: received, received, tags, metrics: { x } });
const states = (as: readonly Alert[]) => as.map((a) => `${a.device} ${a.rule} ${a.state}`);
const opts: RetentionOptions = { forgetAfterMs: 1000, forgetGrainMs: 1 };

describe('rule engine: a device forgotten with its stale alert', () => {
  const rules: RulesByProfile = { p: [{ name: 'silent', kind: 'stale', afterMs: 500 }, { name: 'hot', kind: 'threshold', metric: 'x', above: 5 }] };

  it('id churn no longer fills the device cap: a new real device still gets its rules', () => {
    const e = new RuleEngine(rules, { ...opts, maxDevices: 100 });
    let now = T;
    for (let i = 0; i < 1000; i++, now += 50) { // a client inventing an id every 50 ms, each silent after one reading
      e.evaluate(read(`fake-${i}`, now, 1));
      e.tick(now);
    }
    expect(e.refused).toBe(0);
    expect(e.entries).toBeLessThan(100);
    expect(states(e.evaluate(read('real', now, 9)))).toEqual(['real hot firing']);
    expect(e.stats.firing).toBe(e.firing().length);
  });

  it('resolves the stale alert, stamped with the tick, then forgets the entry; its alert stayed firing forgetAfterMs', () => {
    const e = new RuleEngine(rules, opts);
    e.evaluate(read('a', T, 1));
    expect(states(e.tick(T + 500))).toEqual(['a silent firing']);
    expect(e.tick(T + 1500)).toEqual([]); // silent 1.5 s, but its alert has fired only 1 s ago
    expect(e.entries).toBe(1);
    expect(e.tick(T + 1501)).toEqual([{
      device: 'a', profile: 'p', rule: 'silent', kind: 'stale', state: 'resolved', metric: '*', tags: {},
      value: 1501, ts: T + 1501, details: { lastReceived: T, afterMs: 500, forgotten: 1 },
    }]);
    expect([e.entries, e.stats.firing, e.stats.keys, e.forgotten, e.firing().length]).toEqual([0, 0, 0, 1, 0]);
    // Back: afresh, and silent again it fires again.
    expect(e.evaluate(read('a', T + 5000, 1))).toEqual([]);
    expect(states(e.tick(T + 5500))).toEqual(['a silent firing']);
  });

  it('keeps an entry with a firing alert of another kind, and resolves nothing', () => {
    const e = new RuleEngine(rules, opts);
    e.evaluate(read('a', T, 9));
    expect(states(e.tick(T + 500))).toEqual(['a silent firing']);
    expect(e.tick(T + 100_000)).toEqual([]);
    expect([e.entries, e.stats.firing]).toEqual([1, 2]);
  });

  it('a stale rule waiting longer than forgetAfterMs still fires, and its alert is held forgetAfterMs', () => {
    const e = new RuleEngine({ p: [{ name: 'silent', kind: 'stale', afterMs: 500 }, { name: 'weekly', kind: 'stale', afterMs: 5000 }] }, opts);
    e.evaluate(read('a', T, 1));
    expect(states(e.tick(T + 500))).toEqual(['a silent firing']);
    expect(e.tick(T + 4999)).toEqual([]); // silent past forgetAfterMs, but `weekly` has not fired
    expect(states(e.tick(T + 5000))).toEqual(['a weekly firing']);
    expect(e.tick(T + 6000)).toEqual([]);
    expect(e.tick(T + 6001).map((a) => [a.rule, a.state, a.details?.forgotten])).toEqual([['silent', 'resolved', 1], ['weekly', 'resolved', 1]]);
    expect(e.entries).toBe(0);
  });

  it('with `by` tags, every stale key of the device must have fired', () => {
    const e = new RuleEngine({ p: [{ name: 'silent', kind: 'stale', afterMs: 500, by: ['t'] }] }, opts);
    e.evaluate(read('a', T, 1, { t: 'u' }));
    e.evaluate(read('a', T + 800, 1, { t: 'v' }));
    expect(states(e.tick(T + 1500))).toEqual(['a silent firing', 'a silent firing']);
    expect(e.tick(T + 2300)).toEqual([]);
    expect(e.tick(T + 2301).map((a) => [a.tags, a.value])).toEqual([[{ t: 'u' }, 2301], [{ t: 'v' }, 1501]]);
  });

  it('a restored engine forgets it at the same tick, and a clock correction moves that tick', () => {
    const e = new RuleEngine(rules, opts);
    e.evaluate(read('a', T, 1));
    e.tick(T + 500);
    const r = RuleEngine.restore(rules, JSON.parse(JSON.stringify(e.snapshot())), opts);
    r.shiftProcessingTime(100);
    expect(r.tick(T + 1600)).toEqual([]);
    expect(r.tick(T + 1601).map((a) => [a.state, a.value, a.details])).toEqual([['resolved', 1501, { lastReceived: T + 100, afterMs: 500, forgotten: 1 }]]);
  });
});

// ---- exact across restarts: every forgotten entry resolves stale alerts ----

const RULES: RulesByProfile = {
  p: [{ name: 'silent', kind: 'stale', afterMs: 700 }, { name: 'hot', kind: 'threshold', metric: 'x', above: 8 }],
  q: [{ name: 'weekly', kind: 'stale', afterMs: 2600, by: ['t'] }, { name: 'band', kind: 'range', metric: 'x', min: 1, max: 9 }],
};
const OPTS: RetentionOptions = { maxDevices: 5, forgetAfterMs: 2000, forgetGrainMs: 500 };


describe('rule engine: forgetting with stale alerts is exact across restarts', () => {
  const ops = ruleWorkload(11, 3000, 12, 8, T);
  const { ref, restarted } = ruleRuns(RULES, OPTS, ops);

  it('the workload forgets devices with firing stale alerts of both profiles, and refuses new ones', () => {
    const forgot = ref.forgetAt.map((i) => ref.lines[i]!).join('\n');
    expect(ref.forgetAt.length).toBeGreaterThan(10);
    expect(forgot).toContain('"rule":"silent","kind":"stale","state":"resolved"');
    expect(forgot).toContain('"rule":"weekly","kind":"stale","state":"resolved"');
    expect(ref.refused).toBeGreaterThan(5);
  });

  it('checkpoint and crash just before, at and after each forgetting tick: same alerts and state as the uninterrupted run', () => {
    expectExactAroundForgets(ref, ops.length, restarted);
  });
});
