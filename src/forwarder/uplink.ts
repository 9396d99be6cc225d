import type { Journal } from '../journal/journal.js';

/** The forwarder's face to the rest of the gateway: its uplink state, its handle, and the journal it reads. */

export type UplinkState = 'connecting' | 'up' | 'down' | 'stopped';

export interface UplinkStatus {
  state: UplinkState;
  /** Epoch ms the current state began. */
  since: number;
  lastError: string | null;
  /** Highest sequence Kafka acknowledged. */
  ackedThrough: number;
}

/** What the forwarder needs of a journal: the journal itself, or its view from the forwarder's thread. */
export type ForwardJournal = Pick<Journal, 'read' | 'ack' | 'append' | 'onCommit'> & {
  /** The journal's durable mark (what stats().lastSeq and onCommit() give); cheap: read before every request. */
  committedSeq(): number;
  /**
   * Optional (the forwarder's thread): asks for onCommit() wake-ups from now on, the
   * forwarder being about to wait; true when a commit came after the last read(), so it
   * reads again instead (commit-signal.ts). Without it, every commit is announced.
   */
  armCommitWake?(): boolean;
};

/** The gateway's handle on its forwarder, in this thread (Forwarder) or its own (ForwarderThread). */
export interface ForwarderHandle {
  start(): void;
  status(): UplinkStatus;
  stop(deadlineMs: number): Promise<void>;
}

export interface ForwarderOptions {
  /**
   * Highest sequence Kafka already acknowledged (the journal's acked_through): where to
   * resume, and what status() reports until the next acknowledgement. Asked at start(),
   * the journal of the gateway's thread being opened only then.
   */
  ackedThrough?: () => number;
  /** Called after every change of uplink state. */
  onState?: (status: UplinkStatus) => void;
}
