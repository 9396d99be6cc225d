// kafka.lingerMs (src/forwarder/forwarder.ts, lingerLeft): under steady traffic a
// produce request begins no sooner than lingerMs after the one before, unless a full
// batch is waiting when the forwarder is about to send; a reading after a quiet spell
// goes at once. A real journal, the real Kafka client and the real broker; the client
// is only wrapped, to count the records of each request and to hold one request while
// the test commits more. The forwarder's clock is a ManualClock: "waits" is exact —
// nothing more is sent, however long real time runs, until the test moves the clock.
import { rmSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { Forwarder } from '../../src/forwarder/forwarder.js';
import { PlatformaticProducer } from '../../src/forwarder/platformatic-producer.js';
import type { KafkaProducerPort, OutRecord } from '../../src/forwarder/producer.js';
import { appendAsync } from '../../src/journal/journal.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { consumeAll, distinctSeqs } from '../support/kcat.js';
import { testSetup } from '../support/gateway.js';
import { sleep, waitFor } from '../support/wait.js';
import { makeContext, useCleanups } from '../unit/support.js';

/** The real client, counting each request's records; hold() keeps the next request from starting until release(). */
class CountingProducer implements KafkaProducerPort {
  readonly requests: number[] = [];
  private gate: Promise<void> | null = null;
  private open: () => void = () => undefined;
  constructor(private readonly real: KafkaProducerPort) {}
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.gate = null;
    this.open();
  }
  connect(): Promise<void> {
    return this.real.connect();
  }
  ensureTopics(topics: string[], partitions: number, replicationFactor: number): Promise<void> {
    return this.real.ensureTopics(topics, partitions, replicationFactor);
  }
  async send(records: OutRecord[]): Promise<void> {
    this.requests.push(records.length);
    await this.gate;
    await this.real.send(records);
  }
  disconnect(): Promise<void> {
    return this.real.disconnect();
  }
}

const defer = useCleanups();

describe('Forwarder linger (kafka.lingerMs)', () => {
  it('waits for company under steady traffic, sends a full batch at once, and a reading after a quiet spell at once', async () => {
    const brokers = inject('kafkaBrokers');
    const clock = new ManualClock();
    const setup = await testSetup(brokers, { kafka: { lingerMs: 10, batchMaxRecords: 50 } });
    defer(async () => rmSync(setup.dir, { recursive: true, force: true }));
    const ctx = makeContext({ ...setup.config, journal: { commitIntervalMs: 0 } }, clock);
    const journal = new SqliteJournal(ctx);
    journal.open();
    defer(async () => journal.close());
    const producer = new CountingProducer(new PlatformaticProducer(ctx));
    const forwarder = new Forwarder(ctx, journal, producer);
    forwarder.start();
    defer(() => forwarder.stop(0));
    let n = 0;
    const append = async (count: number): Promise<number> => {
      let seq = 0;
      for (let i = 0; i < count; i++) {
        seq = await appendAsync(journal, { stream: 'readings', key: `dev-${n % 3}`, received: clock.now(), body: `{"n":${n++}}` });
      }
      return seq;
    };
    const acked = (seq: number, what: string) => waitFor(() => forwarder.status().ackedThrough >= seq, 30_000, what);

    // The first reading has no request before it: it goes at once (the clock stands still).
    await acked(await append(1), 'the first reading to be acknowledged');
    expect(producer.requests).toEqual([1]);

    // 20 more within the linger: nothing is sent while the clock stands still ...
    const twenty = await append(20);
    await sleep(700);
    expect(producer.requests).toEqual([1]);
    // ... and all 20 go in one request once lingerMs has passed since the last one began.
    producer.hold();
    clock.advance(10);
    await waitFor(() => producer.requests.length === 2, 30_000, 'the lingering request');
    expect(producer.requests).toEqual([1, 20]);

    // While that request is held, 60 more are committed: when it is acknowledged, a full
    // batch (50) is waiting, so the next request starts at once, within the linger ...
    const sixty = await append(60);
    producer.release();
    await acked(twenty, 'the 20');
    await waitFor(() => producer.requests.length === 3, 30_000, 'the full batch');
    await sleep(700);
    expect(producer.requests).toEqual([1, 20, 50]);
    // ... and the 10 left over wait for the linger again.
    clock.advance(10);
    await acked(sixty, 'the last 10 of the 60');
    expect(producer.requests).toEqual([1, 20, 50, 10]);

    // A quiet spell longer than the linger: the next reading goes at once.
    clock.advance(5_000);
    await acked(await append(1), 'the reading after the quiet spell');
    expect(producer.requests).toEqual([1, 20, 50, 10, 1]);

    // Everything reached Kafka, in order, each reading once.
    const records = await consumeAll(brokers, setup.topics.readings, { until: distinctSeqs(n), timeoutMs: 30_000 });
    const bySeq = new Map(records.map((r) => [Number(r.headers['weir-seq']), JSON.parse(r.value).n as number]));
    expect([...bySeq.keys()].sort((a, b) => a - b).map((s) => bySeq.get(s))).toEqual(Array.from({ length: n }, (_, i) => i));
  });
});
