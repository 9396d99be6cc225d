import { WeirError } from '../core/errors.js';

/** An error and every error nested in it: along `cause` and in an AggregateError's `errors`. */
export function errorChain(err: unknown, depth = 0): object[] {
  if (!err || typeof err !== 'object' || depth > 6) return [];
  const e = err as { cause?: unknown; errors?: unknown };
  const nested = [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])];
  return [err, ...nested.flatMap((n) => errorChain(n, depth + 1))];
}

/** Kafka's error names (MESSAGE_TOO_LARGE, …) anywhere in a client error: KafkaJS's `type`, platformatic's `apiId`. */
export function kafkaErrorNames(err: unknown): string[] {
  return errorChain(err).flatMap((e) => [(e as { type?: unknown }).type, (e as { apiId?: unknown }).apiId])
    .filter((n): n is string => typeof n === 'string');
}

/** Kafka's answers for a record or batch over message.max.bytes. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/**
 * Broker errors after which the producer's identity is no good (the Kafka protocol's
 * error codes 45, 47, 49, 59, 90): its state on the broker expired or was lost (a
 * wiped cluster, producer.id.expiration.ms), its sequence numbers no longer line up,
 * or a newer producer fenced it. Only a new producer can send again.
 */
const PRODUCER_LOST = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING', 'UNKNOWN_PRODUCER_ID', 'PRODUCER_FENCED']);

/**
 * A client's failed send as the catalogue names it, which tells the forwarder what to
 * do next: RECORD_TOO_LARGE (split or skip), PRODUCER_RESET (a new producer),
 * TIMEOUT (`timedOut`: the client says no answer came in time) or SEND_FAILED (send
 * the same batch again on the same client).
 */
export function sendFailure(err: unknown, timedOut = false): WeirError {
  const names = kafkaErrorNames(err);
  const code = names.some((n) => TOO_LARGE.has(n)) ? 'WEIR_KAFKA_RECORD_TOO_LARGE'
    : names.some((n) => PRODUCER_LOST.has(n)) ? 'WEIR_KAFKA_PRODUCER_RESET'
      : timedOut ? 'WEIR_KAFKA_TIMEOUT' : 'WEIR_KAFKA_SEND_FAILED';
  return new WeirError(code, (err as Error).message, { cause: err });
}

/** One record as Kafka receives it. */
export interface OutRecord {
  topic: string;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/**
 * The Kafka client as the forwarder needs it, so the client library can be swapped
 * (and was measured: see bench/kafka-clients.ts and the README).
 *
 * Call order: connect() → ensureTopics() → send()* → disconnect(). After a send()
 * that failed with WEIR_KAFKA_SEND_FAILED or a first WEIR_KAFKA_TIMEOUT, the forwarder
 * calls send() again with the very same array (same records, same order) on the same
 * client; after any other failure it calls disconnect() and connect() before sending.
 *
 * Guarantees: send() resolves only when Kafka acknowledged every record with
 * acks=all; records of one topic-partition are written in array order, in one
 * request at a time. It rejects when any record may not have been written. The
 * producer is idempotent (KIP-98): a failed send leaves its sequence numbers where
 * they were for every partition Kafka did not acknowledge, so the same array sent
 * again carries the same sequences, and the broker drops a batch it already appended
 * instead of writing it twice. A client may remember which partitions of a failed
 * array were acknowledged and leave them out when that array comes again. Only a new
 * client (after PRODUCER_RESET, a second timeout, or a restart) may write copies; they
 * keep their weir-seq header.
 */
export interface KafkaProducerPort {
  connect(): Promise<void>;
  ensureTopics(topics: string[], partitions: number, replicationFactor: number): Promise<void>;
  send(records: OutRecord[]): Promise<void>;
  disconnect(): Promise<void>;
}
