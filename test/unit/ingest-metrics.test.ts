// weir_received_total (issue 2: /metrics shows what was received): ingest counts every
// payload it is handed, good or dead-lettered, by protocol, and the count reaches the
// scrape exactly once — it is added to the counter when /metrics renders, not per payload.
// Real journal and bundled profiles; a ManualClock, nothing sleeps.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { Ingest, type IngestOutcome } from '../../src/ingest/ingest.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { metric, cpuReading } from '../support/gateway.js';
import { makeContext, tempDir, turns, useCleanups } from './support.js';

const defer = useCleanups();

describe('weir_received_total', () => {
  it('counts each payload once per protocol, dead letters included, across scrapes', async () => {
    const clock = new ManualClock(Date.parse('2026-11-25T09:00:00Z'));
    const ctx = makeContext({ dataDir: tempDir(), journal: { commitIntervalMs: 1, commitFillBytes: 0 } }, clock);
    const journal = new SqliteJournal(ctx);
    journal.open();
    defer(() => journal.close());
    const ingest = new Ingest(ctx, journal, loadProfilesOrThrow([BUNDLED_PROFILES_DIR]));
    ingest.open();
    const submit = async (protocol: 'mqtt' | 'http', payload: string): Promise<IngestOutcome> => {
      const p = new Promise<IngestOutcome>((resolve, reject) => ingest.submit(
        { protocol, topic: 'iot-data-input', payload: Buffer.from(payload), client: 'c1', maxBytes: 4096 },
        (err, outcome) => (err ? reject(err) : resolve(outcome)),
      ));
      clock.advance(5);
      await turns(3);
      return p;
    };
    const received = async (protocol: string) => metric(await ctx.metrics.render(), 'weir_received_total', `protocol="${protocol}"`);

    expect(await received('mqtt')).toBeUndefined(); // nothing received yet
    expect((await submit('mqtt', cpuReading('h1', 1))).readings).toBe(1);
    expect((await submit('mqtt', cpuReading('h1', 2))).readings).toBe(1);
    expect((await submit('mqtt', '{not json')).rejects).toHaveLength(1); // dead-lettered, still received
    expect((await submit('http', cpuReading('h2', 1))).readings).toBe(1);
    expect(await received('mqtt')).toBe(3);
    expect(await received('http')).toBe(1);
    expect(await received('mqtt')).toBe(3); // a second scrape adds nothing
    await submit('mqtt', cpuReading('h1', 3));
    expect(await received('mqtt')).toBe(4);
    expect(await received('http')).toBe(1);
  });
});
