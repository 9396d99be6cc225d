// A device resends a reading the gateway committed but did not acknowledge (killed before
// the PUBACK left, MQTT 3.1.1 §4.3.2). The resend must be recognised even when the stored
// record carries what the gateway added and the device's payload lacks — analytics'
// future-ts flag, the unsynced-clock mark — and across a restart; otherwise it reaches
// Kafka under a second weir-seq, which the contract rules out for duplicates.
// Real journal, real analytics stage and bundled profile; a ManualClock, nothing sleeps.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnalyticsStage } from '../../src/analytics/analytics-stage.js';
import { ManualClock } from '../../src/core/clock.js';
import { Ingest, type IngestOutcome } from '../../src/ingest/ingest.js';
import { JournalReader } from '../../src/journal/journal-reader.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { makeContext, tempDir, turns, useCleanups } from './support.js';

const NOW = Date.parse('2026-11-23T09:00:00Z');
const decl = {
  windows: [{ name: 'usage-5m', type: 'tumbling' as const, sizeMs: 300_000, aggregates: ['avg' as const], allowedLatenessMs: 10_000, groupByTags: ['cpu'], metrics: ['usage'], profile: 'cpu-monitor' }],
  rules: {},
};

const defer = useCleanups();

/** One run of the gateway's ingest path on `dir`; `unsynced` says how the gateway clock stamps. */
function run(dir: string, clock: ManualClock, stamp: { unsynced: boolean }) {
  const ctx = makeContext({ dataDir: dir, journal: { commitIntervalMs: 1, commitFillBytes: 0 }, analytics: { maxFutureSkewMs: 60_000 } }, clock);
  const journal = new SqliteJournal(ctx);
  journal.setProcessor(new AnalyticsStage(ctx, decl), ctx.config.analytics.checkpointIntervalMs);
  journal.open();
  defer(() => journal.close());
  const ingest = new Ingest(ctx, journal, loadProfilesOrThrow([BUNDLED_PROFILES_DIR]), () => ({ received: clock.now(), unsynced: stamp.unsynced }));
  ingest.open();
  const submit = async (payload: object): Promise<IngestOutcome> => {
    const p = new Promise<IngestOutcome>((resolve, reject) => ingest.submit(
      { protocol: 'mqtt', topic: 'iot-data-input', payload: Buffer.from(JSON.stringify(payload)), client: 'c1', maxBytes: 4096 },
      (err, outcome) => (err ? reject(err) : resolve(outcome)),
    ));
    clock.advance(5);
    await turns(3);
    return p;
  };
  const readings = () => {
    const reader = new JournalReader(journal.file);
    try {
      return reader.read(0, journal.stats().lastSeq, 1000, 1 << 20).filter((r) => r.stream === 'readings');
    } finally {
      reader.close();
    }
  };
  const duplicates = async () => (await ctx.metrics.duplicates.get()).values[0]?.value ?? 0;
  const close = async () => {
    await journal.close();
  };
  return { submit, readings, duplicates, close };
}

describe('resend of an annotated reading', () => {
  it('a reading flagged future-ts is recognised when resent after a restart', async () => {
    const dir = join(tempDir(), 'data');
    const clock = new ManualClock(NOW);
    const future = { hostname: 'skewed', cpu: 'cpu0', usage: 42, occurred_at: NOW + 3_600_000 };
    const a = run(dir, clock, { unsynced: false });
    await a.submit(future);
    const stored = a.readings();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.body).toContain('"flags":["future-ts"]');
    await a.close();

    const b = run(dir, clock, { unsynced: false });
    expect(await b.submit(future)).toMatchObject({ readings: 1, rejects: [] });
    expect(b.readings().map((r) => r.seq)).toEqual(stored.map((r) => r.seq));
    expect(await b.duplicates()).toBe(1);
    // A different reading of the same device still goes in.
    await b.submit({ ...future, usage: 43 });
    expect(b.readings()).toHaveLength(2);
  });

  it('a reading stamped before the clock synced is recognised when resent after the sync, in the same run and after a restart', async () => {
    const dir = join(tempDir(), 'data');
    const clock = new ManualClock(NOW);
    const stamp = { unsynced: true };
    const r1 = { hostname: 'pi', cpu: 'cpu0', usage: 10, occurred_at: NOW - 1000 };
    const r2 = { hostname: 'pi', cpu: 'cpu1', usage: 20, occurred_at: NOW - 900 };
    const a = run(dir, clock, stamp);
    await a.submit(r1);
    await a.submit(r2);
    expect(a.readings().every((r) => r.body.includes('"clock":"unsynced"'))).toBe(true);
    stamp.unsynced = false; // NTP synced
    await a.submit(r1);
    expect(a.readings()).toHaveLength(2);
    expect(await a.duplicates()).toBe(1);
    await a.close();

    const b = run(dir, clock, stamp);
    await b.submit(r2);
    expect(b.readings()).toHaveLength(2);
    expect(await b.duplicates()).toBe(1);
  });
});
