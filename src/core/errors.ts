/**
 * The error catalogue: every error Weir raises on purpose carries one of these stable
 * codes. Codes never change meaning once released; operators grep logs and dead
 * letters for them, and `retryable` tells callers whether trying again can help.
 */
export const ErrorCodes = {
  WEIR_CONFIG_INVALID: { retryable: false, doc: 'The config file is not valid YAML or does not match the schema.' },
  WEIR_CONFIG_NOT_FOUND: { retryable: false, doc: 'The config file named with -c or $WEIR_CONFIG does not exist.' },
  WEIR_PROFILE_INVALID: { retryable: false, doc: 'A device profile does not match the profile schema, or its samples do not decode as declared.' },
  WEIR_PROFILE_DUPLICATE: { retryable: false, doc: 'Two device profiles share a name.' },
  WEIR_PROFILE_NOT_FOUND: { retryable: false, doc: 'No profile has the requested name.' },
  WEIR_NO_PROFILE: { retryable: false, doc: 'No device profile matches the topic or path a payload arrived on.' },
  WEIR_PAYLOAD_TOO_LARGE: { retryable: false, doc: 'The payload exceeds the configured size limit for its protocol.' },
  WEIR_DECODE_FAILED: { retryable: false, doc: 'The payload could not be parsed by the profile\'s decoder (e.g. invalid JSON).' },
  WEIR_WRONG_SHAPE: { retryable: false, doc: 'The payload parsed, but a field the profile needs is missing or has the wrong type.' },
  WEIR_UNSUPPORTED_FORMAT: { retryable: false, doc: 'The payload\'s declared content format (e.g. a CoAP Content-Format) is not one Weir can decode.' },
  WEIR_SERIAL_UNAVAILABLE: { retryable: false, doc: 'Serial ports are configured but the optional serialport package or its native addon cannot be loaded.' },
  WEIR_OUT_OF_RANGE: { retryable: false, doc: 'A metric lies outside the valid range its profile declares.' },
  WEIR_JOURNAL_CLOSED: { retryable: true, doc: 'The journal is closed (the gateway is stopping); the device should retry.' },
  WEIR_JOURNAL_FAILED: { retryable: true, doc: 'A journal commit failed (disk error); nothing in that batch was acknowledged.' },
  WEIR_JOURNAL_FULL: { retryable: true, doc: 'The journal reached journal.maxBytes or the free-space floor under journal.fullPolicy: refuse; the device keeps its data and retries.' },
  WEIR_JOURNAL_BUSY: { retryable: true, doc: 'Too many records are waiting for a commit; the device should retry shortly.' },
  WEIR_INGEST_BUSY: { retryable: true, doc: 'HTTP request bodies being read already hold http.maxBufferedBytes; the device should retry shortly.' },
  WEIR_KAFKA_UNREACHABLE: { retryable: true, doc: 'The Kafka cluster could not be reached; records stay in the journal.' },
  WEIR_KAFKA_SEND_FAILED: { retryable: true, doc: 'Kafka rejected or did not acknowledge a batch (connection lost, broker error); the same batch is sent again by the same idempotent producer, so Kafka drops any copy it already has.' },
  WEIR_KAFKA_TIMEOUT: { retryable: true, doc: 'Kafka did not answer within kafka.requestTimeoutMs; the batch is sent again by the same producer once, and after a second timeout in a row by a new client (the connection may be dead).' },
  WEIR_KAFKA_PRODUCER_RESET: { retryable: true, doc: 'Kafka no longer knows the idempotent producer (its state expired or was lost, or it was fenced); a new producer sends the batch again, so records Kafka already had may appear twice, with the same weir-seq.' },
  WEIR_KAFKA_RECORD_TOO_LARGE: { retryable: false, doc: 'Kafka refused a record or batch as too large (message.max.bytes); batches are split, and a single record Kafka can never take is skipped, logged and announced on weir.status.' },
  WEIR_USAGE: { retryable: false, doc: 'A CLI command was called with wrong arguments.' },
  WEIR_INPUT_UNREADABLE: { retryable: false, doc: 'A file a CLI command was given to read (weir decode @FILE) could not be read.' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class WeirError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WeirError';
    this.code = code;
    this.retryable = ErrorCodes[code].retryable;
  }
}

export function isWeirError(err: unknown, code?: ErrorCode): err is WeirError {
  return err instanceof WeirError && (code === undefined || err.code === code);
}

/** A short, log-safe description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof WeirError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
