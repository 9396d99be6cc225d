/**
 * A serial port's framing and submission stage: cuts the bytes read into frames
 * (framing.ts: lines, NMEA 0183 sentences or length-prefixed binary) and submits each
 * to ingest as `{ protocol: 'serial', topic: <port name>, client: <path> }`.
 *
 * Why nothing is retried: serial devices get no acknowledgement and cannot resend, so
 * a frame the journal refuses is lost; it is counted (errors), kept as lastError and
 * logged once per run of refusals (a busy journal refuses every frame for a while).
 *
 * Call order: push() for each chunk read, in stream order; reset() when the port is
 * lost or stopped. Guarantees: frames are submitted in stream order; tracker.begin()
 * before each submit and tracker.end() in its callback, exactly once each; counters
 * frames, bytes, oversize and deadLetters are kept. Errors: none thrown (a journal
 * refusal arrives in the ingest callback).
 */
import { describeError } from '../../core/errors.js';
import type { Ingest, IngestCallback } from '../../ingest/ingest.js';
import { createFramer, type Frame, type Framer } from './framing.js';
import type { PortCtx } from './port-ctx.js';

/** Called around each submit, so the source can wait for in-flight commits at stop(). */
export interface SubmitTracker {
  begin(): void;
  end(): void;
}

export class FrameSubmitter {
  private readonly framer: Framer;
  private journalFailing = false;

  constructor(private readonly ctx: PortCtx, private readonly ingest: Ingest, private readonly tracker: SubmitTracker) {
    this.framer = createFramer(ctx.config);
  }

  /** Bytes read that went into no frame (see Framer.discardedBytes). */
  get discardedBytes(): number {
    return this.framer.discardedBytes;
  }

  push(chunk: Buffer): void {
    this.ctx.counters.bytes += chunk.length;
    for (const frame of this.framer.push(chunk)) this.submit(frame);
  }

  /** Forgets a partial frame; returns the bytes dropped. */
  reset(): number {
    return this.framer.reset();
  }

  private submit(frame: Frame): void {
    const c = this.ctx;
    c.counters.frames++;
    if (frame.oversize) c.counters.oversize++;
    const { name, path, maxFrameBytes } = c.config;
    const done: IngestCallback = (err, outcome) => {
      c.counters.deadLetters += outcome.rejects.length;
      if (err) {
        c.noteError(err);
        // Once per run of failures: a busy journal refuses every frame for a while.
        if (!this.journalFailing) c.log.warn({ err: describeError(err) }, 'serial frames lost: the journal refused them (serial devices cannot resend)');
        this.journalFailing = true;
      } else if (this.journalFailing) {
        this.journalFailing = false;
        c.log.info('the journal takes serial frames again');
      }
      this.tracker.end();
    };
    this.tracker.begin();
    if (frame.announcedBytes !== undefined) {
      // A length field over the limit: dead-lettered unread, with the field as read (framing.ts).
      const reason = `length field announces ${frame.announcedBytes} bytes, over maxFrameBytes (${maxFrameBytes}): frame not read; framing resynchronises at the next plausible length field`;
      const reject = { code: 'WEIR_PAYLOAD_TOO_LARGE' as const, reason, payload: frame.payload };
      this.ingest.refuseUnread({ protocol: 'serial', topic: name, client: path }, frame.announcedBytes, reject, done);
      return;
    }
    this.ingest.submit({ protocol: 'serial', topic: name, payload: frame.payload, client: path, maxBytes: maxFrameBytes }, done);
  }
}
