import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ClockSync, timesyncdProbe, type ClockStamp } from '../../src/core/clock-sync.js';

const MIN_PLAUSIBLE = Date.UTC(2024, 0, 1);
const THRESHOLD = 1_000;
/** The true time at which the simulated Pi booted (monotonic 0). */
const TRUE_BOOT = Date.UTC(2026, 2, 14, 9, 30);
/** What fake-hwclock restores: plausible, but weeks behind. */
const FAKE_HWCLOCK = Date.UTC(2026, 1, 20, 18, 0);

function make(clock: ManualClock, probe?: () => boolean | undefined): ClockSync {
  return new ClockSync({ clock, minPlausibleMs: MIN_PLAUSIBLE, jumpThresholdMs: THRESHOLD, probe });
}

/** A probe whose answer the test sets, counting its calls. */
function settableProbe(initial: boolean | undefined) {
  const p = { value: initial, calls: 0, fn: () => (p.calls++, p.value) };
  return p;
}

describe('ClockSync', () => {
  it('boot at 1970 then an NTP step to 2026: provisional stamps + offsetMs are their true times of receipt', () => {
    const clock = new ManualClock(0); // no RTC: the wall starts at the epoch
    const trueNow = () => TRUE_BOOT + clock.monotonic();
    const sync = make(clock);
    expect(sync.state).toBe('unsynced');

    const got: Array<{ stamp: ClockStamp; truth: number }> = [];
    const take = () => got.push({ stamp: sync.stamp(), truth: trueNow() });
    clock.advance(250);
    take();
    clock.advance(1_234);
    take();
    expect(sync.check()).toBeNull(); // steady 1970 wall: nothing to report
    clock.advance(59_999);
    take();
    take(); // two in the same millisecond
    clock.advance(3_600_017);
    take();
    clock.jumpWall(trueNow()); // NTP steps the wall to the truth...
    clock.advance(7);
    take(); // ...but this one is stamped before check() has seen the step

    expect(got.every((g) => g.stamp.unsynced)).toBe(true);
    expect(got[0]!.stamp.received).toBe(250);
    const correction = sync.check();
    expect(correction).toEqual({ reason: 'sync', offsetMs: TRUE_BOOT, provisional: got.length, at: trueNow() });
    for (const g of got) expect(g.stamp.received + correction!.offsetMs).toBe(g.truth);

    expect(sync.state).toBe('synced');
    clock.advance(10);
    expect(sync.stamp()).toEqual({ received: trueNow(), unsynced: false });
    expect(sync.check()).toBeNull();
  });

  it('without a probe, a step onto another implausible time is no sync and keeps one offset valid for every stamp', () => {
    const clock = new ManualClock(0);
    const trueNow = () => TRUE_BOOT + clock.monotonic();
    const sync = make(clock);
    clock.advance(1_000);
    const before = { stamp: sync.stamp(), truth: trueNow() };
    clock.jumpWall(Date.UTC(2001, 0, 1)); // a bogus step (e.g. a bad RTC hat): still before MIN_PLAUSIBLE
    expect(sync.check()).toBeNull();
    expect(sync.state).toBe('unsynced');
    clock.advance(5_000);
    const after = { stamp: sync.stamp(), truth: trueNow() };
    // Stamps stay on the boot timeline: the bogus wall did not move them.
    expect(after.stamp).toEqual({ received: 6_000, unsynced: true });
    clock.jumpWall(trueNow());
    const c = sync.check()!;
    expect(c.reason).toBe('sync');
    expect(c.provisional).toBe(2);
    expect(before.stamp.received + c.offsetMs).toBe(before.truth);
    expect(after.stamp.received + c.offsetMs).toBe(after.truth);
  });

  it('minPlausibleMs itself is plausible when check() sees a step onto it', () => {
    const clock = new ManualClock(0);
    const sync = make(clock);
    clock.jumpWall(MIN_PLAUSIBLE - 1);
    expect(sync.check()).toBeNull();
    clock.jumpWall(MIN_PLAUSIBLE);
    expect(sync.check()).toEqual({ reason: 'sync', offsetMs: MIN_PLAUSIBLE, provisional: 0, at: MIN_PLAUSIBLE });
  });

  it('without a probe, a wall that becomes plausible by running or by a step within the threshold is no sync', () => {
    const clock = new ManualClock(MIN_PLAUSIBLE - 500);
    const sync = make(clock);
    expect(sync.state).toBe('unsynced');
    clock.advance(600); // the wall crosses MIN_PLAUSIBLE by running, not by stepping
    expect(sync.check()).toBeNull();
    clock.jumpWall(clock.now() + THRESHOLD); // exactly the threshold: not yet a step
    expect(sync.check()).toBeNull();
    expect(sync.state).toBe('unsynced');
    clock.jumpWall(clock.now() + 1); // the anchor did not move, so the steps add up: now beyond
    expect(sync.check()).toMatchObject({ reason: 'sync', offsetMs: THRESHOLD + 1 });
  });

  it('probe-driven sync without a step: offsetMs 0 and the provisional count', () => {
    const clock = new ManualClock(FAKE_HWCLOCK);
    const probe = settableProbe(false);
    const sync = make(clock, probe.fn);
    expect(sync.state).toBe('unsynced'); // plausible wall, but the OS says not synced
    clock.advance(100);
    expect(sync.stamp()).toEqual({ received: FAKE_HWCLOCK + 100, unsynced: true });
    expect(sync.check()).toBeNull();
    clock.advance(100);
    sync.stamp();
    sync.stamp();
    expect(probe.calls).toBe(2); // constructor and check(); stamp() never asks

    probe.value = true;
    clock.advance(50);
    expect(sync.check()).toEqual({ reason: 'sync', offsetMs: 0, provisional: 3, at: FAKE_HWCLOCK + 250 });
    expect(sync.state).toBe('synced');
    expect(sync.stamp().unsynced).toBe(false);
  });

  it('with a probe the probe is trusted: a step while it says false is no sync, and the later sync covers it', () => {
    const clock = new ManualClock(FAKE_HWCLOCK);
    const trueNow = () => TRUE_BOOT + clock.monotonic();
    const probe = settableProbe(false);
    const sync = make(clock, probe.fn);
    clock.advance(2_000);
    const first = { stamp: sync.stamp(), truth: trueNow() };
    clock.jumpWall(trueNow());
    expect(sync.check()).toBeNull(); // stepped onto a plausible time, but the probe says no
    expect(sync.state).toBe('unsynced');
    clock.advance(3_000);
    const second = { stamp: sync.stamp(), truth: trueNow() };
    probe.value = true;
    const c = sync.check()!;
    expect(c).toEqual({ reason: 'sync', offsetMs: TRUE_BOOT - FAKE_HWCLOCK, provisional: 2, at: trueNow() });
    expect(first.stamp.received + c.offsetMs).toBe(first.truth);
    expect(second.stamp.received + c.offsetMs).toBe(second.truth);
  });

  it('a plausible wall is synced at construction when the probe says true or does not know', () => {
    expect(make(new ManualClock(TRUE_BOOT)).state).toBe('synced');
    expect(make(new ManualClock(TRUE_BOOT), () => undefined).state).toBe('synced');
    expect(make(new ManualClock(TRUE_BOOT), () => true).state).toBe('synced');
    expect(make(new ManualClock(MIN_PLAUSIBLE)).state).toBe('synced'); // the bound itself is plausible
    expect(make(new ManualClock(MIN_PLAUSIBLE - 1), () => true).state).toBe('unsynced');
  });

  it('a backwards jump while synced is reported with its size, and stamps follow it only after check()', () => {
    const clock = new ManualClock(TRUE_BOOT);
    const probe = settableProbe(true);
    const sync = make(clock, probe.fn);
    clock.advance(5_000);
    const last = sync.stamp().received;
    expect(last).toBe(TRUE_BOOT + 5_000);
    expect(sync.check()).toBeNull();
    expect(probe.calls).toBe(1); // a quiet check while synced does not ask the probe

    clock.jumpWall(clock.now() - 3_600_000);
    clock.advance(1);
    // Not yet checked: the stamp stays on the old timeline and does not go back.
    expect(sync.stamp()).toEqual({ received: last + 1, unsynced: false });
    expect(sync.check()).toEqual({ reason: 'jump', offsetMs: -3_600_000, provisional: 0, at: TRUE_BOOT + 5_001 - 3_600_000 });
    expect(sync.state).toBe('synced'); // still plausible, probe still true
    expect(sync.stamp()).toEqual({ received: TRUE_BOOT + 5_001 - 3_600_000, unsynced: false });
    expect(sync.stats()).toEqual({ jumps: 1, syncs: 0, provisional: 0 });
  });

  it('a forward jump while synced is reported too, one step beyond the threshold', () => {
    const clock = new ManualClock(TRUE_BOOT);
    const sync = make(clock);
    clock.jumpWall(clock.now() + THRESHOLD + 1);
    expect(sync.check()).toEqual({ reason: 'jump', offsetMs: THRESHOLD + 1, provisional: 0, at: TRUE_BOOT + THRESHOLD + 1 });
    expect(sync.check()).toBeNull(); // re-anchored: the same step is not reported twice
  });

  it('small slew is followed without a correction and does not accumulate into a jump', () => {
    const clock = new ManualClock(TRUE_BOOT);
    const sync = make(clock);
    for (let i = 0; i < 5; i++) {
      clock.advance(1_000);
      clock.jumpWall(clock.now() + 400); // 5 × 400 ms = 2 s in total, each under the threshold
      expect(sync.check()).toBeNull();
      expect(sync.stamp().received).toBe(clock.now());
    }
    clock.jumpWall(clock.now() + THRESHOLD); // exactly the threshold is still slew
    expect(sync.check()).toBeNull();
    expect(sync.stamp().received).toBe(clock.now());
    expect(sync.stats().jumps).toBe(0);
  });

  it('a small backwards slew holds stamps still instead of moving them back', () => {
    const clock = new ManualClock(TRUE_BOOT);
    const sync = make(clock);
    clock.advance(1_000);
    const high = sync.stamp().received;
    clock.jumpWall(clock.now() - 300);
    expect(sync.check()).toBeNull();
    expect(sync.stamp().received).toBe(high); // the wall is now 300 ms behind the last stamp
    clock.advance(299);
    expect(sync.stamp().received).toBe(high);
    clock.advance(2);
    expect(sync.stamp().received).toBe(high + 1); // caught up: following the wall again
    expect(clock.now()).toBe(high + 1);
  });

  it('stamps never go backwards while the wall is steady, and equal the wall', () => {
    const clock = new ManualClock(TRUE_BOOT);
    const sync = make(clock);
    let prev = -Infinity;
    const steps = [0, 1, 0, 7, 999, 1_000, 1_001, 0, 3, 60_000];
    for (const [i, ms] of steps.entries()) {
      clock.advance(ms);
      if (i % 3 === 0) expect(sync.check()).toBeNull();
      const s = sync.stamp();
      expect(s.received).toBe(clock.now());
      expect(s.received).toBeGreaterThanOrEqual(prev);
      prev = s.received;
    }
  });

  it('goes back to unsynced on a jump to an implausible time, and the next sync corrects what came after it', () => {
    const clock = new ManualClock(TRUE_BOOT);
    const trueNow = () => TRUE_BOOT + clock.monotonic();
    const sync = make(clock);
    clock.advance(10_000);
    expect(sync.stamp().unsynced).toBe(false);
    clock.jumpWall(86_400_000); // back to 2 January 1970
    expect(sync.check()).toEqual({ reason: 'jump', offsetMs: 86_400_000 - trueNow(), provisional: 0, at: 86_400_000 });
    expect(sync.state).toBe('unsynced');

    clock.advance(500);
    const a = { stamp: sync.stamp(), truth: trueNow() };
    clock.advance(500);
    const b = { stamp: sync.stamp(), truth: trueNow() };
    expect(a.stamp).toEqual({ received: 86_400_500, unsynced: true });
    clock.jumpWall(trueNow());
    const c = sync.check()!;
    expect(c.reason).toBe('sync');
    expect(c.provisional).toBe(2); // only the stamps since the jump, not the synced ones before it
    expect(a.stamp.received + c.offsetMs).toBe(a.truth);
    expect(b.stamp.received + c.offsetMs).toBe(b.truth);
  });

  it('goes back to unsynced on a jump when the probe then says false', () => {
    const clock = new ManualClock(TRUE_BOOT);
    const probe = settableProbe(true);
    const sync = make(clock, probe.fn);
    probe.value = false; // not consulted without a jump: stays synced
    clock.advance(1_000);
    expect(sync.check()).toBeNull();
    expect(sync.state).toBe('synced');
    clock.jumpWall(clock.now() + 2 * THRESHOLD); // plausible, but now the probe is asked
    expect(sync.check()?.reason).toBe('jump');
    expect(sync.state).toBe('unsynced');
    expect(sync.stamp().unsynced).toBe(true);
  });

  it('treats a probe that throws as unknown', () => {
    const boom = () => {
      throw new Error('EACCES');
    };
    // Plausible wall: synced at construction, as with undefined.
    const clock = new ManualClock(TRUE_BOOT);
    const synced = make(clock, boom);
    expect(synced.state).toBe('synced');
    clock.jumpWall(clock.now() + 5_000);
    expect(synced.check()?.reason).toBe('jump'); // the probe is asked here and throws: not false
    expect(synced.state).toBe('synced');

    // 1970 wall: a step onto a plausible time is the sync, as with no probe at all.
    const clock2 = new ManualClock(0);
    const unsynced = make(clock2, boom);
    expect(unsynced.state).toBe('unsynced');
    clock2.advance(100);
    unsynced.stamp();
    expect(unsynced.check()).toBeNull();
    clock2.jumpWall(TRUE_BOOT);
    expect(unsynced.check()).toEqual({ reason: 'sync', offsetMs: TRUE_BOOT - 100, provisional: 1, at: TRUE_BOOT });
  });

  it('stats counts jumps, syncs and provisional stamps in total', () => {
    const clock = new ManualClock(0);
    const sync = make(clock);
    expect(sync.stats()).toEqual({ jumps: 0, syncs: 0, provisional: 0 });
    sync.stamp();
    sync.stamp();
    clock.jumpWall(TRUE_BOOT);
    expect(sync.check()?.provisional).toBe(2);
    sync.stamp(); // synced: not counted
    clock.jumpWall(TRUE_BOOT + 10_000);
    sync.check();
    clock.jumpWall(0); // implausible: a jump, and unsynced again
    sync.check();
    sync.stamp();
    sync.stamp();
    sync.stamp();
    clock.jumpWall(TRUE_BOOT + 20_000);
    expect(sync.check()?.provisional).toBe(3);
    const s = sync.stats();
    expect(s).toEqual({ jumps: 2, syncs: 2, provisional: 5 });
    s.jumps = 99; // a copy: the caller cannot change the counters
    expect(sync.stats().jumps).toBe(2);
  });

  it('rejects options it cannot work with', () => {
    const clock = new ManualClock();
    expect(() => new ClockSync({ clock, minPlausibleMs: NaN, jumpThresholdMs: 1_000 })).toThrow(RangeError);
    expect(() => new ClockSync({ clock, minPlausibleMs: MIN_PLAUSIBLE, jumpThresholdMs: 0 })).toThrow(/jumpThresholdMs/);
    expect(() => new ClockSync({ clock, minPlausibleMs: MIN_PLAUSIBLE, jumpThresholdMs: Infinity })).toThrow(RangeError);
  });
});

describe('timesyncdProbe', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('is undefined without the directory, false before the sync, true after it', () => {
    dir = mkdtempSync(join(tmpdir(), 'weir-timesync-'));
    const runDir = join(dir, 'timesync');
    const probe = timesyncdProbe(runDir);
    expect(probe()).toBeUndefined(); // no timesyncd (another NTP daemon, or none)
    mkdirSync(runDir);
    expect(probe()).toBe(false); // timesyncd runs, not synced yet
    writeFileSync(join(runDir, 'synchronized'), '');
    expect(probe()).toBe(true);
  });

  it('drives ClockSync: unsynced until the flag file appears', () => {
    dir = mkdtempSync(join(tmpdir(), 'weir-timesync-'));
    const clock = new ManualClock(FAKE_HWCLOCK);
    const sync = make(clock, timesyncdProbe(dir));
    expect(sync.state).toBe('unsynced');
    sync.stamp();
    writeFileSync(join(dir, 'synchronized'), '');
    expect(sync.check()).toEqual({ reason: 'sync', offsetMs: 0, provisional: 1, at: FAKE_HWCLOCK });
  });
});
