import { WeirError } from '../core/errors.js';

/**
 * Kafka's error names (MESSAGE_TOO_LARGE, …) found anywhere in a client error: along
 * `cause`, in an AggregateError's `errors`, as KafkaJS's `type` or platformatic's `apiId`.
 */
export function kafkaErrorNames(err: unknown, depth = 0): string[] {
  if (!err || typeof err !== 'object' || depth > 6) return [];
  const e = err as { type?: unknown; apiId?: unknown; cause?: unknown; errors?: unknown };
  const names = [e.type, e.apiId].filter((n): n is string => typeof n === 'string');
  const nested = [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])];
  return [...names, ...nested.flatMap((n) => kafkaErrorNames(n, depth + 1))];
}

export function isTooLarge(err: unknown): boolean {
  return kafkaErrorNames(err).some((n) => n === 'MESSAGE_TOO_LARGE' || n === 'RECORD_LIST_TOO_LARGE');
}

/** A client's failed send as the catalogue names it: too large (split or skip) or retryable. */
export function sendFailure(err: unknown): WeirError {
  return new WeirError(isTooLarge(err) ? 'WEIR_KAFKA_RECORD_TOO_LARGE' : 'WEIR_KAFKA_SEND_FAILED', (err as Error).message, { cause: err });
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
 * Call order: connect() → ensureTopics() → send()* → disconnect(); after a failed
 * send() the forwarder calls disconnect() and connect() again before the next send.
 *
 * Guarantees: send() resolves only when Kafka acknowledged every record with
 * acks=all; records of one topic-partition are written in array order, in one
 * request at a time. It rejects when any record may not have been written; the caller
 * then resends the whole batch (duplicates keep their weir-seq header).
 */
export interface KafkaProducerPort {
  connect(): Promise<void>;
  ensureTopics(topics: string[], partitions: number, replicationFactor: number): Promise<void>;
  send(records: OutRecord[]): Promise<void>;
  disconnect(): Promise<void>;
}
