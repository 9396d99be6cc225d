// The forwarder thread's read-only view of the journal (src/journal/journal-reader.ts),
// over a real SqliteJournal writing the same file, as in the gateway.
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { JournalReader } from '../../src/journal/journal-reader.js';
import { RETAIN_TAIL, SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { makeContext, tempDir, useCleanups } from './support.js';

const defer = useCleanups();

const entry = (i: number): JournalEntry => ({ stream: 'readings', key: `dev-${i % 3}`, received: 1_700_000_000_000 + i, ts: i, profile: 'p', body: `{"i":${i}}` });

function setup(segmentRecords: number, clock = new ManualClock(1_700_000_000_000)) {
  // commitFillBytes 0: a group commits after commitIntervalMs, within the clock steps below.
  const ctx = makeContext({ dataDir: tempDir(), journal: { segmentRecords, commitFillBytes: 0 } }, clock);
  const j = new SqliteJournal(ctx);
  j.open();
  defer(() => j.close());
  const reader = new JournalReader(j.file);
  defer(() => reader.close());
  return { j, reader, clock };
}

async function appendAll(j: SqliteJournal, from: number, to: number, clock: ManualClock): Promise<void> {
  const done = Array.from({ length: to - from + 1 }, (_, k) => new Promise<void>((resolve, reject) => j.append(entry(from + k), (err) => (err ? reject(err) : resolve()))));
  await clock.advance(10);
  await Promise.all(done);
}

describe('JournalReader', () => {
  it('reads committed records in order across segments the writer creates after it opened', async () => {
    const { j, reader, clock } = setup(64);
    expect(reader.read(0, j.stats().lastSeq, 100, 1 << 20)).toEqual([]);
    await appendAll(j, 1, 300, clock); // 5 segments, 4 of them new since the reader opened
    const seen: number[] = [];
    let after = 0;
    for (let page = reader.read(after, j.stats().lastSeq, 70, 1 << 20); page.length > 0; page = reader.read(after, j.stats().lastSeq, 70, 1 << 20)) {
      expect(page.length).toBeLessThanOrEqual(70);
      seen.push(...page.map((r) => r.seq));
      after = page[page.length - 1]!.seq;
    }
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const fresh = new JournalReader(j.file);
    defer(() => fresh.close());
    const r = fresh.read(41, j.stats().lastSeq, 1, 1 << 20)[0]!;
    expect(r).toEqual({ seq: 42, stream: 'readings', key: 'dev-0', received: 1_700_000_000_042, ts: 42, profile: 'p', body: '{"i":42}' });
  });

  it('never sees records whose commit has not happened yet', async () => {
    const { j, reader, clock } = setup(64);
    await appendAll(j, 1, 10, clock);
    const eleventh = new Promise((resolve) => j.append(entry(11), resolve)); // queued for the next group commit, not yet committed
    expect(reader.read(0, Number.MAX_SAFE_INTEGER, 100, 1 << 20).map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    await clock.advance(10);
    await eleventh;
    expect(reader.read(10, j.stats().lastSeq, 100, 1 << 20).map((r) => r.seq)).toEqual([11]);
  });

  it('stops at throughSeq (the durable mark) without forgetting the segment that holds the rest', async () => {
    const { j, reader, clock } = setup(64);
    await appendAll(j, 1, 300, clock); // segments of 64: seq 50 sits in the first, which has successors
    expect(reader.read(0, 50, 1000, 1 << 20).map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(reader.read(50, 50, 1000, 1 << 20)).toEqual([]); // nothing flushed beyond 50 yet
    const rest: number[] = [];
    for (let page = reader.read(50, 300, 1000, 1 << 20); page.length > 0; page = reader.read(rest.at(-1)!, 300, 1000, 1 << 20)) {
      rest.push(...page.map((r) => r.seq)); // a page may end where the reader learns of newer segments
    }
    expect(rest).toEqual(Array.from({ length: 250 }, (_, i) => 51 + i));
  });

  it('keeps reading after the writer drops acknowledged segments under it', async () => {
    const { j, reader, clock } = setup(1000);
    const total = RETAIN_TAIL + 5000;
    for (let from = 1; from <= total; from += 5000) await appendAll(j, from, from + 4999, clock);
    expect(reader.read(0, j.stats().lastSeq, 10, 1 << 20)[0]!.seq).toBe(1); // statements now prepared on the oldest segments
    j.ack(6000);
    await clock.advance(1500); // the journal persists acks: drops segments 1..6 (all acked, outside the retained tail)
    const page = reader.read(6000, j.stats().lastSeq, 10, 1 << 20);
    expect(page.map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 6001 + i));
    const last = reader.read(total - 3, j.stats().lastSeq, 10, 1 << 20);
    expect(last.map((r) => r.seq)).toEqual([total - 2, total - 1, total]);
  });

  it('stops a page at about maxBytes but always returns at least one record', async () => {
    const { j, reader, clock } = setup(64);
    await appendAll(j, 1, 50, clock);
    expect(reader.read(0, j.stats().lastSeq, 50, 1).length).toBe(1);
    const page = reader.read(0, j.stats().lastSeq, 50, 60);
    expect(page.length).toBeGreaterThan(1);
    expect(page.length).toBeLessThan(50);
  });

  it('sizes both connections\' page cache from journal.cacheBytes, not better-sqlite3\'s 16 MiB', () => {
    const ctx = makeContext({ dataDir: tempDir(), journal: { cacheBytes: 640 * 1024 } }, new ManualClock(0));
    const j = new SqliteJournal(ctx);
    j.open();
    defer(() => j.close());
    const reader = new JournalReader(j.file, ctx.config.journal.cacheBytes);
    defer(() => reader.close());
    // Both handles are private; the pragma is read back through them (negative: KiB).
    const cacheOf = (o: object) => (o as { db: { pragma(p: string, o: { simple: true }): unknown } }).db.pragma('cache_size', { simple: true });
    expect(cacheOf(j)).toBe(-640);
    expect(cacheOf(reader)).toBe(-640);
    const unsized = new JournalReader(j.file);
    defer(() => unsized.close());
    expect(cacheOf(unsized)).toBe(-16000); // the build's default, which the key overrides
  });
  it('fetches no rows past the durable mark: a commit still being flushed is visible, but its rows are not read only to be dropped', async () => {
    const { j, reader, clock } = setup(64);
    await appendAll(j, 1, 300, clock); // segments of 64
    // better-sqlite3's Statement class, to count the rows SQLite hands to JavaScript.
    const probe = new Database(':memory:');
    defer(() => probe.close());
    const all = vi.spyOn(Object.getPrototypeOf(probe.prepare('SELECT 1')) as { all(...a: unknown[]): unknown[] }, 'all');
    defer(() => all.mockRestore());
    // Journal rows come raw (arrays); the segment list and corrections are other statements.
    const fetched = (): number => all.mock.results.reduce((n, r) => n + (r.value as unknown[]).filter((row) => Array.isArray(row) && row.length === 7).length, 0);
    expect(reader.read(0, 50, 1000, 1 << 20).map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(fetched()).toBe(50);
    expect(reader.read(50, 50, 1000, 1 << 20)).toEqual([]); // nothing flushed beyond 50 yet: nothing fetched
    expect(fetched()).toBe(50);
    expect(reader.read(50, 100, 1000, 1 << 20).map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 51)); // across two segments
    expect(fetched()).toBe(100);
    // The writer's own read path (kafka.workerThread: false) pages the same way.
    all.mockClear();
    expect(j.read(100, 10, 1 << 20).map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 101));
    expect(fetched()).toBe(10);
  });
});
