import type { ErrorCode } from '../core/errors.js';
import type { ProfileSpec, Protocol } from './schema.js';
import type { TopicPattern } from './topic-pattern.js';

/** One reading: what `weir.readings` carries, less the fields the journal adds. */
export interface Reading {
  device: string;
  profile: string;
  /** Event time, epoch ms. */
  ts: number;
  tags: Record<string, string>;
  metrics: Record<string, number>;
}

/** Why (part of) a payload was not turned into readings: becomes a dead letter. */
export interface Rejection {
  code: ErrorCode;
  reason: string;
  /** The offending part when only part of a batch payload was bad; else the whole payload. */
  payload?: Buffer;
  /** The device id, when it could be read. */
  device?: string;
}

export interface DecodeResult {
  readings: Reading[];
  rejects: Rejection[];
}

export interface DecodeInput {
  payload: Buffer;
  /** Segments captured by the matching topic/path pattern. */
  params: Record<string, string>;
  /** Gateway time of receipt: the event time of readings whose profile declares none. */
  received: number;
}

/** A validated, ready-to-use device profile. decode() never throws. */
export interface CompiledProfile {
  name: string;
  file: string;
  spec: ProfileSpec;
  patterns: Array<{ protocol: Protocol; pattern: TopicPattern }>;
  decode(input: DecodeInput): DecodeResult;
}
