// PathWatch (src/sources/serial/path-watch.ts) on a manual clock, over a real file as
// the port's path and a FAKE handle (only its identity matters here).
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serialPortSchema } from '../../../src/config/serial-schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { SerialPortHandle } from '../../../src/sources/serial/open-port.js';
import { PathWatch, WATCH_INTERVAL_MS } from '../../../src/sources/serial/path-watch.js';
import { createPortCtx } from '../../../src/sources/serial/port-ctx.js';
import { cleanupTempDirs, makeContext, tempDir } from '../support.js';

afterEach(cleanupTempDirs);

/** A manual clock that also counts its armed timers. */
class CountingClock extends ManualClock {
  armed = 0;
  override setTimer(ms: number, fn: () => void): () => void {
    this.armed++;
    let live = true;
    const cancel = super.setTimer(ms, () => {
      live = false;
      this.armed--;
      fn();
    });
    return () => {
      if (live) this.armed--;
      live = false;
      cancel();
    };
  }
}

/** Lets the real stat() of the path answer. */
const statAnswers = () => new Promise((r) => setTimeout(r, 50));

function watch() {
  const path = join(tempDir(), 'ttyFAKE0');
  writeFileSync(path, '');
  const clock = new CountingClock();
  const ctx = createPortCtx(makeContext({}, clock), serialPortSchema.parse({ name: 'meter', path }));
  const handle = {} as SerialPortHandle;
  const lost: string[] = [];
  const w = new PathWatch(ctx, { current: () => handle, lost: (_h, err) => void lost.push(err.message) });
  return { w, clock, handle, lost, path };
}

describe('PathWatch', () => {
  it('checks the path every WATCH_INTERVAL_MS and reports it lost when it disappears', async () => {
    const t = watch();
    t.w.start(t.handle);
    await statAnswers();
    t.clock.advance(WATCH_INTERVAL_MS);
    await statAnswers();
    expect(t.clock.armed).toBe(1); // still there: the next check is armed
    rmSync(t.path);
    t.clock.advance(WATCH_INTERVAL_MS);
    await statAnswers();
    expect(t.lost).toEqual([`${t.path} disappeared`]);
    expect(t.clock.armed).toBe(0);
  });

  it('a check in flight at stop() neither re-arms nor reports (halt() keeps the handle until close())', async () => {
    const t = watch();
    t.w.start(t.handle);
    t.clock.advance(WATCH_INTERVAL_MS); // the check's stat() is now in flight
    t.w.stop();
    rmSync(t.path); // even a loss it would see goes unreported
    await statAnswers();
    expect(t.clock.armed).toBe(0);
    expect(t.lost).toEqual([]);
  });
});
