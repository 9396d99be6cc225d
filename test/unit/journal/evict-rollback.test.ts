// The journal's in-memory picture against its file when records go by eviction or a
// commit fails: analytics restored after a crash must be what the live run had, a
// reconfiguration must not be rolled back by readings failing after it, a failed eviction must not hide
// committed records, and the oldest unsent record must be found while a backlog exists.
// Real SQLite files; a ManualClock drives the commits and the disk checks; a full disk
// is made with max_page_count (as in journal-disk.test.ts).
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import type { JournalEntry, StoredRecord } from '../../../src/journal/journal.js';
import type { RecordProcessor } from '../../../src/journal/processor.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import type { StreamName } from '../../../src/journal/streams.js';
import { makeContext, tempDir, turns, type TestContext, killJournal, openJournal, useCleanups } from '../support.js';

const defer = useCleanups();

/** A deterministic processor: the sequences of the readings it has seen, and a configuration a barrier changes. */
class SeenReadings implements RecordProcessor {
  seen: number[] = [];
  config = 'v1';
  restore(s: string | Uint8Array | null): void { this.seen = s === null ? [] : (JSON.parse(String(s)) as number[]); }
  process(e: JournalEntry & { seq: number }): JournalEntry[] { if (e.stream === 'readings') this.seen.push(e.seq); return []; }
  tick(): JournalEntry[] { return []; }
  shiftClock(): void {}
  replay(r: StoredRecord): void { if (r.stream === 'readings') this.seen.push(r.seq); }
  snapshot(): string { return JSON.stringify(this.seen); }
  committed(): void {}
}

/** Like SeenReadings, but its snapshot never grows (a checkpoint rewrites its row in place). */
class CountReadings extends SeenReadings {
  n = 0;
  override restore(s: string | Uint8Array | null): void { this.n = s === null ? 0 : Number(String(s)); }
  override process(e: JournalEntry & { seq: number }): JournalEntry[] { if (e.stream === 'readings') this.n++; return []; }
  override replay(r: StoredRecord): void { if (r.stream === 'readings') this.n++; }
  override snapshot(): string { return String(this.n).padStart(12, '0'); }
}

function journal(dataDir: string, journalCfg: Record<string, unknown>, clock: ManualClock, processor?: RecordProcessor): { j: SqliteJournal; ctx: TestContext } {
  const ctx = makeContext({ dataDir, journal: { segmentRecords: 500, minFreeBytes: 0, ...journalCfg } }, clock);
  const j = new SqliteJournal(ctx);
  if (processor) j.setProcessor(processor, 3_600_000); // no periodic checkpoint within the test
  openJournal(j, defer);
  return { j, ctx };
}

const dbOf = (j: SqliteJournal) => (j as unknown as { db: Database.Database }).db;

const PAD = 'x'.repeat(150);
const entry = (i: number, stream: StreamName): JournalEntry =>
  ({ stream, key: `dev-${i % 7}`, received: 1_700_000_000_000 + i, body: JSON.stringify({ i, pad: PAD }) });

/** Appends n records (every 25th an aggregate), committing as it goes; returns the callbacks' errors. */
async function fill(j: SqliteJournal, clock: ManualClock, from: number, n: number, streamOf = (i: number): StreamName => (i % 25 === 0 ? 'aggregates' : 'readings')): Promise<Array<Error | null>> {
  const results: Array<Promise<Error | null>> = [];
  for (let i = from; i < from + n; i++) {
    results.push(new Promise((resolve) => j.append(entry(i, streamOf(i)), (err) => resolve(err))));
    if (i % 200 === 199) {
      clock.advance(300);
      await turns(2);
    }
  }
  clock.advance(300);
  await turns(2);
  return Promise.all(results);
}

const rowsInFile = (j: SqliteJournal): number => {
  const db = new Database(j.file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'seg_[0-9]*'").pluck().all() as string[];
    return tables.reduce((n, t) => n + Number(db.prepare(`SELECT count(*) FROM ${t}`).pluck().get()), 0);
  } finally { db.close(); }
};

describe('journal eviction and failed commits against the file', () => {
  it('analytics restored after a crash equal the live state, also when eviction removed records after the checkpoint', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const live = new SeenReadings();
    const { j } = journal(dir, { maxBytes: 2 * 1024 * 1024, fullPolicy: 'evict' }, clock, live);
    expect((await fill(j, clock, 0, 20_000)).every((e) => e === null)).toBe(true);
    expect(j.stats().disk!.evicted.readings).toBeGreaterThan(5000); // Kafka is down: the cap evicted unsent readings
    const before = live.seen.slice();
    killJournal(j);

    const restored = new SeenReadings();
    journal(dir, { maxBytes: 2 * 1024 * 1024, fullPolicy: 'evict' }, new ManualClock(), restored);
    // The processor had processed every reading before the crash; its checkpoint (seq 0)
    // plus a replay over the holes eviction left rebuilds only the survivors, silently.
    expect(restored.seen.length).toBe(before.length);
  });

  it('readings that fail right after a reconfiguration (the disk full) do not roll it back: its promise and the processor agree', async () => {
    const clock = new ManualClock();
    const processor = new CountReadings();
    const { j } = journal(tempDir(), { maxBytes: 0 }, clock, processor);
    expect((await fill(j, clock, 0, 300)).every((e) => e === null)).toBe(true);
    const db = dbOf(j);
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`); // the disk is full
    const reconfigured = j.reconfigureProcessor(() => { processor.config = 'v2'; }).then(() => null, (err: Error) => err);
    // Readings appended right after, in the same group: they do not fit.
    const big = Array.from({ length: 50 }, () => new Promise<Error | null>((resolve) =>
      j.append({ stream: 'readings', key: 'd', received: 1, body: JSON.stringify({ pad: 'y'.repeat(5000) }) }, (err) => resolve(err))));
    clock.advance(300);
    await turns(3);
    expect((await Promise.all(big)).every((e) => e !== null)).toBe(true);
    const err = await reconfigured;
    // reconfigureProcessor(): "The promise settles once that commit is durable (or failed: then nothing changed)".
    // Before, the barrier shared the readings' transaction: it was rolled back and rejected while
    // the processor kept 'v2'. It now commits in a transaction of its own (GroupCommitter isAlone).
    expect(err).toBeNull();
    expect(processor.config).toBe('v2');
  });

  it('a failed eviction (the disk full) leaves every committed record readable', async () => {
    const clock = new ManualClock();
    const { j, ctx } = journal(tempDir(), { segmentRecords: 100_000, fullPolicy: 'evict' }, clock);
    // Small readings between alerts: evicting readings frees no whole page.
    const res: Array<Promise<Error | null>> = [];
    for (let i = 0; i < 8000; i++) {
      res.push(new Promise((resolve) => j.append({ stream: i % 2 ? 'alerts' : 'readings', key: `device-${i}`, received: i, body: '{}' }, (err) => resolve(err))));
      if (i % 500 === 499) {
        clock.advance(300);
        await turns(2);
      }
    }
    clock.advance(300);
    await turns(2);
    expect((await Promise.all(res)).every((e) => e === null)).toBe(true);
    const db = dbOf(j);
    db.pragma('incremental_vacuum');
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`); // the filesystem is full…
    (ctx.config.journal as { minFreeBytes: number }).minFreeBytes = Number.MAX_SAFE_INTEGER; // …so free space is below the floor
    for (let s = 0; s < 5; s++) {
      clock.advance(1000); // the disk check every second: eviction tries, and its transaction fails
      await turns(2);
    }
    expect(j.stats().disk!.evicted.readings).toBe(0); // nothing was evicted: every row is still in the file
    expect(rowsInFile(j)).toBe(8000);
    expect(j.read(0, 100_000, 1 << 30)).toHaveLength(8000);
  });

  it('reports the oldest unsent record while a backlog exists, after Kafka acknowledged up to an eviction hole', async () => {
    const clock = new ManualClock();
    const { j } = journal(tempDir(), { maxBytes: 2 * 1024 * 1024, fullPolicy: 'evict' }, clock);
    expect((await fill(j, clock, 0, 20_000)).every((e) => e === null)).toBe(true);
    const records = j.read(0, 1_000_000, 1 << 30);
    // Segment 1 (seqs 1..500) lost its readings: its aggregates (1, 26, …, 476) are left.
    expect(records.filter((r) => r.seq <= 500).map((r) => r.seq).at(-1)).toBe(476);
    // The forwarder sent a batch ending there (its ack is the batch's last sequence).
    j.ack(476);
    const next = records.find((r) => r.seq > 476)!;
    const stats = j.stats();
    expect(stats.backlog.readings).toBeGreaterThan(0);
    expect(stats.oldestReceived).toBe(next.received);
  });
});
