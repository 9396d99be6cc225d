// Aggregates and alerts of a device that sends no event time, while the gateway clock is
// not synced yet (a Pi without RTC boots in 1970): its readings' event time is the
// gateway's provisional time, so its windows lie on the provisional timeline. Derived
// records are treated as the readings are (journal/clock-corrections.ts): marked
// "clock":"unsynced" and, once the clock syncs, read for Kafka with their times — the
// window bounds, an alert's ts — moved by the sync's offset and marked "corrected".
// A window still open at the sync is emitted already corrected. Devices with their own
// event time are not touched. Exact across SIGKILL + restart, and across a checkpoint
// taken at any point. Real SQLite files; a ManualClock drives commits: nothing sleeps.
import { describe, expect, it } from 'vitest';
import { AnalyticsStage } from '../../../src/analytics/analytics-stage.js';
import type { AnalyticsDeclarations } from '../../../src/analytics/declarations.js';
import { ManualClock } from '../../../src/core/clock.js';
import { markUnsynced } from '../../../src/journal/clock-corrections.js';
import type { JournalEntry, StoredRecord } from '../../../src/journal/journal.js';
import { JournalReader } from '../../../src/journal/journal-reader.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { killJournal, makeContext, openJournal, tempDir, turns, useCleanups } from '../support.js';

const MIN = 60_000;
const decl: AnalyticsDeclarations = {
  windows: [{ name: 'usage-1m', type: 'tumbling', sizeMs: MIN, aggregates: ['avg', 'max'], allowedLatenessMs: 5000, metrics: ['usage'], profile: 'cpu-monitor' }],
  rules: { 'cpu-monitor': [{ name: 'usage-high', kind: 'threshold', metric: 'usage', above: 90 }] },
};

const BOOT = 5_000; // the Pi's clock at boot: 1970
const TRUE_BOOT = Date.parse('2026-11-22T06:00:00.123Z'); // what it really was: not on the 1-minute grid
const OFFSET = TRUE_BOOT - BOOT; // what the sync reports
const DEVICE_T = Date.parse('2026-11-22T06:00:00Z'); // the timed device's own clock
const received = (k: number): number => BOOT + k * 10_000; // provisional stamps, 10 s apart
const AFTER = received(15) + OFFSET + 10_000; // the first reading after the sync, true time

type Op = { read: JournalEntry } | { sync: number } | { tick: number };

const reading = (device: string, rec: number, ts: number, usage: number, unsynced: boolean): Op => {
  const body = JSON.stringify({ tags: {}, metrics: { usage } });
  return { read: { stream: 'readings', key: device, received: rec, ts, profile: 'cpu-monitor', body: unsynced ? markUnsynced(body) : body } };
};

/**
 * 'pi' sends no event time (ts = its provisional received, as the mapper sets it), every
 * 10 s for 150 s, 95 at k = 7 (fires usage-high) and 10 at k = 8 (resolves); 'plc' sends
 * its own (true) event time. Then the sync, one reading of each after it, and a tick an
 * hour later that closes the rest (idle).
 */
function ops(): Op[] {
  const out: Op[] = [];
  for (let k = 0; k <= 15; k++) {
    out.push(reading('pi', received(k), received(k), k === 7 ? 95 : k === 8 ? 10 : k, true));
    out.push(reading('plc', received(k), DEVICE_T + k * 10_000, k, true));
  }
  out.push({ sync: OFFSET });
  out.push(reading('pi', AFTER, AFTER, 1, false), reading('plc', AFTER, DEVICE_T + 200_000, 1, false));
  out.push({ tick: AFTER + 3_600_000 });
  return out;
}

const defer = useCleanups();

function start(dataDir: string, clock: ManualClock, checkpointIntervalMs: number): SqliteJournal {
  const ctx = makeContext({ dataDir, analytics: { checkpointIntervalMs }, journal: { commitIntervalMs: 1, commitFillBytes: 0 } }, clock);
  const j = new SqliteJournal(ctx);
  j.setProcessor(new AnalyticsStage(ctx, decl), ctx.config.analytics.checkpointIntervalMs);
  return openJournal(j, defer);
}

/**
 * Each op in its own commit, 100 ms of clock apart (so a checkpoint after every commit,
 * or every third); killed without close() after the ops in `crashAfter`, and reopened.
 */
async function run(dir: string, crashAfter: ReadonlySet<number> = new Set(), checkpointMs = 100): Promise<{ j: SqliteJournal; restarts: number }> {
  const clock = new ManualClock(BOOT);
  let j = start(dir, clock, checkpointMs);
  let restarts = 0;
  for (const [i, op] of ops().entries()) {
    if ('read' in op) j.append(op.read, () => undefined);
    else if ('sync' in op) j.correctClock(op.sync);
    else j.tick(op.tick);
    clock.advance(100);
    await turns(2);
    if (crashAfter.has(i)) {
      killJournal(j);
      j = start(dir, clock, checkpointMs);
      restarts++;
    }
  }
  // A last record, awaited: acknowledged means durable, so everything before it is readable.
  const done = new Promise((resolve) => j.append({ stream: 'status', key: 'gw', received: AFTER, body: '{}' }, resolve));
  clock.advance(100);
  await done;
  return { j, restarts };
}

interface Agg { device: string; received: number; window_start: number; window_end: number; count: number; max: number; clock?: string; clock_offset_ms?: number }

/** The derived records as the forwarder reads them (journal-reader.ts: corrections applied). */
function forwarded(j: SqliteJournal): StoredRecord[] {
  const reader = new JournalReader(j.file);
  try {
    const records = reader.read(0, j.stats().lastSeq, 10_000, 1 << 22);
    // The writer's own read path applies the same corrections.
    expect(j.read(0, 10_000, 1 << 22)).toEqual(records);
    return records.filter((r) => r.stream === 'aggregates' || r.stream === 'alerts');
  } finally {
    reader.close();
  }
}

const aggregates = (rs: StoredRecord[], device: string): Agg[] => rs.filter((r) => r.stream === 'aggregates' && r.key === device)
  .map((r) => {
    const { window_start, window_end, count, max, clock, clock_offset_ms } = JSON.parse(r.body) as Agg;
    return { device, received: r.received, window_start, window_end, count, max, clock, clock_offset_ms };
  });

const corrected = { clock: 'corrected', clock_offset_ms: OFFSET };

describe('derived records of readings stamped with the provisional gateway time', () => {
  it('are forwarded with window bounds and alert times corrected by the sync offset; a device with its own time is untouched', async () => {
    const { j } = await run(tempDir());
    const rs = forwarded(j);
    // The provisional grid (1970, minute windows from 0) moved by the offset: same lengths,
    // not aligned on the true minute. The first two closed before the sync (marked, then
    // corrected as read), the third after it (emitted corrected).
    expect(aggregates(rs, 'pi')).toEqual([
      { device: 'pi', received: received(6) + OFFSET, window_start: OFFSET, window_end: MIN + OFFSET, count: 6, max: 5, ...corrected },
      { device: 'pi', received: received(12) + OFFSET, window_start: MIN + OFFSET, window_end: 2 * MIN + OFFSET, count: 6, max: 95, ...corrected },
      { device: 'pi', received: AFTER, window_start: 2 * MIN + OFFSET, window_end: 3 * MIN + OFFSET, count: 4, max: 15, ...corrected },
      // After the sync, true time: the true grid, no marker.
      { device: 'pi', received: AFTER + 3_600_000, window_start: Math.floor(AFTER / MIN) * MIN, window_end: Math.floor(AFTER / MIN) * MIN + MIN, count: 1, max: 1, clock: undefined, clock_offset_ms: undefined },
    ]);
    const alerts = rs.filter((r) => r.stream === 'alerts').map((r) => ({ device: r.key, ts: r.ts, received: r.received, ...(JSON.parse(r.body) as { state: string; value: number; clock?: string }) }));
    expect(alerts).toEqual([
      expect.objectContaining({ device: 'pi', state: 'firing', value: 95, ts: received(7) + OFFSET, received: received(7) + OFFSET, ...corrected }),
      expect.objectContaining({ device: 'pi', state: 'resolved', value: 10, ts: received(8) + OFFSET, received: received(8) + OFFSET, ...corrected }),
    ]);
    // The device's own clock: its windows were right all along.
    const plc = aggregates(rs, 'plc');
    expect(plc.map((a) => [a.window_start - DEVICE_T, a.count, a.clock])).toEqual([[0, 6, undefined], [MIN, 6, undefined], [2 * MIN, 4, undefined], [3 * MIN, 1, undefined]]);
  });

  it('killed without close() after any op and restarted: the same derived records, with the same sequences', async () => {
    const straight = forwarded((await run(tempDir())).j);
    const n = ops().length;
    // Restored from a checkpoint taken just before the crash, or from an older one and the journal's replay.
    for (const checkpointMs of [100, 300]) {
      for (const phase of [0, 1, 2]) {
        const crashes = new Set(Array.from({ length: n - 1 }, (_, i) => i).filter((i) => i % 3 === phase));
        const { j, restarts } = await run(tempDir(), crashes, checkpointMs);
        expect(restarts).toBe(crashes.size);
        expect(forwarded(j)).toEqual(straight);
      }
    }
  });
});
