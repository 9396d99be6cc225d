import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isWeirError } from '../../../../src/core/errors.js';
import {
  RuleEngine, ruleListSchema, ruleSpecSchema, type RuleSpecInput,
} from '../../../../src/analytics/rules/index.js';

const T0 = 1_700_000_000_000;

/** Every property of every object in a JSON schema, with its path. */
function properties(node: unknown, path = '$'): Array<{ path: string; schema: Record<string, unknown> }> {
  if (Array.isArray(node)) return node.flatMap((n, i) => properties(n, `${path}[${i}]`));
  if (node === null || typeof node !== 'object') return [];
  const o = node as Record<string, unknown>;
  const own = o.properties && typeof o.properties === 'object'
    ? Object.entries(o.properties as Record<string, Record<string, unknown>>).map(([k, schema]) => ({ path: `${path}.${k}`, schema }))
    : [];
  return [...own, ...Object.entries(o).flatMap(([k, v]) => properties(v, `${path}/${k}`))];
}

describe('rule specs (zod)', () => {
  it('describe every key, of every kind, for profiles and config to embed', () => {
    const props = properties(z.toJSONSchema(ruleSpecSchema, { io: 'input' }));
    expect(props.length).toBeGreaterThan(40);
    expect(props.filter((p) => typeof p.schema.description !== 'string').map((p) => p.path)).toEqual([]);
  });

  it('fill defaults', () => {
    expect(ruleSpecSchema.parse({ kind: 'zscore', metric: 'x' })).toEqual({
      kind: 'zscore', metric: 'x', by: [], k: 3, window: { readings: 60 }, minSamples: 10, minStd: 0, hysteresis: 0,
    });
    expect(ruleSpecSchema.parse({ kind: 'threshold', metric: 'usage', above: 90 })).toEqual({
      kind: 'threshold', metric: 'usage', above: 90, by: [], hysteresis: 0, minDurationMs: 0,
    });
    expect(ruleSpecSchema.parse({ kind: 'zscore', metric: 'x', window: { ms: 60_000 } })).toMatchObject({ window: { ms: 60_000, maxReadings: 1000 } });
  });

  it.each<[string, unknown, string]>([
    ['both above and below', { kind: 'threshold', metric: 'x', above: 1, below: 0 }, 'exactly one of above, below'],
    ['neither above nor below', { kind: 'threshold', metric: 'x' }, 'exactly one of above, below'],
    ['negative hysteresis', { kind: 'threshold', metric: 'x', above: 1, hysteresis: -1 }, ''],
    ['z hysteresis >= k', { kind: 'zscore', metric: 'x', k: 2, hysteresis: 2 }, 'smaller than k'],
    ['minSamples over the window', { kind: 'zscore', metric: 'x', window: { readings: 5 } }, 'must not exceed the window'],
    ['a window of one reading', { kind: 'zscore', metric: 'x', window: { readings: 1 }, minSamples: 2 }, ''],
    ['rate hysteresis >= limit', { kind: 'rate', metric: 'x', limit: 1, hysteresis: 1 }, 'smaller than limit'],
    ['range without bounds', { kind: 'range', metric: 'x' }, 'min, max or both'],
    ['range too narrow for its hysteresis', { kind: 'range', metric: 'x', min: 0, max: 1, hysteresis: 0.6 }, 'min + 2*hysteresis'],
    ['flatline without readings or ms', { kind: 'flatline', metric: 'x' }, 'readings, ms or both'],
    ['stale without afterMs', { kind: 'stale' }, ''],
    ['an unknown key', { kind: 'range', metric: 'x', min: 0, maximum: 3 }, ''],
    ['an unknown kind', { kind: 'spike', metric: 'x' }, ''],
  ])('reject %s', (_what, spec, message) => {
    const r = ruleSpecSchema.safeParse(spec);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join('; ')).toContain(message);
  });

  it('rule names, explicit or default, must be unique in a list', () => {
    const r = ruleListSchema.safeParse([{ kind: 'threshold', metric: 'x', above: 1 }, { kind: 'threshold', metric: 'x', below: 0 }]);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]).toMatchObject({ path: [1, 'name'], message: expect.stringContaining('duplicate rule name "x-threshold"') });
    expect(ruleListSchema.safeParse([{ kind: 'threshold', metric: 'x', above: 1 }, { name: 'x-low', kind: 'threshold', metric: 'x', below: 0 }]).success).toBe(true);
  });
});

describe('RuleEngine', () => {
  it('rejects bad rules with WEIR_CONFIG_INVALID naming the profile and path', () => {
    const bad = (rules: Record<string, RuleSpecInput[]>) => {
      try {
        new RuleEngine(rules);
      } catch (err) {
        expect(isWeirError(err, 'WEIR_CONFIG_INVALID')).toBe(true);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ 'cpu-monitor': [{ kind: 'threshold', metric: 'usage', above: 90, hysteresis: -1 }] })).toMatch(/profile "cpu-monitor" at 0\.hysteresis/);
    expect(bad({ p: [{ kind: 'stale', afterMs: 1 }], '*': [{ kind: 'stale', afterMs: 2 }] })).toMatch(/rule "stale" is also defined for every profile/);
  });

  it('applies "*" rules to every profile, after the profile\'s own', () => {
    const e = new RuleEngine({ p: [{ name: 'own', kind: 'threshold', metric: 'x', above: 1 }], '*': [{ name: 'all', kind: 'threshold', metric: 'x', above: 1 }] });
    const r = (profile: string) => e.evaluate({ device: 'd', profile, ts: T0, received: T0, metrics: { x: 5 } }).map((a) => `${a.profile}/${a.rule}`);
    expect(r('p')).toEqual(['p/own', 'p/all']);
    expect(r('other')).toEqual(['other/all']);
  });

  it('returns frozen alerts; firing() lists the alerts still firing', () => {
    const e = new RuleEngine({ p: [{ kind: 'threshold', metric: 'x', above: 1 }, { kind: 'range', metric: 'x', max: 3 }] });
    const [a, b] = e.evaluate({ device: 'd', profile: 'p', ts: T0, received: T0, metrics: { x: 5 } });
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a!.details)).toBe(true);
    expect(() => { (a as { value: number }).value = 1; }).toThrow(TypeError);
    expect(e.firing()).toEqual([a, b]);
    e.evaluate({ device: 'd', profile: 'p', ts: T0 + 1, received: T0 + 1, metrics: { x: 2 } });
    expect(e.firing()).toEqual([a]);
  });

  it('skips what it cannot evaluate: a missing or non-finite metric, a non-finite time; creates no state for it', () => {
    const rules: RuleSpecInput[] = [
      { kind: 'threshold', metric: 'x', above: 1 }, { kind: 'zscore', metric: 'x', minSamples: 2, window: { readings: 3 } },
      { kind: 'rate', metric: 'x', limit: 1 }, { kind: 'range', metric: 'x', min: 0 }, { kind: 'flatline', metric: 'x', readings: 2 },
      { kind: 'stale', metric: 'x', afterMs: 1 },
    ];
    const e = new RuleEngine({ p: rules });
    const r = (metrics: Record<string, number>, ts = T0) => e.evaluate({ device: 'd', profile: 'p', ts, received: T0, metrics });
    expect(r({ y: 5 })).toEqual([]);
    expect(r({ x: Number.NaN })).toEqual([]);
    expect(r({ x: Number.POSITIVE_INFINITY })).toEqual([]);
    expect(r({ x: 5 }, Number.NaN)).toEqual([]);
    expect(e.stats).toEqual({ firing: 0, keys: 0 });
    expect(e.tick(Number.NaN)).toEqual([]);
    expect(r({ x: 5 }).map((a) => a.kind)).toEqual(['threshold']);
    expect(e.stats).toEqual({ firing: 1, keys: 6 });
  });

  it('keys are unambiguous whatever the device id or tag values hold', () => {
    const e = new RuleEngine({ p: [{ kind: 'threshold', metric: 'x', above: 1, by: ['t'] }] });
    const r = (device: string, t: string) => e.evaluate({ device, profile: 'p', ts: T0, received: T0, tags: { t }, metrics: { x: 5 } });
    expect(r('a\0"b', 'c').length).toBe(1);
    expect(r('a', 'b"\0c').length).toBe(1);
    expect(r('a\0', '"b\0c').length).toBe(1);
    expect(e.stats.keys).toBe(3);
  });
});
