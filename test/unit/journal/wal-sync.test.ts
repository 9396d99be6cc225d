// WalSync's scheduling (src/journal/wal-sync.ts). The flush itself is a stand-in here
// that the test completes by hand, so each interleaving is exact; the real fdatasync on
// the real WAL is checked in wal-flush.test.ts under strace.
import { describe, expect, it } from 'vitest';
import { isWeirError } from '../../../src/core/errors.js';
import { configSchema } from '../../../src/config/schema.js';
import { WalSync } from '../../../src/journal/wal-sync.js';
import { turns } from '../support.js';

/** Every flush on the (stand-in) thread pool, completed by hand. */
function handSync() {
  const calls: Array<(err: Error | null) => void> = [];
  const flusher = { inline: () => { throw new Error('not inline'); }, offThread: (done: (err: Error | null) => void) => calls.push(done) };
  return { calls, sync: new WalSync(flusher, { inlineBelowMs: 0 }) };
}

/**
 * A WalSync on a stand-in clock whose flushes take `disk.flushMs` (settable between
 * commits), plus `handOverMs` on the pool; `where` records where each flush ran, and
 * commit() makes one commit, completes its flush and checks its callback ran.
 */
function timedSync(inlineBelowMs: number, handOverMs = 0) {
  let clock = 0;
  const where: string[] = [];
  const disk = { flushMs: 0 };
  const pending: Array<(err: Error | null) => void> = [];
  const sync = new WalSync({
    inline: () => { where.push('inline'); clock += disk.flushMs; },
    offThread: (done) => { where.push('pool'); pending.push((err) => { clock += disk.flushMs + handOverMs; done(err); }); },
  }, { inlineBelowMs, now: () => clock });
  const commit = async (): Promise<void> => {
    let ran = false;
    sync.whenDurable(() => (ran = true));
    await turns(1);
    pending.shift()?.(null);
    expect(ran).toBe(true);
  };
  return { disk, where, sync, commit };
}

describe('WalSync', () => {
  it('runs callbacks only after a flush that began after them, in order, one flush at a time', async () => {
    const { calls, sync } = handSync();
    const order: string[] = [];
    sync.whenDurable(() => order.push('a'));
    sync.whenDurable(() => order.push('b')); // the same commit's second notice: same flush
    expect(calls).toHaveLength(0); // the flush starts on the next tick
    await turns(1);
    expect(calls).toHaveLength(1);
    sync.whenDurable(() => order.push('c')); // committed while the flush is under way
    await turns(2);
    expect(calls).toHaveLength(1); // never two at once
    expect(order).toEqual([]);
    calls[0]!(null);
    expect(order).toEqual(['a', 'b']); // c's writes came after the flush began
    expect(calls).toHaveLength(2);
    calls[1]!(null);
    expect(order).toEqual(['a', 'b', 'c']);
    await sync.idle();
  });

  it('fails what waits on a failed flush, and everything after it, without flushing again', async () => {
    const { calls, sync } = handSync();
    const results: Array<Error | null> = [];
    sync.whenDurable((err) => results.push(err));
    await turns(1);
    sync.whenDurable((err) => results.push(err));
    calls[0]!(new Error('EIO: i/o error, fdatasync'));
    expect(results).toHaveLength(2);
    expect(results.every((e) => isWeirError(e, 'WEIR_JOURNAL_FAILED'))).toBe(true);
    expect(results[0]!.message).toMatch(/EIO/);
    sync.whenDurable((err) => results.push(err));
    await turns(2);
    expect(results).toHaveLength(3);
    expect(isWeirError(results[2], 'WEIR_JOURNAL_FAILED')).toBe(true);
    expect(calls).toHaveLength(1); // a failed fdatasync is never retried
    expect(sync.failed).toBe(results[0]);
  });

  it('without a flush (synchronous NORMAL) calls back on the next tick, in order', async () => {
    const sync = new WalSync(null);
    const order: number[] = [];
    sync.whenDurable(() => order.push(1));
    sync.whenDurable(() => order.push(2));
    expect(order).toEqual([]);
    await turns(1);
    expect(order).toEqual([1, 2]);
  });

  it('idle() waits for the flush in flight and the one queued behind it', async () => {
    const { calls, sync } = handSync();
    let idle = false;
    sync.whenDurable(() => undefined);
    await turns(1);
    sync.whenDurable(() => undefined);
    void sync.idle().then(() => (idle = true));
    calls[0]!(null);
    await turns(2);
    expect(idle).toBe(false);
    calls[1]!(null);
    await turns(2);
    expect(idle).toBe(true);
  });

  it('flushes inline while flushes are fast and moves to the thread pool once they are slow, and back', async () => {
    const t = timedSync(1);
    t.disk.flushMs = 0.2;
    for (let i = 0; i < 5; i++) await t.commit(); // an SSD's 0.2 ms
    expect(t.where).toEqual(Array(5).fill('inline'));
    t.disk.flushMs = 8; // an SD card
    for (let i = 0; i < 5; i++) await t.commit();
    expect(t.where.slice(5, 7)).toEqual(['inline', 'pool']); // the average crossed 1 ms after one slow flush
    expect(t.sync.offThread).toBe(true);
    t.disk.flushMs = 0.2;
    for (let i = 0; i < 30; i++) await t.commit();
    expect(t.where.at(-1)).toBe('inline');
  });

  it('with the default threshold, a 0.6 ms flush goes to the pool after two and stays there; a 0.05 ms one stays inline', async () => {
    const { flushInlineBelowMs } = configSchema.parse({}).journal;
    const run = async (flushMs: number, commits: number) => {
      // On the pool a flush takes as long, plus the hand-over and the wake-up back.
      const t = timedSync(flushInlineBelowMs, 0.07);
      t.disk.flushMs = flushMs;
      for (let i = 0; i < commits; i++) await t.commit();
      return t.where;
    };
    // A virtual disk's 0.6 ms (this machine): the average, from 0, passes 0.1 ms after the second.
    expect(await run(0.6, 20)).toEqual([...Array(2).fill('inline'), ...Array(18).fill('pool')]);
    // A fast NVMe's 0.05 ms: cheaper inline than the hand-over.
    expect(await run(0.05, 20)).toEqual(Array(20).fill('inline'));
  });

  it('a callback that waits for a later commit, inline, costs one more flush, not an empty one besides', async () => {
    let flushes = 0;
    const sync = new WalSync({ inline: () => void flushes++, offThread: () => { throw new Error('not on the pool'); } }, { inlineBelowMs: 1000 });
    const ran: string[] = [];
    sync.whenDurable(() => {
      ran.push('first');
      sync.whenDurable(() => ran.push('second'));
    });
    await turns(3);
    expect(ran).toEqual(['first', 'second']);
    expect(flushes).toBe(2);
  });
});
