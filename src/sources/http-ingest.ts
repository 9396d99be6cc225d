import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from '../core/context.js';
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

  constructor(private readonly ctx: Context, private readonly ingest: Ingest) {}

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
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        send(res, 413, { error: `body over ${limit} bytes`, code: 'WEIR_PAYLOAD_TOO_LARGE' });
        req.destroy();
        return;
      }
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
}

function unavailable(res: ServerResponse, reason: string): void {
  res.setHeader('retry-after', '1');
  send(res, 503, { error: reason, code: 'WEIR_JOURNAL_BUSY' });
}
