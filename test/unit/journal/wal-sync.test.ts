// WalSync's scheduling (src/journal/wal-sync.ts). The flush itself is a stand-in here
// that the test completes by hand, so each interleaving is exact; the real fdatasync on
// the real WAL is checked in wal-flush.test.ts under strace.
import { describe, expect, it } from 'vitest';
import { isWeirError } from '../../../src/core/errors.js';
import { WalSync } from '../../../src/journal/wal-sync.js';
import { turns } from '../support.js';

function handSync() {
  const calls: Array<(err: Error | null) => void> = [];
  return { calls, sync: new WalSync((done) => calls.push(done)) };
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
});
