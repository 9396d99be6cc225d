// Window specs: validation, and Flink-style epoch-aligned assignment against brute force.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSpecs, WindowEngine, windowSpecProblems, windowStarts, type WindowSpec } from '../../../../src/analytics/windows/index.js';

const tumbling: WindowSpec = { name: 'w', type: 'tumbling', sizeMs: 300_000, aggregates: ['avg', 'max'], allowedLatenessMs: 10_000 };

describe('window assignment', () => {
  it('equals brute force: every grid start s (s ≡ offset mod slide) with s ≤ ts < s + size', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 500 }), fc.integer({ min: -2000, max: 2000 }), fc.integer({ min: -1e6, max: 1e6 }),
      (size, slideRaw, offset, ts) => {
        const slide = Math.min(size, slideRaw);
        const [spec] = compileSpecs([{ ...tumbling, type: 'hopping', sizeMs: size, slideMs: slide, offsetMs: offset }]);
        const want: number[] = [];
        for (let s = ts - size - 2 * slide; s <= ts + slide; s++) {
          if ((((s - offset) % slide) + slide) % slide === 0 && s <= ts && ts < s + size) want.push(s);
        }
        expect(windowStarts(ts, spec!)).toEqual(want);
      },
    ), { numRuns: 2000 });
  });

  it('aligns to the epoch like Flink: 5-minute windows start on the 5-minute mark, offsets shift them', () => {
    const [plain, shifted] = compileSpecs([tumbling, { ...tumbling, name: 'x', offsetMs: -60_000 }]);
    const ts = Date.UTC(2022, 0, 21, 11, 7, 30, 123);
    expect(windowStarts(ts, plain!)).toEqual([Date.UTC(2022, 0, 21, 11, 5)]);
    expect(windowStarts(ts, shifted!)).toEqual([Date.UTC(2022, 0, 21, 11, 4)]);
    expect(windowStarts(Date.UTC(2022, 0, 21, 11, 5), plain!)).toEqual([Date.UTC(2022, 0, 21, 11, 5)]);
    expect(windowStarts(Date.UTC(2022, 0, 21, 11, 5) - 0.5, plain!)).toEqual([Date.UTC(2022, 0, 21, 11, 0)]);
  });
});

describe('window spec validation', () => {
  it('accepts seed 001’s window and reports every problem of a bad one', () => {
    expect(windowSpecProblems(tumbling)).toEqual([]);
    expect(windowSpecProblems({
      name: '', type: 'hopping', sizeMs: 1.5, slideMs: 0, aggregates: ['median' as 'p50'], allowedLatenessMs: -1, groupByTags: [''],
    })).toEqual([
      'name: must be a non-empty string',
      'sizeMs: must be an integer from 1 to 31622400000 (366 days)',
      'slideMs: a hopping window needs an integer slide with 0 < slideMs <= sizeMs',
      'allowedLatenessMs: must be an integer from 0 to 366 days',
      'aggregates: unknown aggregate "median" (known: count, sum, min, max, avg, first, last, stddev, p50, p95, p99)',
      'groupByTags: must be a list of non-empty strings',
    ]);
    expect(windowSpecProblems({ ...tumbling, type: 'hopping', slideMs: 1 })).toEqual(['slideMs: sizeMs / slideMs must be at most 1000']);
    expect(windowSpecProblems({ ...tumbling, slideMs: 60_000 })).toEqual(['slideMs: a tumbling window has no slide (or slideMs = sizeMs)']);
  });

  it('refuses invalid specs and duplicate ids at construction; the same name on two profiles is fine', () => {
    expect(() => new WindowEngine([{ ...tumbling, sizeMs: 0 }])).toThrow(/window spec "w": sizeMs/);
    expect(() => new WindowEngine([tumbling, tumbling])).toThrow(/share the id \*\/w/);
    expect(() => new WindowEngine([{ ...tumbling, profile: 'a' }, { ...tumbling, profile: 'b' }])).not.toThrow();
    expect(() => new WindowEngine([tumbling], { maxFutureSkewMs: -1 })).toThrow(RangeError);
  });

  it('always emits the contract’s core fields, and only the extras asked for', () => {
    const eng = new WindowEngine([{ ...tumbling, aggregates: ['p95'] }, { ...tumbling, name: 'bare', aggregates: [] }]);
    eng.add({ device: 'd', profile: 'p', ts: 0, tags: {}, metrics: { m: 2 } }, 0);
    expect(eng.flushAll().map((a) => Object.keys(a).join(','))).toEqual([
      'window,device,profile,metric,tags,window_start,window_end,count,sum,min,max,avg,first,last',
      'window,device,profile,metric,tags,window_start,window_end,count,sum,min,max,avg,first,last,p95',
    ]);
  });

  it('groups by the chosen tags only; a missing tag is a group of its own', () => {
    const eng = new WindowEngine([{ ...tumbling, groupByTags: ['cpu'] }]);
    const add = (tags: Record<string, string>, v: number) => eng.add({ device: 'd', profile: 'p', ts: 5, tags, metrics: { usage: v } }, 5);
    add({ cpu: 'cpu0', rack: 'a' }, 1);
    add({ cpu: 'cpu0', rack: 'b' }, 2);
    add({ rack: 'a' }, 4);
    add({ cpu: 'null' }, 8);
    expect(eng.flushAll().map((a) => [a.tags, a.sum])).toEqual([[{}, 4], [{ cpu: 'cpu0' }, 3], [{ cpu: 'null' }, 8]]);
  });
});
