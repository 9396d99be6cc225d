// The journal's disk limits (journal.maxBytes, journal.fullPolicy): with `evict` it stays
// within its cap, the oldest unsent readings go first while aggregates and alerts stay,
// and every eviction is a gap record with exact counts; with `refuse` new readings are
// refused (WEIR_JOURNAL_FULL) until the backlog drains; a full disk (SQLITE_FULL, made
// here with max_page_count) fails commits cleanly, corrupts nothing, and recovers.
// Real SQLite files; a ManualClock drives the commits and the disk checks.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { isWeirError } from '../../src/core/errors.js';
import type { JournalEntry, StoredRecord } from '../../src/journal/journal.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import type { StreamName } from '../../src/journal/streams.js';
import { makeContext, tempDir, turns, useCleanups } from './support.js';

const defer = useCleanups();

function journal(journalCfg: Record<string, unknown>, clock = new ManualClock()) {
  const ctx = makeContext({ dataDir: tempDir(), journal: { segmentRecords: 500, minFreeBytes: 0, ...journalCfg } }, clock);
  const j = new SqliteJournal(ctx);
  j.open();
  defer(() => j.close());
  return { j, clock, ctx };
}

const PAD = 'x'.repeat(150);
const entry = (i: number, stream: StreamName = 'readings'): JournalEntry =>
  ({ stream, key: `dev-${i % 7}`, received: 1_700_000_000_000 + i, body: JSON.stringify({ i, pad: PAD }) });

/** Appends n records (every 25th an aggregate, every 100th an alert), committing as it goes; returns the callbacks' errors. */
async function fill(j: SqliteJournal, clock: ManualClock, from: number, n: number): Promise<Array<Error | null>> {
  const results: Array<Promise<Error | null>> = [];
  for (let i = from; i < from + n; i++) {
    const stream: StreamName = i % 100 === 0 ? 'alerts' : i % 25 === 0 ? 'aggregates' : 'readings';
    results.push(new Promise((resolve) => j.append(entry(i, stream), (err) => resolve(err))));
    if (i % 200 === 199) {
      clock.advance(300); // commits, and lets the disk check run
      await turns(2);
    }
  }
  clock.advance(300);
  await turns(2);
  return Promise.all(results);
}

function all(j: SqliteJournal): StoredRecord[] {
  return j.read(0, 1_000_000, 1 << 30);
}

describe('journal disk limits', () => {
  it('evict: stays within the cap, evicts the oldest readings first, keeps aggregates and alerts, announces exact gaps', async () => {
    const cap = 2 * 1024 * 1024;
    const { j, clock } = journal({ maxBytes: cap, fullPolicy: 'evict' });
    const n = 30_000;
    const errors = await fill(j, clock, 0, n);
    expect(errors.every((e) => e === null)).toBe(true);
    const stats = j.stats();
    expect(stats.disk!.usedBytes).toBeLessThanOrEqual(cap * 1.05);
    expect(stats.disk!.evicted.readings).toBeGreaterThan(10_000);
    expect(stats.disk!.evicted.aggregates + stats.disk!.evicted.alerts).toBe(0);

    const records = all(j);
    const readings = records.filter((r) => r.stream === 'readings').map((r) => JSON.parse(r.body).i as number);
    const aggregatesAndAlerts = records.filter((r) => r.stream === 'aggregates' || r.stream === 'alerts');
    // Every aggregate and alert is still there; the readings left are exactly the newest ones.
    expect(aggregatesAndAlerts).toHaveLength(n / 25);
    const isReading = (i: number) => i % 25 !== 0;
    const expectedLeft = Array.from({ length: n }, (_, i) => i).filter(isReading).slice(-readings.length);
    expect(readings).toEqual(expectedLeft);
    // The gap records account for every evicted reading, per device.
    const gaps = records.filter((r) => r.stream === 'status').map((r) => JSON.parse(r.body));
    expect(gaps.every((g) => g.event === 'gap' && g.stream === 'readings')).toBe(true);
    const evictedIdx = Array.from({ length: n }, (_, i) => i).filter(isReading).slice(0, -readings.length);
    expect(gaps.reduce((s, g) => s + g.count, 0)).toBe(evictedIdx.length);
    expect(stats.disk!.evicted.readings).toBe(evictedIdx.length);
    const perDevice: Record<string, number> = {};
    for (const i of evictedIdx) perDevice[`dev-${i % 7}`] = (perDevice[`dev-${i % 7}`] ?? 0) + 1;
    const announced: Record<string, number> = {};
    for (const g of gaps) for (const [d, c] of Object.entries(g.devices as Record<string, number>)) announced[d] = (announced[d] ?? 0) + c;
    expect(announced).toEqual(perDevice);
    expect(stats.backlog.readings).toBe(readings.length);
  });

  it('refuse: refuses new readings at the cap (nothing accepted is lost), and accepts again once Kafka took the backlog', async () => {
    const cap = 1024 * 1024;
    const { j, clock } = journal({ maxBytes: cap, fullPolicy: 'refuse' });
    const errors = await fill(j, clock, 0, 12_000);
    const refused = errors.filter((e) => isWeirError(e, 'WEIR_JOURNAL_FULL')).length;
    const accepted = errors.filter((e) => e === null).length;
    expect(refused).toBeGreaterThan(1000);
    expect(accepted + refused).toBe(12_000);
    expect(all(j).length).toBe(accepted); // every acknowledged record is there
    expect(j.stats().disk!.refusing).toBe(true);
    j.ack(j.stats().lastSeq); // Kafka took everything
    clock.advance(2000);
    await turns(2);
    expect(j.stats().disk!.refusing).toBe(false);
    expect((await fill(j, clock, 20_000, 10)).every((e) => e === null)).toBe(true);
  });

  it('a full disk (SQLITE_FULL) fails the commit cleanly, corrupts nothing, and recovers when space returns', async () => {
    const { j, clock } = journal({ maxBytes: 0 });
    expect((await fill(j, clock, 0, 1000)).every((e) => e === null)).toBe(true);
    const db = (j as unknown as { db: Database.Database }).db;
    const pages = Number(db.pragma('page_count', { simple: true }));
    db.pragma(`max_page_count = ${pages}`);
    const failed = await fill(j, clock, 1000, 2000);
    expect(failed.some((e) => isWeirError(e, 'WEIR_JOURNAL_FAILED'))).toBe(true);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.pragma(`max_page_count = ${pages * 100}`);
    expect((await fill(j, clock, 5000, 500)).every((e) => e === null)).toBe(true);
    const okBefore = 1000 + failed.filter((e) => e === null).length + 500;
    const file = j.file;
    await j.close();
    const reopened = new Database(file, { readonly: true });
    const tables = reopened.prepare("SELECT name FROM sqlite_schema WHERE name GLOB 'seg_*'").pluck().all() as string[];
    const count = tables.reduce((s, t) => s + Number(reopened.prepare(`SELECT count(*) FROM ${t}`).pluck().get()), 0);
    expect(reopened.pragma('integrity_check', { simple: true })).toBe('ok');
    reopened.close();
    expect(count).toBe(okBefore);
  });
});
