// Where the windows and rules in force come from: each profile's own lists, replaced per
// profile by the site config (analytics.profiles); mistakes are reported with file, line
// and path by the profile loader and `weir check`, not discovered at run time.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { analyticsDeclarations } from '../../../src/analytics/declarations.js';
import { configSchema } from '../../../src/config/schema.js';
import { BUNDLED_PROFILES_DIR, loadProfiles, loadProfilesOrThrow } from '../../../src/profiles/registry.js';
import { cleanupTempDirs, tempDir } from '../support.js';

afterEach(cleanupTempDirs);

describe('analytics declarations', () => {
  const bundled = loadProfilesOrThrow([BUNDLED_PROFILES_DIR]);

  it('the bundled cpu-monitor declares seed 001\'s pipeline', () => {
    const { declarations, problems } = analyticsDeclarations(configSchema.parse({}).analytics, bundled);
    expect(problems).toEqual([]);
    expect(declarations.windows).toEqual([{
      name: 'usage-5m', type: 'tumbling', sizeMs: 300_000, aggregates: ['avg', 'max'], allowedLatenessMs: 10_000,
      groupByTags: ['cpu'], metrics: ['usage'], profile: 'cpu-monitor',
    }]);
    expect(declarations.rules['cpu-monitor']).toEqual([expect.objectContaining({ name: 'usage-high', kind: 'threshold', metric: 'usage', above: 90, by: ['cpu'] })]);
  });

  it('the site config replaces a profile\'s lists, and can turn analytics off', () => {
    const config = configSchema.parse({
      analytics: { profiles: { 'cpu-monitor': { windows: [{ name: 'usage-1m', type: 'hopping', sizeMs: 60_000, slideMs: 10_000, aggregates: ['p95'] }], rules: [] } } },
    }).analytics;
    const { declarations } = analyticsDeclarations(config, bundled);
    expect(declarations.windows.map((w) => [w.profile, w.name, w.type, w.slideMs, w.allowedLatenessMs])).toEqual([['cpu-monitor', 'usage-1m', 'hopping', 10_000, 0]]);
    expect(declarations.rules['cpu-monitor']).toBeUndefined();
    const off = analyticsDeclarations(configSchema.parse({ analytics: { enabled: false } }).analytics, bundled).declarations;
    expect(off).toEqual({ windows: [], rules: {} });
  });

  it('reports a site override for a profile that is not loaded', () => {
    const config = configSchema.parse({ analytics: { profiles: { 'cpu-moniter': { rules: [] } } } }).analytics;
    expect(analyticsDeclarations(config, bundled).problems).toEqual(['analytics.profiles.cpu-moniter: no device profile is named "cpu-moniter"']);
  });

  it('a profile with a bad window or rule is refused with file, line and path', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'p'));
    writeFileSync(join(dir, 'p', 'bad.yaml'), `name: bad
match: [{ protocol: mqtt, topic: 'bad/{device}' }]
device: { segment: device }
metrics: { v: { field: v } }
samples: [{ topic: bad/d1, payload: '{"v": 1}', expect: [{ device: d1, ts: 1700000000000, metrics: { v: 1 } }] }]
windows:
  - { name: w, type: hopping, sizeMs: 60000, slideMs: 120000 }
rules:
  - { kind: threshold, metric: v }
`);
    const { problems } = loadProfiles([join(dir, 'p')]);
    const text = problems.map((p) => `${p.line}:${p.path}: ${p.message}`);
    expect(text).toEqual(expect.arrayContaining([
      expect.stringMatching(/^7:windows\.0\.slideMs: .*0 < slideMs <= sizeMs/),
      expect.stringMatching(/^9:rules\.0\.above: give exactly one of above, below/),
    ]));
  });
});
