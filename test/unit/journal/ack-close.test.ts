// Acknowledgements at close (src/journal/ack-keeper.ts): close() persists what Kafka
// acknowledged one last time. If that fails (a full disk, a lock held by another
// process), the records are simply sent again after the restart with the same weir-seq;
// but the retry timer a failure arms during running must not be armed at close — it
// would outlive the file, fail every second on a closed connection, log each time and
// keep the process alive after "journal closed" (past systemd's TimeoutStopSec).
//
// A real SQLite file; the failure is a write lock held by a second connection (with the
// journal's busy_timeout at 0, so it fails at once). Time is a manual clock.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { appendAsync } from '../../../src/journal/journal.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { makeContext, tempDir, useCleanups } from '../support.js';

const defer = useCleanups();

/** A manual clock that says how many timers are still armed. */
class CountingClock extends ManualClock {
  get armed(): number {
    return (this as unknown as { timers: unknown[] }).timers.length;
  }
}

describe('SqliteJournal.close() when the last persist of acknowledgements fails', () => {
  it('leaves no retry timer behind, and the unrecorded acks are resent after a restart', async () => {
    const clock = new CountingClock();
    const dir = tempDir();
    const ctx = makeContext({ dataDir: dir, journal: { commitIntervalMs: 0 } }, clock);
    const j = new SqliteJournal(ctx);
    j.open();
    for (let i = 1; i <= 3; i++) await appendAsync(j, { stream: 'readings', key: 'dev-1', received: clock.now(), body: `{"i":${i}}` });
    j.ack(2); // persisted by a timer, which close() replaces

    const db = (j as unknown as { db: Database.Database }).db;
    db.pragma('busy_timeout = 0');
    const other = new Database(j.file);
    defer(() => other.close());
    other.exec('BEGIN IMMEDIATE'); // another writer holds the lock: the persist fails
    await j.close();
    other.exec('ROLLBACK');

    expect(clock.armed).toBe(0); // before the fix: the retry, on a closed file
    clock.advance(10_000);
    expect(clock.armed).toBe(0);

    // The acknowledgement was not recorded: 1 and 2 go to Kafka again (same weir-seq), none is lost.
    const again = new SqliteJournal(makeContext({ dataDir: dir }, new ManualClock()));
    again.open();
    defer(() => again.close());
    expect(again.read(0, 10, Infinity).map((r) => r.seq)).toEqual([1, 2, 3]);
  });
});

describe('SqliteJournal.ack() after close()', () => {
  it('ignores Kafka\'s answer to a send that outlived the stop, instead of throwing on the closed file', async () => {
    const clock = new CountingClock();
    const dir = tempDir();
    const j = new SqliteJournal(makeContext({ dataDir: dir, journal: { commitIntervalMs: 0 } }, clock));
    j.open();
    for (let i = 1; i <= 3; i++) await appendAsync(j, { stream: 'readings', key: 'dev-1', received: clock.now(), body: `{"i":${i}}` });
    await j.close();
    expect(() => j.ack(3)).not.toThrow(); // before the fix: "The database connection is not open"
    expect(clock.armed).toBe(0);
    const again = new SqliteJournal(makeContext({ dataDir: dir }, new ManualClock()));
    again.open();
    defer(() => again.close());
    expect(again.read(0, 10, Infinity).map((r) => r.seq)).toEqual([1, 2, 3]); // sent again after the restart
  });
});
