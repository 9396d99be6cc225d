import type { WeirConfig } from '../config/schema.js';
import type { JournalEntry } from '../journal/journal.js';
import type { UplinkStatus } from './uplink.js';

/** What the forwarder's thread starts with. */
export interface ForwardWorkerData {
  config: WeirConfig;
  /** The journal file, opened read-only by the worker. */
  file: string;
  ackedThrough: number;
  /** The journal's durable mark, and whether the forwarder waits for a commit (commit-signal.ts). */
  signal: SharedArrayBuffer;
  logLevel: string;
}

/** Gateway thread → forwarder thread. */
export type ToWorker =
  /** A commit past what the waiting forwarder read (the mark itself is in the signal). */
  | { t: 'commit' }
  /** Forward what is committed (up to the signal's mark) while the deadline allows, then stop. */
  | { t: 'stop'; deadlineMs: number }
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
