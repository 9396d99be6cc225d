import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Context } from '../core/context.js';
import { describeError } from '../core/errors.js';

/** How long stop() lets requests in progress finish before closing their connections. */
const STOP_GRACE_MS = 1000;

/** What the HTTP server asks of the gateway. */
export interface HttpDeps {
  /** Journal open and every source listening: /readyz. */
  ready(): { ready: boolean; checks: Record<string, unknown> };
  /** The document /api/status serves and `weir status` prints. */
  status(): object;
  /** Optional ingest handler (POST /ingest/...), added by the HTTP source. */
  ingest?(req: IncomingMessage, res: ServerResponse, path: string): void;
}

/**
 * The operations endpoint: /healthz (the process answers), /readyz (journal open,
 * listeners up; uplink state reported but not required — with Kafka down the
 * gateway is still ready: it buffers), /metrics (Prometheus text format 0.0.4),
 * /api/status (JSON). POST /ingest/<path> is delegated to the HTTP source.
 */
export class HttpServer {
  private server: Server | null = null;

  constructor(private readonly ctx: Context, private readonly deps: HttpDeps) {}

  async start(): Promise<void> {
    const { http } = this.ctx.config;
    const server = createServer((req, res) => {
      this.route(req, res).catch((err) => {
        this.ctx.log.error({ err: describeError(err), url: req.url }, 'HTTP handler failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 5000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(http.port, http.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.ctx.log.child({ component: 'http' }).info({ port: this.port }, 'HTTP listening');
  }

  get port(): number {
    const addr = this.server?.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Stopping: the connection closes after this response (RFC 9112 §9.6), not idles on.
    if (!this.server) res.setHeader('connection', 'close');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith('/ingest/') && this.deps.ingest) return this.deps.ingest(req, res, path.slice('/ingest/'.length));
    // RFC 9110 §15.5.6: a 405 MUST carry Allow.
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res.setHeader('allow', 'GET, HEAD'), 405, { error: 'method not allowed' });
    switch (path) {
      case '/healthz':
        return send(res, 200, { status: 'ok' });
      case '/readyz': {
        const r = this.deps.ready();
        return send(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', ...r.checks });
      }
      case '/metrics': {
        const text = await this.ctx.metrics.render();
        res.writeHead(200, { 'content-type': this.ctx.metrics.contentType });
        res.end(text);
        return;
      }
      case '/api/status':
        return send(res, 200, this.deps.status());
      default:
        return send(res, 404, { error: 'not found', paths: ['/healthz', '/readyz', '/metrics', '/api/status', 'POST /ingest/<path>'] });
    }
  }

  /**
   * Stops listening and closes idle keep-alive connections at once; requests in progress
   * get STOP_GRACE_MS to finish, then every connection is closed. This is the gateway's
   * last stop phase (the journal is closed: nothing more can be acknowledged), and a
   * client holding a request open — a device whose link dropped mid-POST, a slowloris —
   * would otherwise hold the stop for Node's requestTimeout, past TimeoutStopSec.
   */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const cancel = this.ctx.clock.setTimer(STOP_GRACE_MS, () => server.closeAllConnections());
    await closed;
    cancel();
  }
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
