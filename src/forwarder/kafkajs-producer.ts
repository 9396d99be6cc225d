import { connect } from 'node:net';
import { CompressionTypes, Kafka, logLevel, type Admin, type ISocketFactory, type Producer } from 'kafkajs';
import type { Context } from '../core/context.js';
import { WeirError } from '../core/errors.js';
import { splitHostPort } from '../core/host-port.js';
import { errorChain, sendFailure, type KafkaProducerPort, type OutRecord } from './producer.js';

/**
 * KafkaJS splits a bootstrap broker string at every ':' and offers no other form
 * (connectionPoolBuilder.js), so an IPv6 broker ([::1]:9092, RFC 3986 §3.2.2) would
 * get host '['. It goes in under a stand-in name without colons, which the socket
 * factory turns back into the address; `.invalid` names resolve nowhere (RFC 6761 §6.4),
 * so no real broker is mistaken for one. Brokers learnt from metadata come as host and
 * port apart and connect as they are. The factory is KafkaJS's own (socketFactory.js)
 * less TLS, which Weir does not configure.
 */
export function bootstrap(brokers: readonly string[]): { brokers: string[]; socketFactory?: ISocketFactory } {
  const ipv6 = new Map<string, string>();
  const list = brokers.map((b) => {
    const { host, port } = splitHostPort(b);
    if (!host.includes(':')) return b;
    const name = `ipv6-${ipv6.size}.weir.invalid`;
    ipv6.set(name, host);
    return `${name}:${port}`;
  });
  if (ipv6.size === 0) return { brokers: list };
  const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = connect({ host: ipv6.get(host) ?? host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    return socket;
  };
  return { brokers: list, socketFactory };
}

/**
 * KafkaProducerPort on KafkaJS 2.2.4. KafkaJS has no linger or batch size: each
 * sendBatch() is one produce request per broker, so the forwarder's batch is the
 * request. Idempotent (which needs acks=all and one request in flight), with
 * KafkaJS's own retries kept short: outages are the forwarder's business, with its
 * backoff and its log-once, not the client's.
 */
export class KafkaJsProducer implements KafkaProducerPort {
  private kafka: Kafka;
  private producer: Producer | null = null;

  constructor(private readonly ctx: Context) {
    const { kafka } = ctx.config;
    this.kafka = new Kafka({
      clientId: kafka.clientId,
      ...bootstrap(kafka.brokers),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 5000,
      requestTimeout: kafka.requestTimeoutMs,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  async connect(): Promise<void> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw new WeirError('WEIR_KAFKA_UNREACHABLE', `cannot connect to ${this.ctx.config.kafka.brokers.join(',')}: ${(err as Error).message}`, { cause: err });
    }
    this.producer = producer;
  }

  async ensureTopics(topics: string[], partitions: number, replicationFactor: number): Promise<void> {
    const admin: Admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })),
        });
        this.ctx.log.info({ topics: missing, partitions, replicationFactor }, 'created Kafka topics');
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  async send(records: OutRecord[]): Promise<void> {
    if (!this.producer) throw new WeirError('WEIR_KAFKA_UNREACHABLE', 'producer is not connected');
    // Group by topic, keeping each topic's records in journal order.
    const byTopic = new Map<string, Array<{ key: string; value: string; headers: Record<string, string> }>>();
    for (const r of records) {
      let list = byTopic.get(r.topic);
      if (!list) byTopic.set(r.topic, (list = []));
      list.push({ key: r.key, value: r.value, headers: r.headers });
    }
    try {
      await this.producer.sendBatch({
        acks: -1,
        timeout: this.ctx.config.kafka.requestTimeoutMs,
        compression: this.ctx.config.kafka.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (err) {
      throw sendFailure(err, errorChain(err).some((e) => (e as Error).name === 'KafkaJSRequestTimeoutError'));
    }
  }

  async disconnect(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    await p?.disconnect().catch(() => undefined);
  }
}
