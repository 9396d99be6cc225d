// CommitSignal (src/forwarder/commit-signal.ts) between two real threads: the gateway
// side publishes marks and wakes the reader only when it says it waits.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { CommitSignal } from '../../../src/forwarder/commit-signal.js';

let worker: Worker | null = null;
afterEach(async () => {
  await worker?.terminate();
  worker = null;
});

/** A reader thread, and a way to wait (5 s at most) until it reports reaching `seq`. */
function startReader(signal: CommitSignal) {
  const w = new Worker(new URL('../fixtures/commit-signal-worker.mjs', import.meta.url), { workerData: { buffer: signal.buffer } });
  worker = w;
  let reached = 0;
  let wakeups = 0;
  let waiter: (() => void) | null = null;
  w.on('message', (m: { reached: number; wakeups: number }) => {
    ({ reached, wakeups } = m);
    waiter?.();
  });
  const reach = (seq: number) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the reader slept at ${reached} with ${seq} published: a lost wake-up`)), 5000);
    const check = () => {
      if (reached < seq) return;
      clearTimeout(timer);
      waiter = null;
      resolve();
    };
    waiter = check;
    check();
  });
  return { w, reach, wakeups: () => wakeups };
}

describe('CommitSignal', () => {
  it('arm() reports a mark published after the last read; publish() reports an armed reader once', () => {
    const s = new CommitSignal();
    expect(s.publish(5)).toBe(false); // nobody waits
    expect(s.seq).toBe(5);
    expect(s.arm(5)).toBe(false); // nothing new: sleep
    expect(s.publish(6)).toBe(true); // the sleeper is woken…
    expect(s.publish(7)).toBe(false); // …once
    expect(s.arm(6)).toBe(true); // 7 arrived after the read that stopped at 6: read again
    expect(s.seq).toBe(7);
    expect(new CommitSignal(s.buffer).seq).toBe(7); // the same memory from another view
  });

  it('wakes the reader far less often than it publishes when commits come in bursts', async () => {
    const signal = new CommitSignal();
    const reader = startReader(signal);
    let posts = 0;
    let seq = 0;
    while (seq < 200_000) {
      const burst = 1 + Math.floor(Math.random() * 200); // group commits come in bursts between turns
      for (let i = 0; i < burst; i++) {
        if (!signal.publish(++seq)) continue;
        posts++;
        reader.w.postMessage(0);
      }
      await new Promise((r) => setImmediate(r));
    }
    await reader.reach(seq);
    expect(reader.wakeups()).toBe(posts);
    expect(posts).toBeLessThan(seq / 10);
  });

  it('never loses a wake-up when each mark is published just as the reader goes to sleep', async () => {
    const signal = new CommitSignal();
    const reader = startReader(signal);
    // Ping-pong: the next mark is published the moment the reader reports the last one,
    // i.e. while it is between its read and its sleep: the race the protocol must win.
    for (let seq = 1; seq <= 20_000; seq++) {
      if (signal.publish(seq)) reader.w.postMessage(0);
      await reader.reach(seq);
    }
  });
});
