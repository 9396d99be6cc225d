import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { Waits } from '../../../src/forwarder/waits.js';

/** Whether `p` has settled once pending microtasks ran. */
async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('Waits (the forwarder loop\'s pauses)', () => {
  it('an idle pause ends at a commit, before its time', async () => {
    const clock = new ManualClock();
    const w = new Waits(clock);
    const p = w.idle(1000);
    clock.advance(999);
    expect(await settled(p)).toBe(false);
    w.committed();
    expect(await settled(p)).toBe(true);
  });

  it('a hold (backoff, linger) ignores commits and ends at its time', async () => {
    const clock = new ManualClock();
    const w = new Waits(clock);
    const p = w.hold(50);
    for (let i = 0; i < 10; i++) w.committed();
    clock.advance(49);
    expect(await settled(p)).toBe(false);
    clock.advance(1);
    expect(await settled(p)).toBe(true);
  });

  it('interrupt() ends either kind at once and cancels its timer', async () => {
    const clock = new ManualClock();
    const w = new Waits(clock);
    const p = w.hold(10_000);
    w.interrupt();
    expect(await settled(p)).toBe(true);
    // The ended pause's timer is gone: a later pause is not ended by it.
    const q = w.idle(20_000);
    clock.advance(10_000);
    expect(await settled(q)).toBe(false);
    clock.advance(10_000);
    expect(await settled(q)).toBe(true);
  });

  it('a commit after an idle pause ended does not end the next hold', async () => {
    const clock = new ManualClock();
    const w = new Waits(clock);
    const p = w.idle(100);
    clock.advance(100);
    expect(await settled(p)).toBe(true);
    const q = w.hold(100);
    w.committed();
    expect(await settled(q)).toBe(false);
    clock.advance(100);
    expect(await settled(q)).toBe(true);
  });
});
