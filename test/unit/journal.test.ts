import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { isWeirError } from '../../src/core/errors.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import * as sqliteJournal from '../../src/journal/sqlite-journal.js';
import type { StreamName } from '../../src/journal/streams.js';
import { makeContext, tempDir, turns, type TestContext, useCleanups } from './support.js';
import { waitFor } from '../support/wait.js';

const { SqliteJournal } = sqliteJournal;
type SqliteJournal = InstanceType<typeof SqliteJournal>;
/** Acked records the journal may keep on disk anyway (a newest-first tail), if it declares one. */
const RETAIN_TAIL = (sqliteJournal as { RETAIN_TAIL?: number }).RETAIN_TAIL ?? 0;

const defer = useCleanups();

function journalIn(dataDir: string, journal: Record<string, unknown> = {}, clock?: ManualClock): { j: SqliteJournal; ctx: TestContext } {
  const ctx = makeContext({ dataDir, journal }, clock);
  const j = new SqliteJournal(ctx);
  j.open();
  defer(() => j.close());
  return { j, ctx };
}

const entry = (i: number, stream: StreamName = 'readings'): JournalEntry =>
  ({ stream, key: `dev-${i % 5}`, received: 1_700_000_000_000 + i, body: JSON.stringify({ i, v: Math.sin(i) }) });

/** Appends and resolves with the seq once its callback ran. */
const append = (j: SqliteJournal, e: JournalEntry) =>
  new Promise<number>((resolve, reject) => j.append(e, (err, seq) => (err ? reject(err) : resolve(seq))));
const appendErr = (j: SqliteJournal, e: JournalEntry) =>
  new Promise<Error | null>((resolve) => j.append(e, (err) => resolve(err)));

/** Tables holding records: the journal keeps them in segments seg_<n>. */
const segmentTables = (db: Database.Database) =>
  db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'seg_[0-9]*'").pluck().all() as string[];

const rowCount = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return segmentTables(db).reduce((n, t) => n + (db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number), 0);
  } finally { db.close(); }
};

describe('SqliteJournal group commit', () => {
  it('commits 1,000 appends from one synchronous loop in very few transactions, callbacks after commit', async () => {
    const { j, ctx } = journalIn(tempDir());
    const reader = new Database(j.file, { readonly: true });
    const commits: number[] = [];
    j.onCommit((last) => commits.push(last));
    const seqs: number[] = [];
    let visibleAtFirstCallback = -1;
    const all = Array.from({ length: 1000 }, (_, i) => new Promise<void>((resolve, reject) => {
      j.append(entry(i), (err, seq) => {
        if (err) return reject(err);
        // The row must already be durable and visible to another connection.
        if (visibleAtFirstCallback < 0) visibleAtFirstCallback = reader.prepare('SELECT count(*) FROM seg_1 WHERE seq <= ?').pluck().get(seq) as number;
        seqs[i] = seq;
        resolve();
      });
    }));
    expect(seqs.filter((s) => s !== undefined)).toHaveLength(0); // nothing ran synchronously
    await Promise.all(all);
    reader.close();
    expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(visibleAtFirstCallback).toBeGreaterThanOrEqual(1);
    expect(commits.length).toBeLessThanOrEqual(3);
    expect(commits.at(-1)).toBe(1000);
    const hist = await ctx.metrics.commitRecords.get();
    const val = (suffix: string) => hist.values.find((v) => v.metricName === `weir_journal_commit_records_${suffix}`)?.value;
    expect(val('sum')).toBe(1000);
    expect(val('count')).toBe(commits.length);
  });

  it('waits commitIntervalMs of (manual) clock time unless maxBatchRecords is reached', async () => {
    const clock = new ManualClock();
    const { j } = journalIn(tempDir(), { commitIntervalMs: 50, commitFillBytes: 0, maxBatchRecords: 10 }, clock);
    const commits: number[] = [];
    j.onCommit((last) => commits.push(last));
    const done: number[] = [];
    for (let i = 0; i < 3; i++) j.append(entry(i), (err, seq) => !err && done.push(seq));
    await turns(5);
    expect(done).toEqual([]);
    expect(rowCount(j.file)).toBe(0);
    clock.advance(49);
    await turns(5);
    expect(done).toEqual([]);
    clock.advance(1);
    await waitFor(() => done.length === 3, 5000, 'the first group\'s callbacks', 1); // committed now; the callbacks wait for the WAL's flush
    expect(done).toEqual([1, 2, 3]);
    expect(commits).toEqual([3]);

    // A full batch commits on the next turn, with the clock standing still.
    for (let i = 0; i < 10; i++) j.append(entry(i), (err, seq) => !err && done.push(seq));
    await waitFor(() => done.length === 13, 5000, 'the full batch\'s callbacks', 1);
    expect(commits).toEqual([3, 13]);
  });

  it('under light traffic, lets a group smaller than commitFillBytes wait up to commitMaxWaitMs, and commits it once it fills', async () => {
    const clock = new ManualClock();
    // entry() is ~67 bytes as counted (body + key + 32): 600 bytes is 9 of them.
    const { j } = journalIn(tempDir(), { commitIntervalMs: 2, commitFillBytes: 600, commitMaxWaitMs: 40, maxBatchRecords: 1000 }, clock);
    const commits: number[] = [];
    j.onCommit((last) => commits.push(last));
    const done: number[] = [];
    const add = (from: number, n: number) => { for (let i = from; i < from + n; i++) j.append(entry(i), (err, seq) => !err && done.push(seq)); };

    // One reading alone: not at commitIntervalMs, but at commitMaxWaitMs.
    add(0, 1);
    clock.advance(2);
    await turns(5);
    expect(rowCount(j.file)).toBe(0);
    clock.advance(37); // 39 ms
    await turns(5);
    expect(rowCount(j.file)).toBe(0);
    clock.advance(1); // 40 ms
    await waitFor(() => done.length === 1, 5000, 'the lone reading\'s commit', 1);
    expect(commits).toEqual([1]);

    // A group that fills while it waits is committed then, with the clock standing still.
    add(1, 4);
    clock.advance(2);
    await turns(5);
    expect(rowCount(j.file)).toBe(1);
    add(5, 5); // 9 pending, ≥ 600 bytes
    await waitFor(() => done.length === 10, 5000, 'the filled group\'s commit', 1);
    expect(commits).toEqual([1, 10]);

    // A group that is full already at commitIntervalMs is committed at commitIntervalMs.
    add(10, 12);
    await turns(5);
    expect(rowCount(j.file)).toBe(10);
    clock.advance(2);
    await waitFor(() => done.length === 22, 5000, 'the full group\'s commit', 1);
    expect(commits).toEqual([1, 10, 22]);
  });

  it('commits an eager record (its sender waits for it, as the MQTT bridge does) after commitIntervalMs, without waiting for company', async () => {
    const clock = new ManualClock();
    const { j } = journalIn(tempDir(), { commitIntervalMs: 2, commitFillBytes: 600, commitMaxWaitMs: 40, maxBatchRecords: 1000 }, clock);
    const plain = append(j, entry(0));
    clock.advance(2);
    await turns(5);
    expect(rowCount(j.file)).toBe(0); // a plain record waits on for company
    // An eager record joining the waiting group: the group commits, the clock standing still.
    const eager = append(j, { ...entry(1), eager: true });
    expect(await Promise.race([eager, new Promise((r) => setTimeout(() => r('still waiting'), 1000))])).toBe(2);
    expect(await plain).toBe(1);
    // Alone, an eager record commits at commitIntervalMs, not at commitMaxWaitMs.
    const alone = append(j, { ...entry(2), eager: true });
    await turns(5);
    expect(rowCount(j.file)).toBe(2);
    clock.advance(2);
    expect(await alone).toBe(3);
  });

  it('with commitFillBytes 0, or commitMaxWaitMs below commitIntervalMs, commits after commitIntervalMs whatever the size', async () => {
    for (const journal of [{ commitFillBytes: 0, commitMaxWaitMs: 40 }, { commitFillBytes: 600, commitMaxWaitMs: 1 }]) {
      const clock = new ManualClock();
      const { j } = journalIn(tempDir(), { commitIntervalMs: 2, maxBatchRecords: 1000, ...journal }, clock);
      const seq = append(j, entry(0));
      await turns(5);
      clock.advance(2);
      expect(await seq).toBe(1);
    }
  });

  it('never puts more than maxBatchRecords in one transaction', async () => {
    const { j } = journalIn(tempDir(), { commitIntervalMs: 5, maxBatchRecords: 10 });
    const commits: number[] = [];
    j.onCommit((last) => commits.push(last));
    await Promise.all(Array.from({ length: 35 }, (_, i) => append(j, entry(i))));
    const sizes = commits.map((last, k) => last - (commits[k - 1] ?? 0));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
  });
});

describe('SqliteJournal durability and sequence', () => {
  it('returns exactly the committed records, in order, after a restart; backlog survives', async () => {
    const dir = tempDir();
    const streams: StreamName[] = ['readings', 'readings', 'deadletter', 'status', 'alerts', 'aggregates'];
    const entries = Array.from({ length: 60 }, (_, i) => entry(i, streams[i % streams.length]));
    const first = journalIn(dir).j;
    for (const e of entries) await append(first, e);
    await first.close();

    const { j } = journalIn(dir);
    const rows = j.read(0, 1000, Infinity);
    expect(rows.map((r) => r.seq)).toEqual(entries.map((_, i) => i + 1));
    expect(rows.map(({ stream, key, received, body }) => ({ stream, key, received, body }))).toEqual(entries);
    const expected = { readings: 20, aggregates: 10, alerts: 10, deadletter: 10, status: 10 };
    expect(j.stats().backlog).toEqual(expected);
    expect(j.stats().lastSeq).toBe(60);
  });

  it('keeps sequences increasing across restarts even after everything was acked and deleted', async () => {
    const dir = tempDir();
    const first = journalIn(dir).j;
    for (let i = 0; i < 5; i++) await append(first, entry(i));
    first.ack(5);
    await first.close(); // persists the ack

    const second = journalIn(dir).j;
    expect(second.read(0, 100, Infinity)).toEqual([]);
    expect(second.stats().backlog.readings).toBe(0);
    expect(await append(second, entry(9))).toBe(6);
    second.ack(6);
    await second.close();

    // Whatever tail the journal keeps, the acked rows may be deleted: simulate that.
    const db = new Database(second.file);
    for (const t of segmentTables(db)) db.prepare(`DELETE FROM ${t}`).run();
    db.close();
    expect(rowCount(second.file)).toBe(0);

    const third = journalIn(dir).j;
    expect(third.stats().lastSeq).toBe(6);
    expect(await append(third, entry(10))).toBe(7);
  });

  it('drops acked segments whole once the ack is persisted, keeping the retained tail and the active segment', async () => {
    const clock = new ManualClock();
    const S = 16; // records per segment
    const { j } = journalIn(tempDir(), { commitIntervalMs: 0, segmentRecords: S, maxPendingRecords: RETAIN_TAIL + 100 }, clock);
    const total = RETAIN_TAIL + 40;
    await Promise.all(Array.from({ length: total }, (_, i) => append(j, entry(i))));
    j.ack(20);
    expect(rowCount(j.file)).toBe(total); // acks are persisted lazily
    clock.advance(1000);
    // Only segment 1 (seqs 1..16) is wholly acknowledged: 17..20 share segment 2 with 21..32.
    expect(rowCount(j.file)).toBe(total - S);
    expect(j.read(0, 10, Infinity)[0]?.seq).toBe(21);
    j.ack(total);
    await j.close();
    // Acked through the end, but the newest RETAIN_TAIL records stay: segments up to
    // seq 40 (= total - RETAIN_TAIL) go, i.e. the first two; seg 3 (33..48) holds tail records.
    expect(rowCount(j.file)).toBe(total - 2 * S);
  });

  it('records a large acknowledged range at once, so a crash right after a catch-up does not resend it all', async () => {
    const clock = new ManualClock();
    const dir = tempDir();
    const { j } = journalIn(dir, { commitIntervalMs: 0, maxPendingRecords: 20_000 }, clock);
    await Promise.all(Array.from({ length: 12_000 }, (_, i) => append(j, entry(i))));
    j.ack(100); // small: waits for the timer
    j.ack(6_000); // 5,900 unrecorded: recorded now, no clock advance
    // A crash now (no close): a second journal on the same file sees the recorded ack.
    const { j: after } = journalIn(dir, { commitIntervalMs: 0 }, new ManualClock());
    expect(after.read(0, 1, Infinity)[0]?.seq).toBe(6_001);
  });

  it('ack hides records from read and keeps per-stream backlog, also after a restart', async () => {
    const clock = new ManualClock();
    const dir = tempDir();
    const { j } = journalIn(dir, { commitIntervalMs: 0 }, clock);
    const streams: StreamName[] = ['readings', 'status', 'readings', 'deadletter'];
    for (let i = 0; i < 12; i++) await append(j, entry(i, streams[i % 4]));
    expect(j.stats().backlog).toMatchObject({ readings: 6, status: 3, deadletter: 3 });
    j.ack(5); // seqs 1..5: readings 1,3,5 status 2 deadletter 4
    expect(j.read(0, 100, Infinity).map((r) => r.seq)).toEqual([6, 7, 8, 9, 10, 11, 12]);
    expect(j.read(2, 100, Infinity)[0]?.seq).toBe(6);
    expect(j.stats().backlog).toEqual({ readings: 3, status: 2, deadletter: 2, alerts: 0, aggregates: 0 });
    j.ack(3); // going back changes nothing
    expect(j.stats().backlog.readings).toBe(3);
    expect(j.stats().oldestReceived).toBe(entry(5).received);
    clock.advance(1000); // ack persisted: still hidden, counts unchanged
    expect(j.read(0, 100, Infinity).map((r) => r.seq)).toEqual([6, 7, 8, 9, 10, 11, 12]);
    expect(j.stats().backlog).toEqual({ readings: 3, status: 2, deadletter: 2, alerts: 0, aggregates: 0 });
    j.ack(12);
    expect(j.stats().backlog).toEqual({ readings: 0, status: 0, deadletter: 0, alerts: 0, aggregates: 0 });
    expect(j.stats().oldestReceived).toBeNull();
    await j.close();
    const { j: reopened } = journalIn(dir);
    expect(reopened.read(0, 100, Infinity)).toEqual([]);
    expect(reopened.stats().backlog.readings).toBe(0);
  });

  it('gives one committed record by its sequence, in any segment, and nothing for an unknown one or once closed', async () => {
    const { j } = journalIn(tempDir(), { segmentRecords: 16 });
    const entries = Array.from({ length: 40 }, (_, i) => ({ ...entry(i), ts: 1_600_000_000_000 + i, profile: 'p' }));
    const seqs = await Promise.all(entries.map((e) => append(j, e)));
    for (const k of [0, 15, 16, 39]) {
      expect(j.record(seqs[k]!)).toMatchObject({ seq: seqs[k], stream: 'readings', key: entries[k]!.key, ts: entries[k]!.ts, profile: 'p', body: entries[k]!.body });
    }
    expect(j.record(0)).toBeUndefined();
    expect(j.record(seqs[39]! + 1)).toBeUndefined();
    await j.close();
    expect(j.record(seqs[0]!)).toBeUndefined();
  });

  it('reads across segment boundaries in order, before and after a restart', async () => {
    const dir = tempDir();
    const { j } = journalIn(dir, { segmentRecords: 16 });
    const entries = Array.from({ length: 50 }, (_, i) => ({ ...entry(i), ts: 1_600_000_000_000 + i, profile: 'p' }));
    await Promise.all(entries.map((e) => append(j, e)));
    const check = (jj: SqliteJournal) => {
      expect(jj.read(0, 100, Infinity).map((r) => r.seq)).toEqual(entries.map((_, i) => i + 1));
      expect(jj.read(14, 5, Infinity).map((r) => r.seq)).toEqual([15, 16, 17, 18, 19]); // spans seg 1 → seg 2
      expect(jj.read(0, 100, Infinity).map(({ key, received, body, ts, profile }) => ({ key, received, body, ts, profile }))).toEqual(
        entries.map(({ key, received, body, ts, profile }) => ({ key, received, body, ts, profile })));
      expect(jj.tail(20).map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 50 - i));
    };
    check(j);
    await j.close();
    const db = new Database(j.file, { readonly: true });
    expect(segmentTables(db).sort()).toEqual(['seg_1', 'seg_2', 'seg_3', 'seg_4']);
    db.close();
    const { j: again } = journalIn(dir, { segmentRecords: 16 });
    check(again);
    expect(await append(again, entry(99))).toBe(51);
  });

  it('read() honours limit and maxBytes but always returns at least one record', async () => {
    const { j } = journalIn(tempDir());
    for (let i = 0; i < 10; i++) await append(j, { stream: 'readings', key: 'd1', received: i, body: `{"x":"${'a'.repeat(92)}"}` });
    expect(j.read(0, 3, Infinity).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(j.read(4, 3, Infinity).map((r) => r.seq)).toEqual([5, 6, 7]);
    expect(j.read(0, 100, 350).map((r) => r.seq)).toEqual([1, 2, 3]); // 100-byte bodies
    expect(j.read(0, 100, 1).map((r) => r.seq)).toEqual([1]);
    expect(j.read(9, 100, 1).map((r) => r.seq)).toEqual([10]);
    expect(j.read(10, 100, Infinity)).toEqual([]);
  });
});

describe('SqliteJournal refusals', () => {
  it('refuses appends with WEIR_JOURNAL_CLOSED once close() began', async () => {
    const { j } = journalIn(tempDir());
    const before = append(j, entry(1));
    const closing = j.close();
    const err = await appendErr(j, entry(2));
    expect(isWeirError(err, 'WEIR_JOURNAL_CLOSED')).toBe(true);
    expect(await before).toBe(1); // the pending one was committed by close()
    await closing;
    expect(isWeirError(await appendErr(j, entry(3)), 'WEIR_JOURNAL_CLOSED')).toBe(true);
  });

  it('refuses appends with WEIR_JOURNAL_CLOSED before open(), and reads nothing', async () => {
    const j = new SqliteJournal(makeContext({ dataDir: tempDir() }));
    const err = await appendErr(j, entry(1));
    expect(isWeirError(err, 'WEIR_JOURNAL_CLOSED')).toBe(true);
    expect((err as Error).message).toMatch(/not open/);
    expect(j.read(0, 10, 1 << 20)).toEqual([]);
    expect(j.tail(10)).toEqual([]);
    await j.close();
  });

  it('refuses appends beyond maxPendingRecords with WEIR_JOURNAL_BUSY', async () => {
    const clock = new ManualClock();
    const { j } = journalIn(tempDir(), { commitIntervalMs: 100, maxBatchRecords: 1000, maxPendingRecords: 5 }, clock);
    const results = Array.from({ length: 7 }, (_, i) => appendErr(j, entry(i)));
    const refused = await Promise.all(results.slice(5));
    expect(refused.every((e) => isWeirError(e, 'WEIR_JOURNAL_BUSY'))).toBe(true);
    clock.advance(100);
    expect(await Promise.all(results.slice(0, 5))).toEqual([null, null, null, null, null]);
    expect(j.read(0, 100, Infinity)).toHaveLength(5);
    // Room again after the commit: five more wait, none refused.
    const again = Array.from({ length: 5 }, (_, i) => appendErr(j, entry(10 + i)));
    await turns(3);
    clock.advance(100);
    expect(await Promise.all(again)).toEqual([null, null, null, null, null]);
  });
});

describe('SqliteJournal crash', () => {
  const child = fileURLToPath(new URL('./fixtures/journal-crash-child.ts', import.meta.url));
  const root = fileURLToPath(new URL('../../', import.meta.url));

  async function crashOnce(): Promise<{ dir: string; printed: number[] }> {
    const dir = tempDir();
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const deadline = Date.now() + 30_000;
    while (!out.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(out, err).toContain('ready');
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 400));
    proc.kill('SIGKILL');
    await exited;
    expect(err).toBe('');
    // Only complete lines count: a line cut by the kill was not fully reported.
    const lines = out.split('\n').slice(0, -1).filter((l) => /^\d+$/.test(l));
    return { dir, printed: lines.map(Number) };
  }

  it('keeps every record whose commit was reported, with an intact database', async () => {
    for (let round = 0; round < 3; round++) {
      const { dir, printed } = await crashOnce();
      expect(printed.length).toBeGreaterThan(0);
      const file = join(dir, 'journal.sqlite');
      const db = new Database(file);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
      const { j } = journalIn(dir);
      const stored = j.read(0, 1_000_000, Infinity).map((r) => r.seq);
      const have = new Set(stored);
      expect(printed.filter((s) => !have.has(s))).toEqual([]);
      // Groups commit whole and in order: what survived is a gap-free prefix.
      expect(stored).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
      expect(j.stats().lastSeq).toBe(stored.length);
    }
  });
});
