// The forwarder's reconnect backoff under live traffic (src/forwarder/forwarder.ts):
// a real journal and the real Kafka client against a port where no broker listens
// (connections refused, as when the broker is stopped); the backoff runs on a manual
// clock, so what a commit may and may not cut short is exact.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { PlatformaticProducer } from '../../src/forwarder/platformatic-producer.js';
import { Forwarder } from '../../src/forwarder/forwarder.js';
import { appendAsync } from '../../src/journal/journal.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { freePort } from '../support/kafka-broker.js';
import { sleep, waitFor } from '../support/wait.js';
import { makeContext, tempDir, useCleanups } from './support.js';

const defer = useCleanups();

describe('Forwarder backoff', () => {
  it('keeps backing off while devices keep committing: commits wake an idle forwarder, never a backoff', async () => {
    const clock = new ManualClock();
    const port = await freePort(); // nothing listens there
    const ctx = makeContext({ dataDir: tempDir(), kafka: { brokers: [`127.0.0.1:${port}`], retryInitialMs: 250, retryMaxMs: 30_000 }, journal: { commitIntervalMs: 0 } }, clock);
    const journal = new SqliteJournal(ctx);
    journal.open();
    defer(() => journal.close());
    const forwarder = new Forwarder(ctx, journal, new PlatformaticProducer(ctx));
    forwarder.start();
    defer(() => forwarder.stop(0));
    const attempts = async () => (await ctx.metrics.kafkaErrors.get()).values.find((v) => v.labels.kind === 'connect')?.value ?? 0;

    await waitFor(async () => (await attempts()) === 1, 15_000, 'the first connection attempt to fail');
    expect(forwarder.status().state).toBe('down');
    // Live traffic during the backoff (≥ 125 ms of the manual clock, which stands still).
    for (let i = 0; i < 50; i++) {
      await appendAsync(journal, { stream: 'readings', key: `dev-${i % 5}`, received: clock.now(), body: `{"i":${i}}` });
    }
    await sleep(1500); // real time for any attempt the commits might have started (one takes ~0.3 s)
    expect(await attempts()).toBe(1);

    clock.advance(250); // the longest first backoff (full jitter within [125, 250] ms)
    await waitFor(async () => (await attempts()) === 2, 15_000, 'the second attempt, after the backoff');
    expect(journal.stats().backlog.readings).toBe(50); // nothing lost meanwhile
  });
});
