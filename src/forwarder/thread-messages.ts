import type { WeirConfig } from '../config/schema.js';
import type { JournalEntry } from '../journal/journal.js';
import type { UplinkStatus } from './forwarder.js';

/** What the forwarder's thread starts with. */
export interface ForwardWorkerData {
  config: WeirConfig;
  /** The journal file, opened read-only by the worker. */
  file: string;
  ackedThrough: number;
  lastSeq: number;
  logLevel: string;
}

/** Gateway thread → forwarder thread. */
export type ToWorker =
  | { t: 'commit'; lastSeq: number }
  /** Forward what is committed up to `lastSeq` while the deadline allows, then stop. */
  | { t: 'stop'; deadlineMs: number; lastSeq: number }
  | { t: 'metrics'; id: number };

/** Forwarder thread → gateway thread. */
export type FromWorker =
  /** Kafka acknowledged every record through `seq`. */
  | { t: 'ack'; seq: number }
  | { t: 'state'; status: UplinkStatus }
  /** A record for the journal (the forwarder's announcements on the status stream). */
  | { t: 'append'; entry: JournalEntry }
  | { t: 'metrics'; id: number; metrics: object[] }
  | { t: 'stopped' };
