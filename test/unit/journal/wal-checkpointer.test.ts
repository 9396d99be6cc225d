// The journal's WAL checkpoints from another connection (src/journal/wal-checkpointer.ts),
// against real SQLite files: the wal-index header it reads must agree with SQLite's own
// frame count, it must checkpoint only once enough frames wait, and it must keep the WAL
// bounded for a writer that never checkpoints itself (the control shows the WAL growing
// without it).
import { statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../../src/core/clock.js';
import { ForwarderThread } from '../../../src/forwarder/forwarder-thread.js';
import { silentLogger, type Logger } from '../../../src/core/logger.js';
import type { JournalEntry } from '../../../src/journal/journal.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { CHECKPOINT_BYTES, checkpointPages, WalCheckpointer } from '../../../src/journal/wal-checkpointer.js';
import { waitFor } from '../../support/wait.js';
import { makeContext, tempDir, useCleanups } from '../support.js';

/** The threshold in frames for writer()'s files (SQLite's default 4 KiB pages): 1,000, SQLite's own. */
const CHECKPOINT_PAGES = checkpointPages(4096);

const defer = useCleanups();

/** A WAL-mode database whose writer never checkpoints by itself. */
function writer(): { db: Database.Database; file: string } {
  const file = join(tempDir(), 'j.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  defer(() => db.close());
  return { db, file };
}

function checkpointer(file: string, pages = CHECKPOINT_PAGES, clock = new ManualClock()): WalCheckpointer {
  const cp = new WalCheckpointer(file, clock, silentLogger, pages);
  defer(() => cp.close());
  return cp;
}

/** `n` transactions of `rows` rows of ~1 KB each. */
function write(db: Database.Database, n: number, rows = 4): void {
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  const txn = db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run('x'.repeat(1000));
  });
  for (let i = 0; i < n; i++) txn();
}

const walBytes = (file: string): number => statSync(`${file}-wal`).size;

describe('WalCheckpointer', () => {
  it('reads the frames waiting in the WAL as SQLite counts them, before and after a restart of the WAL', () => {
    const { db, file } = writer();
    const cp = checkpointer(file);
    write(db, 20);
    const pending = cp.pendingFrames();
    expect(pending).toBeGreaterThan(20);
    // SQLite's own count: a PASSIVE checkpoint reports the WAL's frames (log) and those copied.
    const [first] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    expect(first).toEqual({ busy: 0, log: pending, checkpointed: pending });
    expect(cp.pendingFrames()).toBe(0);
    write(db, 3); // the writer restarts the WAL from its start
    const again = cp.pendingFrames();
    const [second] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>;
    expect(again).toBe(second!.log);
    expect(again).toBeLessThan(pending!);
  });

  it('checkpoints only once its threshold of frames waits', () => {
    const { db, file } = writer();
    const cp = checkpointer(file, 50);
    let polls = 0;
    while (cp.pendingFrames()! < 50) {
      expect(cp.poll()).toBe(false);
      polls++;
      write(db, 1);
    }
    expect(polls).toBeGreaterThan(5);
    expect(cp.checkpoints).toBe(0);
    expect(cp.poll()).toBe(true);
    expect(cp.checkpoints).toBe(1);
    expect(cp.pendingFrames()).toBe(0);
  });

  it('keeps the WAL of a writer that never checkpoints bounded; without it the WAL grows', () => {
    const pages = 100;
    const bounded = writer();
    const cp = checkpointer(bounded.file, pages);
    const control = writer();
    for (let i = 0; i < 300; i++) {
      write(bounded.db, 1);
      write(control.db, 1);
      cp.poll();
    }
    const frame = 4096 + 24;
    // At most the threshold plus one transaction's frames, and the 32-byte WAL header.
    const bound = 32 + (pages + 8) * frame;
    expect(walBytes(bounded.file)).toBeLessThanOrEqual(bound);
    expect(walBytes(control.file)).toBeGreaterThan(5 * bound);
    expect(cp.checkpoints).toBeGreaterThan(5);
    expect(bounded.db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(1200);
  });

  it('without a readable wal-index header, checkpoints every tenth poll and says so once', () => {
    const { db, file } = writer();
    const warnings: string[] = [];
    const log = { warn: (...args: unknown[]) => warnings.push(String(args.at(-1))) } as unknown as Logger;
    const cp = new WalCheckpointer(file, new ManualClock(), log, 10);
    defer(() => cp.close());
    unlinkSync(`${file}-shm`); // both connections keep their mapping; a reader of the file finds none
    write(db, 5);
    expect(cp.pendingFrames()).toBeNull();
    const did = Array.from({ length: 21 }, () => cp.poll());
    expect(did.flatMap((d, i) => (d ? [i] : []))).toEqual([0, 10, 20]);
    expect(warnings).toEqual(['unrecognised SQLite wal-index header; checkpointing the journal every second instead']);
  });

  it('after a failed checkpoint, waits 10, then 20, 40 … polls before trying again, and says so once', () => {
    const { db, file } = writer();
    const warnings: string[] = [];
    const log = { warn: (...args: unknown[]) => warnings.push(String(args.at(-1))) } as unknown as Logger;
    const cp = new WalCheckpointer(file, new ManualClock(), log, 1);
    write(db, 2);
    // A failing disk, in effect: its own connection closed and swapped for one whose every checkpoint throws.
    const internals = cp as unknown as { db: Pick<Database.Database, 'pragma' | 'open'> };
    (internals.db as Database.Database).close();
    let poll = 0;
    const tries: number[] = [];
    internals.db = { open: false, pragma: () => { tries.push(poll); throw new Error('disk I/O error'); } };
    for (; poll < 80; poll++) expect(cp.poll()).toBe(false);
    expect(tries).toEqual([0, 11, 32, 73]); // 10, 20, 40 polls skipped in between
    expect(cp.checkpoints).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^journal checkpoint failed/);
    // The disk recovers: the next try (80 polls after the last) succeeds.
    internals.db = new Database(file);
    let succeeded = -1;
    for (; poll < 200 && succeeded < 0; poll++) if (cp.poll()) succeeded = poll;
    expect(succeeded).toBe(154);
    expect(cp.checkpoints).toBe(1);
    cp.close();
  });

  it('polls on its clock once started, and stops at close', () => {
    const { db, file } = writer();
    const clock = new ManualClock();
    const cp = new WalCheckpointer(file, clock, silentLogger, 10);
    cp.start();
    write(db, 20);
    clock.advance(99);
    expect(cp.checkpoints).toBe(0);
    clock.advance(1);
    expect(cp.checkpoints).toBe(1);
    write(db, 20);
    cp.close();
    clock.advance(1000);
    expect(cp.checkpoints).toBe(1);
  });
});

describe('SqliteJournal.checkpointElsewhere', () => {
  const entry = (i: number): JournalEntry => ({ stream: 'readings', key: `dev-${i % 7}`, received: 1_700_000_000_000 + i, body: `{"i":${i},"pad":"${'p'.repeat(900)}"}` });

  /** ~6 MB of records, beyond the journal's auto-checkpoint (CHECKPOINT_BYTES, ~4 MB) and below the fallback's 4x. */
  async function load(j: SqliteJournal, clock?: ManualClock): Promise<void> {
    for (let batch = 0; batch < 30; batch++) {
      const done = Array.from({ length: 200 }, (_, k) => new Promise<void>((resolve, reject) => j.append(entry(batch * 200 + k), (err) => (err ? reject(err) : resolve()))));
      clock?.advance(10);
      await Promise.all(done);
    }
  }

  /** Frames waiting in the journal's WAL after load(). */
  async function pendingAfterLoad(elsewhere: boolean): Promise<number> {
    const clock = new ManualClock();
    const j = new SqliteJournal(makeContext({ dataDir: tempDir(), journal: { synchronous: 'NORMAL' } }, clock));
    j.open();
    defer(() => j.close());
    if (elsewhere) j.checkpointElsewhere();
    const probe = checkpointer(j.file);
    await load(j, clock);
    return probe.pendingFrames()!;
  }

  it('leaves checkpoints to another connection, keeping its own only as a fallback at 4x the WAL', async () => {
    const own = await pendingAfterLoad(false);
    const elsewhere = await pendingAfterLoad(true);
    // The journal's thresholds are bytes: in frames of its 1 KiB pages, 4x SQLite's 1,000.
    const frames = checkpointPages(1024);
    expect(frames).toBe(4000);
    expect(own).toBeLessThan(frames);
    expect(elsewhere).toBeGreaterThan(frames);
    expect(elsewhere).toBeLessThan(4 * frames);
  });
});

describe('the forwarder thread', () => {
  it("checkpoints the gateway's journal (Kafka unreachable: the checkpoints do not depend on it)", async () => {
    const ctx = makeContext({ dataDir: tempDir(), journal: { synchronous: 'NORMAL' }, kafka: { brokers: ['127.0.0.1:1'] } }, systemClock);
    const j = new SqliteJournal(ctx);
    j.open();
    defer(() => j.close());
    const thread = new ForwarderThread(ctx, j);
    thread.start(); // hands the checkpoints to its worker
    defer(() => thread.stop(100));
    const probe = checkpointer(j.file);
    for (let batch = 0; batch < 60; batch++) {
      const done = Array.from({ length: 100 }, () => new Promise<void>((resolve, reject) => j.append({ stream: 'readings', key: 'd', received: batch, body: `{"pad":"${'p'.repeat(900)}"}` }, (err) => (err ? reject(err) : resolve()))));
      await Promise.all(done);
    }
    // ~6 MB in all: the WAL file grew past the threshold before anything was copied
    // back, and falls below it again without the writer's help (its fallback is 4x).
    expect(walBytes(j.file)).toBeGreaterThan(CHECKPOINT_BYTES);
    await waitFor(() => probe.pendingFrames()! < checkpointPages(1024), 10_000, 'the WAL to be checkpointed');
  });
});
