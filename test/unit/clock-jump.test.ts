// A gateway clock that steps (a jump, core/clock-sync.ts) moves the processing times
// analytics keeps — each device's last reading for the idle timeout — with it, as a sync
// does: elapsed processing time follows the monotonic clock, so a step neither makes
// every device look silent (forward) nor makes a silent one wait for years (a step to
// an implausible time, then the NTP sync back). In-process gateway on a ManualClock,
// Kafka stubbed out: every record stays in the journal, where the test reads it.
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import { JournalReader } from '../../src/journal/journal-reader.js';
import { startGateway } from './gateway-harness.js';
import { turns, useCleanups } from './support.js';

const T = Date.parse('2026-06-01T00:00:00Z'); // plausible: the gateway starts synced
const IDLE = 60_000;

const defer = useCleanups();

const start = (clock: ManualClock): Promise<Gateway> => startGateway(clock, defer, {
  gateway: { clock: { probe: 'none', jumpThresholdMs: 2000 } },
  journal: { commitFillBytes: 0 }, analytics: { idleTimeoutMs: IDLE, tickIntervalMs: 1000 },
});

/** One cpu-monitor reading over HTTP ingest, committed (the clock moves 10 ms for the group commit). */
async function send(gw: Gateway, clock: ManualClock, hostname: string, ts: number): Promise<void> {
  const done = new Promise((resolve) => gw.ingest.submit({
    protocol: 'http', topic: 'iot-data-input', client: hostname, maxBytes: 65_536,
    payload: Buffer.from(JSON.stringify({ hostname, cpu: 'cpu0', usage: 1, occurred_at: ts })),
  }, resolve));
  clock.advance(10);
  await turns(2);
  await done;
}

/** Moves the clock `ms` in 1 s steps (the clock check and the analytics tick run every second). */
async function run(clock: ManualClock, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 1000) {
    clock.advance(Math.min(1000, left));
    await turns(2);
  }
}

const aggregates = (gw: Gateway) => gw.journal.read(0, 10_000, 1 << 22).filter((r) => r.stream === 'aggregates')
  .map((r) => ({ device: r.key, ...(JSON.parse(r.body) as { window_start: number; count: number; late?: number }) }));

describe('a gateway clock that jumps', () => {
  it('forward by an hour while synced: a device that keeps sending is not taken for silent', async () => {
    const clock = new ManualClock(T);
    const gw = await start(clock);
    // Every 10 s, event time = true time; the 5-minute window [T, T + 5 min) stays open throughout.
    let ts = T;
    for (; ts < T + 30_000; ts += 10_000) {
      await send(gw, clock, 'busy', ts);
      await run(clock, 10_000 - 10);
    }
    clock.jumpWall(clock.now() + 3_600_000);
    await run(clock, 3000);
    expect(gw.clockSync.stats().jumps).toBe(1);
    for (; ts < T + 90_000; ts += 10_000) {
      await send(gw, clock, 'busy', ts);
      await run(clock, 10_000 - 10);
    }
    // Nothing closed early, and so no reading became a late correction.
    expect(aggregates(gw)).toEqual([]);
    expect(gw.analytics!.stats()).toMatchObject({ openWindows: 1, lateReadings: 0 });
  });

  it('to 1970 and back at the NTP sync: a device silent since before the jump gets its windows closed after the idle timeout', async () => {
    const clock = new ManualClock(T);
    const gw = await start(clock);
    await send(gw, clock, 'quiet', T);
    await run(clock, 5000);
    clock.jumpWall(5_000); // the wall steps to an implausible time: unsynced again
    await run(clock, 20_000);
    expect(gw.clockSync.state).toBe('unsynced');
    clock.jumpWall(T + clock.monotonic()); // NTP: the true time again
    await run(clock, 2000);
    expect(gw.clockSync.state).toBe('synced');
    await run(clock, IDLE - 27_000); // ticks up to T + IDLE: silent for IDLE, not more
    expect(gw.analytics!.stats().openWindows).toBe(1);
    await run(clock, 1000); // the tick at T + IDLE + 1 s closes it
    expect(gw.analytics!.stats().openWindows).toBe(0);
    // Derived records become readable once their commit is durable (a real fsync).
    await vi.waitFor(() => expect(aggregates(gw).map((a) => [a.device, a.window_start, a.count, a.late])).toEqual([['quiet', T, 1, undefined]]));
  });
});

describe('a status record stamped before the clock syncs', () => {
  it('is marked, and forwarded with its received time corrected, like a reading', async () => {
    const clock = new ManualClock(5_000); // an implausible wall clock: unsynced from the start
    const gw = await start(clock);
    expect(gw.clockSync.state).toBe('unsynced');
    await run(clock, 1000);
    const trueTime = T + clock.monotonic();
    gw.emitStatus('probe');
    await run(clock, 1000);
    clock.jumpWall(T + clock.monotonic()); // NTP: the true time
    await run(clock, 2000);
    expect(gw.clockSync.state).toBe('synced');
    // What the forwarder reads (journal-reader.ts applies the corrections).
    const reader = new JournalReader(gw.journal.file);
    try {
      await vi.waitFor(() => {
        const status = reader.read(0, gw.journal.stats().lastSeq, 1000, 1 << 22).filter((r) => r.stream === 'status' && r.body.includes('"probe"'));
        expect(status).toHaveLength(1);
        expect(status[0]!.received).toBe(trueTime);
        expect(JSON.parse(status[0]!.body)).toMatchObject({ event: 'probe', clock: 'corrected' });
      });
    } finally {
      reader.close();
    }
  });
});
