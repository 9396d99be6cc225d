// The self-healing journal: a journal file that fails SQLite's integrity check at open is
// moved aside (with its WAL) instead of crashing the gateway at every restart; a fresh
// journal starts with every unsent record that could still be read, under its original
// sequence, and the sequence continues above everything the old file held.
import { closeSync, existsSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { makeContext, tempDir, turns, useCleanups } from './support.js';

const defer = useCleanups();

function open(dataDir: string) {
  const clock = new ManualClock();
  // commitFillBytes 0: a group commits after commitIntervalMs, within the clock steps below.
  const ctx = makeContext({ dataDir, journal: { segmentRecords: 1000, commitFillBytes: 0 } }, clock);
  const j = new SqliteJournal(ctx);
  j.open();
  defer(() => j.close());
  return { j, clock, ctx };
}

const entry = (i: number): JournalEntry => ({ stream: 'readings', key: `d${i % 3}`, received: 1_700_000_000_000 + i, body: JSON.stringify({ i, pad: 'p'.repeat(100) }) });

async function write(dataDir: string, n: number, ackThrough: number): Promise<void> {
  const { j, clock } = open(dataDir);
  for (let i = 0; i < n; i++) j.append(entry(i), () => undefined);
  clock.advance(10);
  await turns(3);
  j.ack(ackThrough);
  await j.close();
}

/** Overwrites `bytes` bytes at `offset` with garbage: a torn or rotten page. */
function corrupt(file: string, offset: number, bytes: number): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(bytes, 0xa5), 0, bytes, offset);
  closeSync(fd);
}

describe('journal integrity check', () => {
  it('a sound journal opens as it is', async () => {
    const dir = tempDir();
    await write(dir, 100, 0);
    const { j } = open(dir);
    expect(j.stats().backlog.readings).toBe(100);
    expect(readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
  });

  it('a damaged page: the file is moved aside, the readable unsent records are kept under their sequences, and the journal serves', async () => {
    const dir = tempDir();
    await write(dir, 5000, 1000);
    const file = join(dir, 'journal.sqlite');
    const size = statSync(file).size;
    corrupt(file, Math.floor(size / 2 / 4096) * 4096, 4096 * 3); // three pages in the middle
    const { j, clock, ctx } = open(dir);
    const aside = readdirSync(dir).filter((f) => /^journal\.corrupt-.*\.sqlite$/.test(f));
    expect(aside).toHaveLength(1);
    const kept = j.read(0, 100_000, 1 << 30);
    expect(kept.length).toBeGreaterThan(1000);
    expect(kept.length).toBeLessThan(4000 + 1);
    for (const r of kept) {
      expect(r.seq).toBeGreaterThan(1000); // acknowledged ones are not resent
      expect(JSON.parse(r.body).i).toBe(r.seq - 1); // each under its original sequence, intact
    }
    expect(j.stats().lastSeq).toBe(5000);
    const seq = await new Promise<number>((resolve, reject) => {
      j.append(entry(9999), (err, s) => (err ? reject(err) : resolve(s)));
      clock.advance(10);
    });
    expect(seq).toBe(5001);
    expect(await ctx.metrics.journalQuarantined.get()).toMatchObject({ values: [{ value: 1 }] });
  });

  it('a file that is not a database at all: moved aside, a fresh journal starts', async () => {
    const dir = tempDir();
    await write(dir, 50, 0);
    corrupt(join(dir, 'journal.sqlite'), 0, 100); // the header
    const { j } = open(dir);
    expect(readdirSync(dir).some((f) => f.includes('corrupt'))).toBe(true);
    expect(existsSync(join(dir, 'journal.sqlite'))).toBe(true);
    expect(j.stats().backlog.readings).toBe(0);
  });
});
