import type { Clock } from '../core/clock.js';
import type { SimReading, Step } from './schedule.js';

/**
 * How a message was answered: `code` is what the endpoint said (PUBACK, PUBCOMP,
 * 2.04, 4.00, 200, 422, …) or what happened instead (timeout, error; QoS0 when no
 * answer is due). `outcome` classifies it: ack (2.xx, 2xx, PUBACK/PUBCOMP), reject
 * (4.xx, 4xx), fail (5.xx, 5xx, timeout, connection error), none (QoS 0).
 */
export interface Outcome {
  code: string;
  outcome: 'ack' | 'reject' | 'fail' | 'none';
  /** The endpoint's diagnostic, or the error message. */
  detail?: string;
}

/** One simulated device's connection to the endpoint (MQTT client, CoAP endpoint, HTTP agent). */
export interface Transport {
  /** Sends one message; resolves with how it was answered, never rejects. Opens a connection when none is open. */
  send(payload: Buffer, contentType: string): Promise<Outcome>;
  /** A reboot: waits for outstanding answers, then drops the connection abruptly; the next send opens a new one. */
  disconnect(): Promise<void>;
  /** Waits for outstanding answers and closes for good. */
  close(): Promise<void>;
}

/** HTTP bodies: one reading as it is; a batch as a JSON array or as NDJSON lines. */
export interface Framing {
  batch: number;
  ndjson: boolean;
}

export function frame(readings: SimReading[], framing: Framing): { payload: Buffer; contentType: string } {
  if (framing.ndjson) return { payload: Buffer.from(readings.map((r) => `${r.payload}\n`).join('')), contentType: 'application/x-ndjson' };
  const text = readings.length === 1 && framing.batch <= 1 ? readings[0]!.payload : `[${readings.map((r) => r.payload).join(',')}]`;
  return { payload: Buffer.from(text), contentType: 'application/json' };
}

/** Counts for the final summary; readings are counted once each, outcomes once per message. */
export class SimStats {
  messages = 0;
  /** Readings sent (a batch counts its readings). */
  sent = 0;
  /** Readings in messages answered with success. */
  acknowledged = 0;
  /** Readings in messages answered 4.xx / 4xx. */
  rejected = 0;
  /** Readings in messages answered 5.xx / 5xx, or not at all (timeout, connection error). */
  failed = 0;
  /** Messages not answered as expected (see expected()): the exit code is 1 when any. */
  errors = 0;
  outcomes: Record<string, number> = {};
  malformed = 0;
  late = 0;
  /** Readings sent after a newer reading of the same device. */
  outOfOrder = 0;
  reboots = 0;
  /** MQTT connections, HTTP TCP connections, CoAP endpoints (UDP sockets) opened. */
  connections = 0;
  /** A few distinct unexpected answers, for the summary. */
  examples: string[] = [];

  record(readings: SimReading[], result: Outcome): void {
    this.outcomes[result.code] = (this.outcomes[result.code] ?? 0) + 1;
    const n = readings.length;
    if (result.outcome === 'ack') this.acknowledged += n;
    else if (result.outcome === 'reject') this.rejected += n;
    else if (result.outcome === 'fail') this.failed += n;
    if (!expected(result, readings.some((r) => r.malformed !== undefined))) {
      this.errors++;
      const example = `${result.code}${result.detail ? `: ${result.detail}` : ''}`.slice(0, 200);
      if (this.examples.length < 3 && !this.examples.includes(example)) this.examples.push(example);
    }
  }
}

/**
 * As expected: a message of good readings is acknowledged (or, at QoS 0, sent); one
 * carrying a malformed reading gets a definite answer, success or 4.xx/4xx — an
 * endpoint may take the good part of a batch, and MQTT cannot refuse at all.
 */
export function expected(result: Outcome, malformed: boolean): boolean {
  if (result.outcome === 'ack' || result.outcome === 'none') return true;
  return malformed && result.outcome === 'reject';
}

export interface RunOptions {
  clock: Clock;
  stats: SimStats;
  framing: Framing;
  signal?: AbortSignal;
}

/**
 * Plays one device's steps against its transport in real (or manual) time. Timer
 * driven: each timer performs every step that is due and arms the next, so under a
 * ManualClock the steps happen at exactly their scheduled times. Messages are not
 * awaited one by one (a device keeps sending while earlier answers travel); batches
 * (framing.batch > 1) are flushed when full, before a reboot and at the end. Resolves
 * once every message was answered (or timed out) and the transport is closed.
 */
export function runDevice(steps: Iterator<Step>, transport: Transport, opts: RunOptions): Promise<void> {
  const { clock, stats, framing } = opts;
  const start = clock.monotonic();
  const pending = new Set<Promise<void>>();
  let batch: SimReading[] = [];
  let newest = -Infinity;
  let lookahead: Step | undefined;
  let cancel: (() => void) | null = null;
  let finished = false;

  const flush = () => {
    if (batch.length === 0) return;
    const readings = batch;
    batch = [];
    const { payload, contentType } = frame(readings, framing);
    stats.messages++;
    const p = transport.send(payload, contentType).then((result) => stats.record(readings, result));
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };

  const perform = (step: Step) => {
    if (step.kind === 'reboot') {
      flush();
      stats.reboots++;
      // The transport queues later sends behind the disconnect, so nothing overtakes it.
      void transport.disconnect();
      return;
    }
    const r = step.reading;
    stats.sent++;
    if (r.late) stats.late++;
    if (r.malformed) stats.malformed++;
    if (r.takenAt < newest) stats.outOfOrder++;
    newest = Math.max(newest, r.takenAt);
    batch.push(r);
    if (batch.length >= Math.max(1, framing.batch)) flush();
  };

  return new Promise<void>((resolve, reject) => {
    const finish = () => {
      if (finished) return;
      finished = true;
      cancel?.();
      opts.signal?.removeEventListener('abort', finish);
      flush();
      const drain = async () => {
        while (pending.size > 0) await Promise.all([...pending]);
        await transport.close();
      };
      drain().then(resolve, reject);
    };
    const tick = () => {
      cancel = null;
      for (;;) {
        if (finished) return;
        const next = lookahead ?? steps.next().value;
        lookahead = undefined;
        if (!next) return finish();
        const wait = start + next.at - clock.monotonic();
        if (wait > 0) {
          lookahead = next;
          cancel = clock.setTimer(wait, tick);
          return;
        }
        perform(next);
      }
    };
    if (opts.signal?.aborted) return finish();
    opts.signal?.addEventListener('abort', finish, { once: true });
    tick();
  });
}
