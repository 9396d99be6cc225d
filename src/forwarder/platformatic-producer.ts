import * as platformatic from '@platformatic/kafka';
import { Admin, Producer, stringSerializer, TimeoutError, type MessageToProduce } from '@platformatic/kafka';
import type { Context } from '../core/context.js';
import { WeirError } from '../core/errors.js';
import { splitHostPort } from '../core/host-port.js';
import { keyPartition } from './partitioner.js';
import { errorChain, sendFailure, type KafkaProducerPort, type OutRecord } from './producer.js';

type StringProducer = Producer<string, string, Buffer, Buffer>;

const asIs = (b?: Buffer): Buffer | undefined => b;

/**
 * Record headers as the client's Buffers. The client would otherwise turn each record's
 * header object into a Map and encode every name and value anew — six small Buffers per
 * record, of which only weir-seq's value differs from the record before (the worker's
 * profile showed the client's per-record encoding and its garbage as its largest cost).
 * So each header keeps its name's Buffer and its last value's Buffer while the value
 * repeats. Buffers handed out are never changed afterwards (the client may hold them
 * until the batch is written).
 */
export class HeaderBuffers {
  private readonly last = new Map<string, { name: Buffer; value: string; buf: Buffer }>();

  encode(headers: Readonly<Record<string, string>>): Map<Buffer, Buffer> {
    const out = new Map<Buffer, Buffer>();
    for (const name in headers) {
      const value = headers[name]!;
      let e = this.last.get(name);
      if (!e) {
        // Header names are the contract's few; the bound only guards against a caller bug.
        if (this.last.size >= 64) this.last.clear();
        this.last.set(name, (e = { name: Buffer.from(name), value, buf: Buffer.from(value) }));
      } else if (e.value !== value) {
        e.value = value;
        e.buf = Buffer.from(value);
      }
      out.set(e.name, e.buf);
    }
    return out;
  }
}

/**
 * Whether patches/@platformatic+kafka+1.35.0.patch is applied (its marker export): the
 * client's record batches written into one Buffer. An install run with --ignore-scripts
 * and without `npx patch-package` still works, at ~30 % more CPU per record (README).
 */
export function batchEncoderPatched(): boolean {
  return 'weirBatchEncoder' in platformatic;
}

let warnedUnpatched = false;

/**
 * KafkaProducerPort on @platformatic/kafka, the default client: on this project's
 * benchmark (bench/kafka-clients.ts, real Kafka 4.1, acks=all, idempotent) it sent
 * about 2x the records per second of KafkaJS at about half the CPU per record, and
 * it ships lz4 and snappy. Idempotent with one request in flight (maxInflights: 1),
 * so retries inside the client cannot reorder a partition; its own retries are kept
 * short: outages are the forwarder's business (backoff with jitter, log once).
 */
export class PlatformaticProducer implements KafkaProducerPort {
  private producer: StringProducer | null = null;
  private readonly headers = new HeaderBuffers();
  /** The last failed send's array and which of its records Kafka did acknowledge (notePartlyAcked). */
  private partlyAcked: { records: OutRecord[]; done: boolean[] } | null = null;

  constructor(private readonly ctx: Context) {}

  private base() {
    const { kafka } = this.ctx.config;
    return {
      clientId: kafka.clientId,
      // As { host, port }: the client splits a string at every ':', which leaves an IPv6
      // broker ([::1]:9092, RFC 3986 §3.2.2) with host '[' (parseBroker, network/utils.js).
      bootstrapBrokers: kafka.brokers.map(splitHostPort),
      timeout: kafka.requestTimeoutMs,
      connectTimeout: 5000,
      retries: 2,
      retryDelay: 100,
    };
  }

  async connect(): Promise<void> {
    if (!warnedUnpatched && !batchEncoderPatched()) {
      warnedUnpatched = true;
      this.ctx.log.warn('@platformatic/kafka is not patched (installed with --ignore-scripts?): run `npx patch-package` in the install directory; forwarding costs ~30 % more CPU per record without it');
    }
    const producer: StringProducer = new Producer({
      ...this.base(),
      serializers: { key: stringSerializer, value: stringSerializer, headerKey: asIs, headerValue: asIs },
      idempotent: true,
      acks: -1,
      maxInflights: 1,
      // The Java producer's partition for each key, without the client's BigInt hashing (partitioner.ts).
      partitioner: keyPartition,
      autocreateTopics: false,
      compression: this.ctx.config.kafka.compression,
      // No per-send option/message schema validation (ajv): the forwarder builds every
      // message itself, and the check cost ~4% of the gateway's CPU in the benchmark.
      strict: false,
    });
    try {
      // Construction is lazy: ask for metadata so "connected" means a broker answered.
      await producer.metadata({ topics: [] });
    } catch (err) {
      await producer.close().catch(() => undefined);
      throw new WeirError('WEIR_KAFKA_UNREACHABLE', `cannot connect to ${this.ctx.config.kafka.brokers.join(',')}: ${(err as Error).message}`, { cause: err });
    }
    this.producer = producer;
  }

  async ensureTopics(topics: string[], partitions: number, replicationFactor: number): Promise<void> {
    const admin = new Admin(this.base());
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length) {
        await admin.createTopics({ topics: missing, partitions, replicas: replicationFactor });
        this.ctx.log.info({ topics: missing, partitions, replicationFactor }, 'created Kafka topics');
      }
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  async send(records: OutRecord[]): Promise<void> {
    if (!this.producer) throw new WeirError('WEIR_KAFKA_UNREACHABLE', 'producer is not connected');
    const done = this.partlyAcked?.records === records ? this.partlyAcked.done : null;
    this.partlyAcked = null;
    const messages: Array<MessageToProduce<string, string, Buffer, Buffer>> = [];
    for (let i = 0; i < records.length; i++) {
      if (done?.[i]) continue;
      const r = records[i]!;
      messages.push({ topic: r.topic, key: r.key, value: r.value, headers: this.headers.encode(r.headers) });
    }
    try {
      if (messages.length > 0) await this.producer.send({ messages });
    } catch (err) {
      this.notePartlyAcked(records, err, done);
      throw sendFailure(err, errorChain(err).some((e) => e instanceof TimeoutError));
    }
  }

  /**
   * A send to several brokers fails as a whole when one of them fails, while the
   * others' partitions were written and their sequence numbers moved on (the client
   * puts them in the error's `produced`). Sent again, those records would carry new
   * sequences and be written twice; so they are marked done, to be left out when the
   * same array comes again (the port's contract: the forwarder resends the very same
   * array). Marked now, while the client's metadata is the one the send used; a record
   * whose partition cannot be told is sent again (a copy, never a loss).
   */
  private notePartlyAcked(records: OutRecord[], err: unknown, before: boolean[] | null): void {
    const offsets = (err as { produced?: { offsets?: Array<{ topic: string; partition: number }> } }).produced?.offsets ?? [];
    if (offsets.length === 0 && !before) return;
    const acked = new Set(offsets.map((o) => `${o.topic}:${o.partition}`));
    const done = records.map((r, i) => before?.[i] === true || (acked.size > 0 && this.inPartitionOf(r, acked)));
    this.partlyAcked = { records, done };
  }

  /** Whether the partition the client gives `r` (keyPartition modulo its topic's partition count) is in `partitions`. */
  private inPartitionOf(r: OutRecord, partitions: Set<string>): boolean {
    const count = this.producer?.currentMetadata?.topics.get(r.topic)?.partitionsCount;
    return count !== undefined && partitions.has(`${r.topic}:${keyPartition(undefined, Buffer.from(r.key)) % count}`);
  }

  async disconnect(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    this.partlyAcked = null;
    await p?.close().catch(() => undefined);
  }
}
