// /api/status and `weir status` report uplink.ackedThrough, the highest sequence Kafka
// acknowledged. At start that is the journal's persisted mark (acked_through), whichever
// thread the forwarder runs in: the forwarder's thread is handed it when spawned; here,
// the forwarder in the gateway's thread (kafka.workerThread: false, gateway-harness.ts),
// with a Kafka that never answers, so the mark can only come from the journal.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { startGateway } from './gateway-harness.js';
import { makeContext, tempDir, useCleanups } from './support.js';

const defer = useCleanups();

const entry = (i: number): JournalEntry => ({ stream: 'readings', key: 'dev-1', received: 1_780_000_000_000 + i, ts: i, profile: 'p', body: `{"i":${i}}` });

describe('uplink status at start, forwarder in the gateway thread', () => {
  it('reports as acknowledged what the journal already had acknowledged', async () => {
    const clock = new ManualClock(Date.parse('2026-06-01T00:00:00Z'));
    const dataDir = tempDir();
    // A previous run: 8 records committed, Kafka acknowledged the first 5.
    const before = new SqliteJournal(makeContext({ dataDir, journal: { commitFillBytes: 0 } }, clock));
    before.open();
    const done = Array.from({ length: 8 }, (_, i) => new Promise<void>((resolve, reject) => before.append(entry(i + 1), (err) => (err ? reject(err) : resolve()))));
    await clock.advance(10);
    await Promise.all(done);
    before.ack(5);
    await before.close();

    const gw = await startGateway(clock, defer, { dataDir });
    expect(gw.journal.stats().ackedThrough).toBe(5);
    expect(gw.status().uplink).toMatchObject({ state: 'connecting', ackedThrough: 5 });
  });
});
