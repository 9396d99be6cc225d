import type { StreamName } from './streams.js';

/**
 * How many of the newest records a journal keeps readable through tail() even after
 * Kafka acknowledged them: ingest seeds its resend detector from them after a crash
 * (src/ingest/dedup.ts), so its window spans the restart. About 1 MB.
 */
export const RETAIN_TAIL = 10_000;

/** A record as handed to the journal. */
export interface JournalEntry {
  stream: StreamName;
  /** Kafka record key: the device id (the gateway id on the status stream). */
  key: string;
  /** Gateway wall-clock time of receipt, epoch ms. */
  received: number;
  /** Event time, epoch ms, for records that have one (readings, alerts): stored as a column. */
  ts?: number;
  /** Device profile name, for device streams: stored as a column. */
  profile?: string;
  /**
   * The rest of the record's value as a JSON object text: everything but the fields
   * the journal supplies at forward time — gateway, seq, received, device (which is
   * `key`) on device streams, ts and profile. Small rows mean few flash writes.
   */
  body: string;
  /**
   * The parsed tags and metrics of a reading, when the caller has them: saves the
   * journal's RecordProcessor a JSON.parse of `body`. Never stored; must equal the body.
   */
  reading?: { tags: Record<string, string>; metrics: Record<string, number> };
  /**
   * Commit without waiting for company under light traffic (journal.commitMaxWaitMs):
   * the source sends nothing more until this record is acknowledged, so waiting would
   * only slow it down (the MQTT bridge: MQTT.js hands over the site broker's next
   * message only once this one is acknowledged). Never stored.
   */
  eager?: boolean;
}

/** A committed record, as read back for forwarding. */
export interface StoredRecord extends JournalEntry {
  /** Gateway-wide sequence: unique and increasing, across restarts. */
  seq: number;
}

export type CommitCallback = (err: Error | null, seq: number) => void;

export interface JournalStats {
  /** Records not yet acknowledged by Kafka, by stream. */
  backlog: Record<StreamName, number>;
  /** `received` of the oldest unacknowledged record, or null when there is none. */
  oldestReceived: number | null;
  /** Bytes of the database and its WAL on disk. */
  diskBytes: number;
  /** Highest sequence committed and on the device (what read() and onCommit() reach). */
  lastSeq: number;
  /** Why the journal stopped acknowledging (its disk failed a flush), until a restart; absent while healthy. */
  failed?: string;
  /** Highest sequence Kafka acknowledged. */
  ackedThrough: number;
  /** Against journal.maxBytes / minFreeBytes: use, limits, and what was evicted (issue 5). */
  disk?: {
    usedBytes: number; fileBytes: number; freeBytes: number | null; maxBytes: number; minFreeBytes: number;
    policy: 'evict' | 'refuse'; refusing: boolean; evicted: Record<StreamName, number>; gaps: number;
  };
}

/**
 * The durable journal: the one place a reading lives between its device's ack and
 * Kafka's.
 *
 * Call order: open() → append()* / read()* / ack()* in any interleaving → close().
 *
 * Guarantees:
 * - Records are ordered exactly as append() was called: the commit assigns their
 *   sequences in that order (records a RecordProcessor derives from a record take
 *   the sequences right after it). The callback, with the sequence, runs only after
 *   the record's transaction is durable (per `journal.synchronous`), never
 *   synchronously inside append().
 * - Many appends share one transaction (group commit, bounded by
 *   `journal.commitIntervalMs`, `journal.commitMaxWaitMs` under light traffic, and
 *   `journal.maxBatchRecords`).
 * - Sequences are unique and increasing across restarts, even after every record
 *   has been acknowledged and deleted.
 * - A record is removed only by ack() of its sequence; read() never returns acked
 *   records. Memory does not grow with the backlog: read() returns a bounded page.
 *
 * Errors (given to the append callback, never thrown from append()):
 * WEIR_JOURNAL_CLOSED before open() and after close() began (read() and tail() then
 * return nothing); WEIR_JOURNAL_BUSY when
 * `journal.maxPendingRecords` are already waiting; WEIR_JOURNAL_FAILED when the commit
 * itself failed (then none of that batch was acknowledged).
 */
export interface Journal {
  open(): void;
  append(entry: JournalEntry, done: CommitCallback): void;
  /** Committed records with seq > afterSeq in sequence order, at most `limit` / about `maxBytes` of bodies. */
  read(afterSeq: number, limit: number, maxBytes: number): StoredRecord[];
  /** The last `limit` records appended, acknowledged or not, newest first (see RETAIN_TAIL). */
  tail(limit: number): StoredRecord[];
  /** The committed record with this sequence, acknowledged or not, while the journal still holds it (the retained tail at least). */
  record(seq: number): StoredRecord | undefined;
  /** Kafka acknowledged every record up to and including `throughSeq`. */
  ack(throughSeq: number): void;
  /** Subscribes to commits; returns an unsubscribe function. */
  onCommit(listener: (lastSeq: number) => void): () => void;
  stats(): JournalStats;
  /** Commits what is pending, persists acks, closes the file. Idempotent. */
  close(): Promise<void>;
}

/** Promise form of append() for callers that prefer it. */
export function appendAsync(journal: Journal, entry: JournalEntry): Promise<number> {
  return new Promise((resolve, reject) => journal.append(entry, (err, seq) => (err ? reject(err) : resolve(seq))));
}
