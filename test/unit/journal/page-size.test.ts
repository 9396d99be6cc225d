// The journal's page size (src/journal/journal-file.ts, NEW_JOURNAL_PAGE_BYTES): a new
// file gets 1 KiB pages; a file made by an earlier build keeps its 4 KiB pages and
// works as before. Real SQLite files.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../../src/journal/journal.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { makeContext, tempDir, useCleanups } from '../support.js';

const defer = useCleanups();

const pageSize = (file: string): number => {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return Number(db.pragma('page_size', { simple: true }));
  } finally {
    db.close();
  }
};

function open(dataDir: string): SqliteJournal {
  const j = new SqliteJournal(makeContext({ dataDir, journal: { synchronous: 'NORMAL', commitFillBytes: 0 } }));
  j.open();
  defer(() => j.close());
  return j;
}

/** Appends `n` readings of ~200 bytes and resolves once all are committed. */
async function fill(j: SqliteJournal, n: number): Promise<void> {
  const entry = (i: number): JournalEntry => ({ stream: 'readings', key: `dev-${i % 5}`, received: 1_700_000_000_000 + i, body: `{"i":${i},"pad":"${'p'.repeat(180)}"}` });
  await Promise.all(Array.from({ length: n }, (_, i) => new Promise<void>((resolve, reject) => j.append(entry(i), (err) => (err ? reject(err) : resolve())))));
}

describe('journal page size', () => {
  it('creates a new journal with 1 KiB pages', async () => {
    const j = open(tempDir());
    await fill(j, 500);
    expect(pageSize(j.file)).toBe(1024);
    expect(j.stats().lastSeq).toBe(500);
  });

  it("keeps an existing journal's 4 KiB pages, and reads and writes it as before", async () => {
    const dir = tempDir();
    // A file as an earlier build made it: SQLite's default page size, WAL, one table.
    const file = join(dir, 'journal.sqlite');
    const old = new Database(file);
    old.pragma('auto_vacuum = INCREMENTAL');
    old.pragma('journal_mode = WAL');
    old.exec('CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
    old.close();
    expect(pageSize(file)).toBe(4096);

    const j = open(dir);
    expect(j.file).toBe(file);
    await fill(j, 500);
    expect(pageSize(file)).toBe(4096);
    const read = j.read(0, 1000, 1 << 20);
    expect(read.map((r) => r.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
  });
});
