// Forwarder.stop() while the forwarder is still connecting (src/forwarder/forwarder.ts):
// SIGTERM during an outage mostly lands in a connection attempt, which to an unreachable
// broker lasts seconds. Once stopping, a failed attempt must not begin a backoff (up to
// kafka.retryMaxMs, which stop() cannot interrupt any more: it already did), and a
// client that connects after stop() gave up waiting must be closed, not left open.
//
// The Kafka client is a fake whose connect() ends when the test says: a real broker
// cannot be made to answer a connection attempt at a chosen moment. The journal is
// real; the forwarder's pauses run on a manual clock that the test never advances, so a
// backoff begun after stop() would never end.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { WeirError } from '../../../src/core/errors.js';
import { Forwarder } from '../../../src/forwarder/forwarder.js';
import type { KafkaProducerPort } from '../../../src/forwarder/producer.js';
import { appendAsync } from '../../../src/journal/journal.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { waitFor } from '../../support/wait.js';
import { makeContext, tempDir, useCleanups } from '../support.js';

/** connect() settles only when the test calls settle(); counts what the forwarder asks of it. */
class PendingConnect implements KafkaProducerPort {
  connects = 0;
  disconnects = 0;
  sends = 0;
  private settleConnect: ((err?: Error) => void) | null = null;
  connect(): Promise<void> {
    this.connects++;
    return new Promise((resolve, reject) => (this.settleConnect = (err) => (err ? reject(err) : resolve())));
  }
  settle(err?: Error): void {
    this.settleConnect?.(err);
  }
  async ensureTopics(): Promise<void> {}
  async send(): Promise<void> {
    this.sends++;
  }
  async disconnect(): Promise<void> {
    this.disconnects++;
  }
}

const defer = useCleanups();

async function setup() {
  const clock = new ManualClock();
  const ctx = makeContext({ dataDir: tempDir(), kafka: { retryInitialMs: 250, retryMaxMs: 30_000, lingerMs: 0 }, journal: { commitIntervalMs: 0 } }, clock);
  const journal = new SqliteJournal(ctx);
  journal.open();
  defer(() => journal.close());
  await appendAsync(journal, { stream: 'readings', key: 'dev-1', received: clock.now(), body: '{"i":1}' });
  const client = new PendingConnect();
  const forwarder = new Forwarder(ctx, journal, client);
  forwarder.start();
  await waitFor(async () => client.connects === 1, 5000, 'the first connection attempt');
  return { journal, client, forwarder };
}

/** Whether `p` settles within `ms` of real time. */
const settlesWithin = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);

describe('Forwarder.stop() during a connection attempt', () => {
  it('returns as soon as the attempt fails, without a backoff or another attempt', async () => {
    const { client, forwarder, journal } = await setup();
    const stopped = forwarder.stop(60_000);
    client.settle(new WeirError('WEIR_KAFKA_UNREACHABLE', 'cannot connect: connection timed out'));
    // Before the fix the loop began a backoff nothing could end, and stop() waited out its whole deadline.
    expect(await settlesWithin(stopped, 2000)).toBe(true);
    expect(forwarder.status().state).toBe('stopped');
    expect(client.connects).toBe(1);
    expect(journal.stats().backlog.readings).toBe(1); // still held for the next start
  });

  it('closes a client that connects after stop() returned, and sends nothing on it', async () => {
    const { client, forwarder } = await setup();
    await forwarder.stop(0); // the deadline passes while the attempt is still under way
    const closedByStop = client.disconnects;
    client.settle(); // the attempt succeeds now
    await waitFor(async () => client.disconnects > closedByStop, 2000, 'the late client closed');
    expect(client.sends).toBe(0);
    expect(forwarder.status().state).toBe('stopped');
  });
});
