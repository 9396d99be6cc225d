import { describe, expect, it } from 'vitest';
import { RecentRecords } from '../../src/ingest/dedup.js';

const rec = (key: string, ts: number, body = '{"tags":{},"metrics":{"v":1}}', profile = 'p') => ({ key, ts, profile, body });

describe('RecentRecords (resend detection)', () => {
  it('recognises a record only when key, event time, profile and body are all equal', () => {
    const r = new RecentRecords(10);
    r.add(rec('d1', 100));
    expect(r.has(rec('d1', 100))).toBe(true);
    expect(r.has(rec('d2', 100))).toBe(false);
    expect(r.has(rec('d1', 101))).toBe(false);
    expect(r.has(rec('d1', 100, '{"tags":{},"metrics":{"v":2}}'))).toBe(false);
    expect(r.has(rec('d1', 100, undefined, 'other'))).toBe(false);
    // Fields cannot bleed into each other through the separator.
    r.add({ key: 'a\n1', body: 'x' });
    expect(r.has({ key: 'a', ts: 1, body: 'x' })).toBe(false);
  });

  it('forgets the oldest beyond its capacity, and never holds more', () => {
    const r = new RecentRecords(3);
    for (let i = 0; i < 5; i++) r.add(rec('d', i));
    expect(r.size).toBe(3);
    expect([0, 1, 2, 3, 4].map((i) => r.has(rec('d', i)))).toEqual([false, false, true, true, true]);
    r.add(rec('d', 4)); // already there: no eviction
    expect(r.has(rec('d', 2))).toBe(true);
  });

  it('by identity (idOf, computed once per record on the ingest path) agrees with the record forms', () => {
    const r = new RecentRecords(2);
    r.addId(RecentRecords.idOf(rec('d', 1)));
    expect(r.has(rec('d', 1))).toBe(true);
    r.add(rec('d', 2));
    expect(r.hasId(RecentRecords.idOf(rec('d', 2)))).toBe(true);
    expect(r.hasId(RecentRecords.idOf(rec('d', 3)))).toBe(false);
    r.addId(RecentRecords.idOf(rec('d', 3)));
    expect([1, 2, 3].map((i) => r.has(rec('d', i)))).toEqual([false, true, true]);
  });

  it('with capacity 0 remembers nothing', () => {
    const r = new RecentRecords(0);
    r.add(rec('d', 1));
    expect(r.has(rec('d', 1))).toBe(false);
  });
});
