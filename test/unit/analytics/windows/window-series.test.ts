// The compact per-window series list (window-series.ts): lookups, insertion order, and
// the switch to a Map index past INDEXED_ABOVE series, checked against a plain Map.
import { describe, expect, it } from 'vitest';
import {
  INDEXED_ABOVE, addSeries, forEachSeries, newWindow, seriesCount, seriesSlot, withWindowAt, type OpenWindow,
} from '../../../../src/analytics/windows/window-series.js';

function entries(w: OpenWindow): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  forEachSeries(w, (key, slot) => out.push([key, slot]));
  return out;
}

describe('window series', () => {
  it('finds every series, keeps insertion order, and indexes only past INDEXED_ABOVE', () => {
    const w = newWindow(0);
    const reference = new Map<string, number>();
    expect(seriesCount(w)).toBe(0);
    expect(seriesSlot(w, 'usage')).toBeUndefined();
    for (let n = 0; n < 3 * INDEXED_ABOVE; n++) {
      const key = `${n % 7}:cpu${n}|usage`;
      addSeries(w, key, 1000 - n);
      reference.set(key, 1000 - n);
      expect(w.index !== undefined).toBe(n + 1 > INDEXED_ABOVE);
      // Up to the index, the array is exactly as long as its pairs.
      expect(w.series.length).toBe(2 * (n + 1));
      expect(seriesCount(w)).toBe(reference.size);
      for (const [k, slot] of reference) expect(seriesSlot(w, k)).toBe(slot);
      expect(seriesSlot(w, `absent${n}`)).toBeUndefined();
      expect(entries(w)).toEqual([...reference]);
    }
  });

  it('a new window never shares its series list with another', () => {
    const a = newWindow(0);
    const b = newWindow(10);
    addSeries(a, 'x', 1);
    expect(seriesCount(b)).toBe(0);
    addSeries(b, 'y', 2);
    expect(entries(a)).toEqual([['x', 1]]);
    expect(entries(b)).toEqual([['y', 2]]);
  });

  it('withWindowAt inserts at the front, middle and end, leaving the input as it was', () => {
    const [w0, w1, w2] = [newWindow(0), newWindow(10), newWindow(20)];
    const one = withWindowAt([], 0, w1);
    expect(one).toEqual([w1]);
    const front = withWindowAt(one, 0, w0);
    expect(front.map((w) => w.start)).toEqual([0, 10]);
    expect(withWindowAt(front, 2, w2).map((w) => w.start)).toEqual([0, 10, 20]);
    expect(withWindowAt([w0, w2], 1, w1).map((w) => w.start)).toEqual([0, 10, 20]);
    expect(one).toEqual([w1]);
  });
});
