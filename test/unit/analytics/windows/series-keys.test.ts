// Interned series identities: shared across devices and windows, equal to the plain
// seriesKey/groupKey construction, and bounded however many distinct tag values arrive.
import { describe, expect, it } from 'vitest';
import { SeriesKeys } from '../../../../src/analytics/windows/series-keys.js';
import { groupKey, seriesKey } from '../../../../src/analytics/windows/state.js';
import { WindowEngine } from '../../../../src/analytics/windows/index.js';

describe('SeriesKeys', () => {
  it('gives the same key string and one frozen tags object per group, equal to the plain construction', () => {
    for (const by of [[], ['cpu'], ['cpu', 'core']]) {
      const keys = new SeriesKeys(by);
      const cases: Array<Record<string, string>> = [{ cpu: 'cpu0', core: '1', x: 'y' }, { cpu: 'cpu1' }, { x: 'y' }, {}];
      for (const tags of cases) {
        const g = keys.group(tags);
        expect(keys.group({ ...tags })).toBe(g);
        expect(g.id).toBe(groupKey(tags, by));
        expect(Object.isFrozen(g.tags)).toBe(true);
        expect(g.tags).toEqual(Object.fromEntries(by.filter((t) => t in tags).map((t) => [t, tags[t]])));
        expect(keys.key(g, 'usage')).toBe(seriesKey('usage', g.id));
        expect(keys.key(g, 'usage')).toBe(keys.key(keys.group({ ...tags }), 'usage'));
      }
    }
  });

  it('keeps a single group-by tag\'s value "-" apart from a missing tag', () => {
    const keys = new SeriesKeys(['cpu']);
    expect(keys.key(keys.group({ cpu: '-' }), 'u')).not.toBe(keys.key(keys.group({}), 'u'));
  });

  it('stays correct past its bound: 10,000 distinct tag values each keep their own series', () => {
    const eng = new WindowEngine([{ name: 'w', type: 'tumbling', sizeMs: 60_000, aggregates: [], allowedLatenessMs: 0, groupByTags: ['id'] }]);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 10_000; i++) eng.add({ device: 'd', profile: 'p', ts: 1000 + round, tags: { id: `r${i}` }, metrics: { v: i } }, 2000);
    }
    expect(eng.stats().openWindows).toBe(10_000);
    const out = eng.flushAll();
    expect(out).toHaveLength(10_000);
    expect(out.every((a) => a.count === 2 && a.sum === 2 * Number(a.tags.id!.slice(1)))).toBe(true);
  });
});
