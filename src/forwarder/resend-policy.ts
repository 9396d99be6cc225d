import { isWeirError } from '../core/errors.js';

/** weir_kafka_errors_total's kind for a failed send. */
export type SendFailureKind = 'send' | 'timeout' | 'producer_reset';

/**
 * After a failed send (any but WEIR_KAFKA_RECORD_TOO_LARGE, which splits the batch),
 * may the same client send the same batch again?
 *
 * Yes when its idempotent producer still stands (WEIR_KAFKA_SEND_FAILED: a lost
 * connection, a broker error, an outage): Kafka then drops what it had already appended
 * of the batch (same producer id and sequence numbers, KIP-98), so an answer lost on the
 * way back does not put copies on Kafka, as a new producer's resend would. After a first
 * timeout too (a busy broker); a second in a row means the connection may be dead (a
 * vanished broker whose socket never closes), and only a new client gets a new one. No
 * after WEIR_KAFKA_PRODUCER_RESET (Kafka no longer knows the producer), or any error
 * the client did not classify.
 *
 * Call order: failed() after each failed send, succeeded() after each acknowledged one,
 * connected() when a new client is up: its first timeout is its own first (a client
 * replaced after two timeouts would otherwise be replaced again at its first, a new
 * producer id each time, and copies on Kafka each time the lost answer was a write).
 * No errors.
 */
export class ResendPolicy {
  /** The last send failed with WEIR_KAFKA_TIMEOUT. */
  private timedOut = false;

  failed(err: unknown): { keepClient: boolean; kind: SendFailureKind } {
    const timeout = isWeirError(err, 'WEIR_KAFKA_TIMEOUT');
    const keepClient = isWeirError(err, 'WEIR_KAFKA_SEND_FAILED') || (timeout && !this.timedOut);
    this.timedOut = timeout;
    const kind = timeout ? 'timeout' : isWeirError(err, 'WEIR_KAFKA_PRODUCER_RESET') ? 'producer_reset' : 'send';
    return { keepClient, kind };
  }

  succeeded(): void {
    this.timedOut = false;
  }

  connected(): void {
    this.timedOut = false;
  }
}
