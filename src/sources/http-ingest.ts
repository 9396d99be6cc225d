import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from '../core/context.js';
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
 * was stored and the device should resend.
 */
export class HttpIngestSource implements Source {
  readonly name = 'http';
  private accepting = false;

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
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (res.headersSent) return;
      size += chunk.length;
      if (size > limit) return this.tooLarge(req, res, path, size, false);
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      const delivery = { protocol: 'http' as const, topic: path, payload: Buffer.concat(chunks), client: req.socket.remoteAddress ?? 'http', maxBytes: limit };
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
}

function unavailable(res: ServerResponse, reason: string): void {
  res.setHeader('retry-after', '1');
  send(res, 503, { error: reason, code: 'WEIR_JOURNAL_BUSY' });
}
