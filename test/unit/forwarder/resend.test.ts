// After a failed send, what the forwarder sends next and on which client
// (src/forwarder/forwarder.ts, keepsClient): the same batch on the same idempotent
// producer, so Kafka can drop what it already appended, unless the producer is no good.
// test/e2e/lost-ack.test.ts shows the effect on a real broker; here every kind of
// failure is scripted, so the Kafka client is a fake (a real broker cannot be made
// to time out, or to forget a producer, on cue). The journal is real; time is a manual clock.
import { MultipleErrors, ProtocolError, TimeoutError } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { WeirError } from '../../../src/core/errors.js';
import { ManualClock } from '../../../src/core/clock.js';
import { Forwarder } from '../../../src/forwarder/forwarder.js';
import { sendFailure, type KafkaProducerPort, type OutRecord } from '../../../src/forwarder/producer.js';
import { appendAsync } from '../../../src/journal/journal.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { waitFor } from '../../support/wait.js';
import { makeContext, tempDir, turns, useCleanups } from '../support.js';

/** Fails its sends with the scripted errors, one per send, then succeeds. */
class ScriptedClient implements KafkaProducerPort {
  connects = 0;
  disconnects = 0;
  readonly sent: OutRecord[][] = [];
  constructor(private readonly failures: Error[]) {}
  async connect(): Promise<void> {
    this.connects++;
  }
  async ensureTopics(): Promise<void> {}
  async send(records: OutRecord[]): Promise<void> {
    this.sent.push(records);
    const failure = this.failures.shift();
    if (failure) throw failure;
  }
  async disconnect(): Promise<void> {
    this.disconnects++;
  }
}

const defer = useCleanups();

async function setup(failures: Error[]) {
  const clock = new ManualClock();
  const ctx = makeContext({ dataDir: tempDir(), kafka: { retryInitialMs: 100, retryMaxMs: 100, lingerMs: 0 }, journal: { commitIntervalMs: 0 } }, clock);
  const journal = new SqliteJournal(ctx);
  journal.open();
  defer(() => journal.close());
  const client = new ScriptedClient(failures);
  const forwarder = new Forwarder(ctx, journal, client);
  const append = (i: number) => appendAsync(journal, { stream: 'readings', key: 'dev-1', received: clock.now(), body: `{"i":${i}}` });
  /** Ends the backoff after a failure (full jitter within [50, 100] ms) and waits for the next send. */
  const nextSend = async () => {
    const before = client.sent.length;
    for (let k = 0; k < 20 && client.sent.length === before; k++) {
      clock.advance(10);
      await turns(5);
    }
    await waitFor(async () => client.sent.length > before, 5000, 'the next send');
  };
  /** Commits readings 1..n, starts the forwarder and waits for its first send. */
  const startWith = async (n: number) => {
    for (let i = 1; i <= n; i++) await append(i);
    forwarder.start();
    defer(() => forwarder.stop(0));
    await waitFor(async () => client.sent.length === 1, 5000, 'the first send');
  };
  return { ctx, journal, client, forwarder, append, nextSend, startWith };
}

const seqsOf = (records: OutRecord[]) => records.map((r) => Number(r.headers['weir-seq']));

describe('Forwarder, after a failed send', () => {
  it('sends the very same batch again on the same client, even when more was committed meanwhile', async () => {
    const { client, forwarder, append, nextSend, journal, startWith } = await setup([sendFailure(new Error('Connection closed'))]);
    await startWith(2);
    expect(forwarder.status().state).toBe('down');
    await append(3); // committed during the backoff
    await nextSend();
    expect(client.sent[1]).toBe(client.sent[0]); // the same array: same records, same order
    expect(seqsOf(client.sent[1]!)).toEqual([1, 2]);
    expect(client.disconnects).toBe(0);
    expect(client.connects).toBe(1);
    await waitFor(async () => client.sent.length === 3, 5000, 'the next batch');
    expect(seqsOf(client.sent[2]!)).toEqual([3]);
    await waitFor(async () => journal.stats().backlog.readings === 0, 5000, 'all acknowledged');
    expect(forwarder.status().state).toBe('up');
  });

  it('keeps the client after one timeout, and replaces it after a second in a row (the connection may be dead)', async () => {
    const timeout = () => sendFailure(new MultipleErrors('Producing messages failed.', [new TimeoutError('Request timed out')]), true);
    const { client, append, nextSend, startWith, ctx } = await setup([timeout(), timeout()]);
    await startWith(1);
    await nextSend(); // after the first timeout: the same batch on the same client
    expect(client.sent[1]).toBe(client.sent[0]);
    expect(client.connects).toBe(1);
    // It times out again: now the client goes.
    await waitFor(async () => client.disconnects === 1, 5000, 'the client dropped');
    await append(2);
    await nextSend(); // a new client, and the journal read afresh
    expect(client.connects).toBe(2);
    expect((await ctx.metrics.kafkaErrors.get()).values).toEqual([expect.objectContaining({ labels: { kind: 'timeout' }, value: 2 })]);
    expect(client.sent[2]).not.toBe(client.sent[0]);
    expect(seqsOf(client.sent[2]!)).toEqual([1, 2]);
  });

  it('gives a new client its own first timeout: it sends the same batch again before it is replaced too', async () => {
    const timeout = () => sendFailure(new MultipleErrors('Producing messages failed.', [new TimeoutError('Request timed out')]), true);
    const { client, nextSend, startWith } = await setup([timeout(), timeout(), timeout()]);
    await startWith(1);
    await nextSend(); // first timeout: same client
    await waitFor(async () => client.disconnects === 1, 5000, 'the client dropped after the second');
    await nextSend(); // the new client's first send: it times out (the third in a row)
    expect(client.connects).toBe(2);
    await nextSend(); // its own first timeout: the same batch on the same client, not a third client
    expect(client.sent[3]).toBe(client.sent[2]);
    expect(client.connects).toBe(2);
    expect(client.disconnects).toBe(1);
  });

  it('replaces the client when Kafka no longer knows its producer', async () => {
    const lost = sendFailure(new MultipleErrors('Producing messages failed.', [new ProtocolError('OUT_OF_ORDER_SEQUENCE_NUMBER')]));
    expect(lost.code).toBe('WEIR_KAFKA_PRODUCER_RESET');
    const { client, nextSend, startWith, ctx } = await setup([lost]);
    await startWith(1);
    await nextSend();
    expect(client.disconnects).toBe(1);
    expect(client.connects).toBe(2);
    expect((await ctx.metrics.kafkaErrors.get()).values).toEqual([expect.objectContaining({ labels: { kind: 'producer_reset' }, value: 1 })]);
  });

  it('replaces the client after an error no adapter classified', async () => {
    const { client, nextSend, startWith } = await setup([new Error('something else')]);
    await startWith(1);
    await nextSend();
    expect(client.disconnects).toBe(1);
  });
});

describe('sendFailure', () => {
  it('names what to do from the client error anywhere in its chain', () => {
    const wrap = (e: Error) => new MultipleErrors('Producing messages failed.', [e]);
    const code = (err: unknown, timedOut = false) => sendFailure(err, timedOut).code;
    expect(code(wrap(new ProtocolError('MESSAGE_TOO_LARGE')))).toBe('WEIR_KAFKA_RECORD_TOO_LARGE');
    for (const id of ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'PRODUCER_FENCED']) {
      expect(code(wrap(new ProtocolError(id)))).toBe('WEIR_KAFKA_PRODUCER_RESET');
    }
    expect(code(wrap(new ProtocolError('NOT_LEADER_OR_FOLLOWER')))).toBe('WEIR_KAFKA_SEND_FAILED');
    expect(code(new Error('Connection closed'))).toBe('WEIR_KAFKA_SEND_FAILED');
    expect(code(wrap(new TimeoutError('Request timed out')), true)).toBe('WEIR_KAFKA_TIMEOUT');
    expect(sendFailure(new Error('x'))).toBeInstanceOf(WeirError);
  });
});
