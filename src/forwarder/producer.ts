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
