import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from '../core/context.js';
import type { ErrorCode } from '../core/errors.js';
import { LogThrottle } from '../core/log-throttle.js';
import type { Ingest } from '../ingest/ingest.js';
import { send } from '../http/server.js';
import type { Source } from './source.js';

/**
 * HTTP ingest: `POST /ingest/<path>` on the gateway's HTTP port, matched by profiles'
 * `http` rules. The response is sent only after the payload's records are committed:
 * 200 with the count of readings; 422 (or 404 when no profile matches) when the
 * payload was dead-lettered, with the reasons; 413 over http.maxBodyBytes; 503 with
 * Retry-After while the journal cannot take it (RFC 9110 §15.6.4) — then nothing
 * was stored and the device should resend. 503 too when bodies being read already hold
 * http.maxBufferedBytes: each connection may buffer up to maxBodyBytes until its body
 * ends, so without a shared budget a few hundred slow uploads would hold gigabytes.
 */
export class HttpIngestSource implements Source {
  readonly name = 'http';
  private accepting = false;
  /** Bytes of request bodies being read, across connections (http.maxBufferedBytes). */
  private buffered = 0;

  /** Warnings clients can set off at will, at most one a minute per kind. */
  private readonly warnings: LogThrottle;

  constructor(private readonly ctx: Context, private readonly ingest: Ingest) {
    this.warnings = new LogThrottle(ctx.log.child({ component: 'http' }), ctx.clock);
  }

  async start(): Promise<void> {
    this.accepting = true;
  }

  async stop(): Promise<void> {
    this.accepting = false;
  }

  status(): Record<string, unknown> {
    return { listening: this.accepting, port: this.ctx.config.http.port };
  }

  handle(req: IncomingMessage, res: ServerResponse, path: string): void {
    // RFC 9110 §15.5.6: a 405 MUST carry Allow.
    if (req.method !== 'POST') return send(res.setHeader('allow', 'POST'), 405, { error: 'use POST' });
    if (!this.accepting) return unavailable(res, 'gateway is not accepting');
    const limit = this.ctx.config.http.maxBodyBytes;
    // A body announced too large is refused before a byte of it is read.
    const announced = Number(req.headers['content-length']);
    if (announced > limit) return this.tooLarge(req, res, path, announced, true);
    const budget = this.ctx.config.http.maxBufferedBytes;
    if (announced > 0 && this.buffered + announced > budget) return this.busy(req, res);
    const chunks: Buffer[] = [];
    let size = 0;
    let held = 0;
    const release = (): void => {
      this.buffered -= held;
      held = 0;
    };
    req.on('data', (chunk: Buffer) => {
      if (res.headersSent) return;
      size += chunk.length;
      if (size > limit) {
        release();
        return this.tooLarge(req, res, path, size, false);
      }
      if (this.buffered + chunk.length > budget) {
        release();
        return this.busy(req, res);
      }
      this.buffered += chunk.length;
      held += chunk.length;
      chunks.push(chunk);
    });
    req.on('close', release); // a client gone mid-body
    req.on('end', () => {
      if (res.headersSent) return;
      const payload = Buffer.concat(chunks);
      release(); // decoded at once by submit(): what stays until the commit is small
      const delivery = { protocol: 'http' as const, topic: path, payload, client: req.socket.remoteAddress ?? 'http', maxBytes: limit };
      this.ingest.submit(delivery, (err, outcome) => {
        if (err) return unavailable(res, err.message);
        const deadLetters = outcome.rejects.length;
        if (outcome.readings === 0 && deadLetters > 0) {
          const notFound = outcome.rejects.every((r) => r.code === 'WEIR_NO_PROFILE');
          return send(res, notFound ? 404 : 422, { accepted: 0, deadLetters, errors: outcome.rejects });
        }
        send(res, 200, { accepted: outcome.readings, deadLetters, errors: outcome.rejects });
      });
    });
    req.on('error', () => res.destroy());
  }

  /**
   * 413 (RFC 9110 §15.5.14) for a body over http.maxBodyBytes, announced or found while
   * reading; the rest is not read, so the connection closes after the response (and says
   * so: `Connection: close`, RFC 9112 §9.6). Dead-lettered like an oversize MQTT packet
   * (Ingest.refuseUnread: reason and size, no payload), so the count and weir.deadletter agree.
   */
  private tooLarge(req: IncomingMessage, res: ServerResponse, path: string, bytes: number, announced: boolean): void {
    const limit = this.ctx.config.http.maxBodyBytes;
    const client = req.socket.remoteAddress ?? 'http';
    const reason = `body of ${announced ? '' : 'at least '}${bytes} bytes exceeds the limit of ${limit}: not read`;
    this.ingest.refuseUnread({ protocol: 'http', topic: path, client }, bytes, { code: 'WEIR_PAYLOAD_TOO_LARGE', reason }, (err) => {
      if (err) this.warnings.warn('oversize-unjournaled', { client, err: err.message }, 'dead letter for an oversize body not journaled');
    });
    res.setHeader('connection', 'close');
    send(res, 413, { error: reason, code: 'WEIR_PAYLOAD_TOO_LARGE' });
    res.once('finish', () => req.destroy());
  }

  /** 503 while the bodies being read hold http.maxBufferedBytes; the rest of this one is not read, so the connection closes. */
  private busy(req: IncomingMessage, res: ServerResponse): void {
    const budget = this.ctx.config.http.maxBufferedBytes;
    this.warnings.warn('buffer-full', { client: req.socket.remoteAddress, maxBufferedBytes: budget }, 'HTTP request bodies being read hold http.maxBufferedBytes: answering 503');
    res.setHeader('connection', 'close');
    unavailable(res, `request bodies being read hold ${budget} bytes (http.maxBufferedBytes); retry later`, 'WEIR_INGEST_BUSY');
    res.once('finish', () => req.destroy());
  }
}

function unavailable(res: ServerResponse, reason: string, code: ErrorCode = 'WEIR_JOURNAL_BUSY'): void {
  res.setHeader('retry-after', '1');
  send(res, 503, { error: reason, code });
}
