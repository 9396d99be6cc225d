// A broker that vanishes mid-request (a cut cellular link, a powered-off host: no FIN,
// no RST) leaves the client's socket unable to finish closing. The forwarder must report
// the uplink down as soon as the send fails, and go on reconnecting without waiting for
// that close (src/forwarder/forwarder.ts, dropClient).
//
// The Kafka client here is a fake, the only one in the suite: on loopback the kernel
// takes a whole request into its buffers, so a real socket's close always completes and
// this state cannot be produced with a real broker. The journal is real; time is a
// manual clock, so the bound on the close is exact.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { DISCONNECT_WAIT_MS, Forwarder } from '../../src/forwarder/forwarder.js';
import type { KafkaProducerPort } from '../../src/forwarder/producer.js';
import { appendAsync } from '../../src/journal/journal.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { sleep, waitFor } from '../support/wait.js';
import { makeContext, tempDir, useCleanups } from './support.js';

/** Connects, then every send fails as a dropped connection does, and the first close never completes. */
class VanishedBroker implements KafkaProducerPort {
  connects = 0;
  sends = 0;
  disconnects = 0;
  async connect(): Promise<void> {
    this.connects++;
  }
  async ensureTopics(): Promise<void> {}
  async send(): Promise<void> {
    this.sends++;
    throw new Error('Connection closed');
  }
  disconnect(): Promise<void> {
    return ++this.disconnects === 1 ? new Promise<void>(() => undefined) : Promise.resolve();
  }
}

const defer = useCleanups();

describe('Forwarder, broker vanished', () => {
  it('reports the uplink down at the failed send and reconnects after at most DISCONNECT_WAIT_MS of a hung close', async () => {
    const clock = new ManualClock();
    const ctx = makeContext({ dataDir: tempDir(), kafka: { retryInitialMs: 250, retryMaxMs: 30_000 }, journal: { commitIntervalMs: 0 } }, clock);
    const journal = new SqliteJournal(ctx);
    journal.open();
    defer(() => journal.close());
    await appendAsync(journal, { stream: 'readings', key: 'dev-1', received: clock.now(), body: '{"i":1}' });
    const client = new VanishedBroker();
    const forwarder = new Forwarder(ctx, journal, client);
    forwarder.start();
    defer(() => forwarder.stop(0));

    // Down at once, while the close hangs, and no manual time has passed.
    await waitFor(async () => forwarder.status().state === 'down', 5000, 'the uplink reported down');
    expect(client.sends).toBe(1);
    expect(client.disconnects).toBe(1);
    expect((await ctx.metrics.uplinkUp.get()).values[0]!.value).toBe(0);
    expect(forwarder.status().lastError).toMatch(/Connection closed/);

    // The hung close holds the forwarder up to the bound, not a millisecond beyond it.
    clock.advance(DISCONNECT_WAIT_MS - 1);
    await sleep(100);
    expect(client.connects).toBe(1);
    clock.advance(1); // the bound: now the backoff (full jitter within [125, 250] ms)
    await sleep(100);
    clock.advance(250);
    await waitFor(async () => client.connects === 2, 5000, 'the reconnect after the hung close');
    await waitFor(async () => client.sends === 2, 5000, 'the batch resent');
    expect(journal.stats().backlog.readings).toBe(1); // never acknowledged, still held
  });
});
