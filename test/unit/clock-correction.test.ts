// A gateway clock that is not synced yet (a Pi without RTC boots in 1970): records are
// stamped with provisional received times from the monotonic clock and marked; at the
// simulated NTP sync, one correction is journaled, and every record read for Kafka —
// by the writer and by the forwarder thread's reader — carries the true time of
// receipt, marked as corrected. Readings without a device time get the corrected
// gateway time as their event time. ManualClock throughout: nothing sleeps.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ClockSync } from '../../src/core/clock-sync.js';
import { Ingest } from '../../src/ingest/ingest.js';
import { JournalReader } from '../../src/journal/journal-reader.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { makeContext, tempDir, turns, useCleanups } from './support.js';

const PROFILE = `name: probe
match: [{ protocol: mqtt, topic: 'probe/{device}' }]
device: { segment: device }
metrics: { v: { field: v } }
samples: [{ topic: probe/p1, payload: '{"v": 1}', expect: [{ device: p1, metrics: { v: 1 } }] }]
`;

const defer = useCleanups();

/**
 * A journal in dir/data and an Ingest stamping through a ClockSync on `clock`, wired as
 * the gateway wires them; the clock counts as synced from 2026 on.
 */
function wired(dir: string, clock: ManualClock, profileDirs: string[]) {
  const ctx = makeContext({ dataDir: join(dir, 'data'), journal: { commitIntervalMs: 1, commitFillBytes: 0 } }, clock);
  const journal = new SqliteJournal(ctx);
  journal.open();
  defer(() => journal.close());
  const sync = new ClockSync({ clock, minPlausibleMs: Date.parse('2026-01-01T00:00:00Z'), jumpThresholdMs: 2000 });
  const ingest = new Ingest(ctx, journal, loadProfilesOrThrow(profileDirs), () => sync.stamp());
  ingest.open();
  return { journal, sync, ingest };
}

describe('gateway clock correction', () => {
  it('corrects the received times stamped before the sync, and the event time of readings stamped by the gateway', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'probe.yaml'), PROFILE);
    const BOOT = 5_000; // 1970: the Pi's clock at boot
    const TRUE_BOOT = Date.parse('2026-11-22T06:00:00Z');
    const clock = new ManualClock(BOOT);
    const { journal, sync, ingest } = wired(dir, clock, [dir]);
    expect(sync.state).toBe('unsynced');
    const acked: Array<Promise<unknown>> = [];
    const submit = (device: string, v: number) => acked.push(new Promise((resolve) =>
      ingest.submit({ protocol: 'mqtt', topic: `probe/${device}`, payload: Buffer.from(JSON.stringify({ v })), client: device, maxBytes: 1024 }, resolve)));

    // Three readings at boot + 1 s, + 2.5 s, + 4 s of monotonic time.
    const offsets = [1000, 2500, 4000];
    let at = 0;
    for (const [i, off] of offsets.entries()) {
      clock.advance(off - at);
      at = off;
      submit(`p${i}`, i);
    }
    clock.advance(10);
    await Promise.all(acked); // committed and flushed
    const reader = new JournalReader(journal.file);
    try {
      const before = reader.read(0, journal.stats().lastSeq, 100, 1 << 20);
      expect(before.map((r) => r.received)).toEqual(offsets.map((o) => BOOT + o));
      expect(before.every((r) => r.body.includes('"clock":"unsynced"'))).toBe(true);

      // NTP steps the wall clock to the true time; the next check reports the sync.
      clock.jumpWall(TRUE_BOOT + clock.monotonic());
      const c = sync.check();
      expect(c).toMatchObject({ reason: 'sync', offsetMs: TRUE_BOOT - BOOT, provisional: 3 });
      journal.correctClock(c!.offsetMs);
      clock.advance(500);
      submit('p9', 9); // after the sync: a true stamp, no marker
      clock.advance(10);
      await Promise.all(acked);

      for (const records of [journal.read(0, 100, 1 << 20), reader.read(0, journal.stats().lastSeq, 100, 1 << 20)]) {
        expect(records.map((r) => r.received)).toEqual([...offsets.map((o) => TRUE_BOOT + o), TRUE_BOOT + 4010 + 500]);
        // No device time in this profile: the event time is the (corrected) gateway time.
        expect(records.map((r) => r.ts)).toEqual(records.map((r) => r.received));
        for (const r of records.slice(0, 3)) expect(JSON.parse(r.body)).toMatchObject({ clock: 'corrected', clock_offset_ms: TRUE_BOOT - BOOT });
        expect(JSON.parse(records[3]!.body).clock).toBeUndefined();
      }
    } finally {
      reader.close();
    }
  });

  it('corrects the marker ingest appended, not a device tag that reads the same', async () => {
    // A device reporting its own NTP state as a tag: "tags":{"clock":"unsynced"} is
    // data, and must reach Kafka as sent (tags map names to strings, PRODUCT.md).
    const dir = tempDir();
    writeFileSync(join(dir, 'probe.yaml'), PROFILE.replace('metrics:', 'tags: { clock: { field: clock } }\nmetrics:'));
    const clock = new ManualClock(5_000);
    const { journal, sync, ingest } = wired(dir, clock, [dir]);
    const acked = new Promise((resolve) => ingest.submit({ protocol: 'mqtt', topic: 'probe/p1', payload: Buffer.from('{"v":1,"clock":"unsynced"}'), client: 'p1', maxBytes: 1024 }, resolve));
    clock.advance(10);
    await acked;
    const TRUE_NOW = Date.parse('2026-11-22T06:00:00Z');
    clock.jumpWall(TRUE_NOW);
    const offset = sync.check()!.offsetMs;
    journal.correctClock(offset);
    clock.advance(10);
    await turns(3);
    const [r] = journal.read(0, 10, 1 << 20);
    expect(r!.received).toBe(5_000 + offset);
    expect(JSON.parse(r!.body)).toEqual({ tags: { clock: 'unsynced' }, metrics: { v: 1 }, clock: 'corrected', clock_offset_ms: offset });
  });

  it('leaves device time alone: only the gateway stamps move', async () => {
    const dir = tempDir();
    const clock = new ManualClock(5_000);
    const { journal, sync, ingest } = wired(dir, clock, [new URL('../../device-profiles/', import.meta.url).pathname]);
    const ts = Date.parse('2026-11-22T07:00:00Z');
    const acked = new Promise((resolve) => ingest.submit({ protocol: 'mqtt', topic: 'iot-data-input', payload: Buffer.from(JSON.stringify({ hostname: 'h', cpu: 'cpu0', usage: 5, occurred_at: ts })), client: 'h', maxBytes: 1024 }, resolve));
    clock.advance(10);
    await acked;
    clock.jumpWall(Date.parse('2026-11-22T07:00:05Z'));
    journal.correctClock(sync.check()!.offsetMs);
    clock.advance(10);
    await turns(3);
    const [r] = journal.read(0, 10, 1 << 20);
    expect(r!.ts).toBe(ts);
    expect(r!.received).toBe(Date.parse('2026-11-22T07:00:05Z') - 10);
  });
});
