import { describe, expect, it } from 'vitest';
import { RecentRecords, type RecordIdentity } from '../../src/ingest/dedup.js';

const rec = (key: string, ts: number, body = '{"tags":{},"metrics":{"v":1}}', profile = 'p'): RecordIdentity => ({ key, ts, profile, body });

/**
 * RecentRecords with its committed records kept in a Map by sequence: the journal's
 * part (record(seq)) in these unit tests; the ingest and e2e tests run it on the real journal.
 */
function remembering(capacity: number) {
  const stored = new Map<number, RecordIdentity>();
  let seq = 0;
  const r = new RecentRecords(capacity, (s) => stored.get(s));
  return {
    r, stored,
    commit(x: RecordIdentity): void {
      stored.set(++seq, { ...x });
      r.add(RecentRecords.hashOf(x), seq);
    },
    has: (x: RecordIdentity) => r.has(x, RecentRecords.hashOf(x)),
  };
}

describe('RecentRecords (resend detection)', () => {
  it('recognises a record only when key, event time, profile and body are all equal', () => {
    const { commit, has } = remembering(10);
    commit(rec('d1', 100));
    expect(has(rec('d1', 100))).toBe(true);
    expect(has(rec('d2', 100))).toBe(false);
    expect(has(rec('d1', 101))).toBe(false);
    expect(has(rec('d1', 100 + 2 ** 32))).toBe(false);
    expect(has(rec('d1', 100, '{"tags":{},"metrics":{"v":2}}'))).toBe(false);
    expect(has(rec('d1', 100, undefined, 'other'))).toBe(false);
    expect(has({ key: 'd1', body: '{"tags":{},"metrics":{"v":1}}' })).toBe(false);
    // Fields cannot bleed into each other.
    commit({ key: 'a\n1', body: 'x' });
    expect(has({ key: 'a', ts: 1, body: 'x' })).toBe(false);
    expect(has({ key: 'a\n1', body: 'x' })).toBe(true);
  });

  it('forgets the oldest beyond its capacity, and never holds more', () => {
    const { r, commit, has } = remembering(3);
    for (let i = 0; i < 5; i++) commit(rec('d', i));
    expect(r.size).toBe(3);
    expect([0, 1, 2, 3, 4].map((i) => has(rec('d', i)))).toEqual([false, false, true, true, true]);
  });

  it('confirms a hash match against the stored record: a colliding different record is not a repeat', () => {
    // Find two bodies with equal 32-bit hashes (birthday bound: ~77,000 tries for even odds).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const body = `{"metrics":{"v":${i}}}`;
      const h = RecentRecords.hashOf(rec('d', 1, body));
      const other = seen.get(h);
      if (other !== undefined) pair = [other, body];
      else seen.set(h, body);
    }
    const [a, b] = pair;
    expect(RecentRecords.hashOf(rec('d', 1, a))).toBe(RecentRecords.hashOf(rec('d', 1, b)));
    const { commit, has } = remembering(10);
    commit(rec('d', 1, a));
    expect(has(rec('d', 1, a))).toBe(true);
    expect(has(rec('d', 1, b))).toBe(false);
    commit(rec('d', 1, b));
    expect(has(rec('d', 1, b))).toBe(true);
  });

  it('does not count a record the journal no longer holds as a repeat', () => {
    const { commit, has, stored } = remembering(10);
    commit(rec('d', 1));
    stored.clear();
    expect(has(rec('d', 1))).toBe(false);
  });

  it('agrees with a plain list of the last N records over many adds and evictions', () => {
    // Small capacities make the table's probe chains and deletions (backward shift) do real work.
    for (const capacity of [1, 2, 7, 50]) {
      const { r, commit, has } = remembering(capacity);
      const recent: RecordIdentity[] = [];
      let x = 12345;
      const rand = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % 40;
      for (let i = 0; i < 5000; i++) {
        const probe = rec(`d${rand()}`, rand());
        const expected = recent.some((e) => e.key === probe.key && e.ts === probe.ts);
        expect(has(probe)).toBe(expected);
        if (!expected) {
          commit(probe);
          recent.push(probe);
          if (recent.length > capacity) recent.shift();
        }
      }
      expect(r.size).toBe(capacity);
    }
  });

  it('with capacity 0 remembers nothing', () => {
    const { commit, has } = remembering(0);
    commit(rec('d', 1));
    expect(has(rec('d', 1))).toBe(false);
  });
});
