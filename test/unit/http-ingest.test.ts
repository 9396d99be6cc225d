// HTTP ingest and the ops endpoints over real sockets, with a real Ingest over a real SqliteJournal.
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServer } from '../../src/http/server.js';
import { HttpIngestSource } from '../../src/sources/http-ingest.js';
import { ingestHarness } from './coap/support.js';
import { cleanupTempDirs } from './support.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  cleanupTempDirs();
});

async function start(): Promise<{ port: number; records: () => unknown[] }> {
  const h = ingestHarness({ config: { http: { host: '127.0.0.1', port: 0 } } });
  const source = new HttpIngestSource(h.ctx, h.ingest);
  await source.start();
  const server = new HttpServer(h.ctx, {
    ready: () => ({ ready: true, checks: {} }),
    status: () => ({}),
    ingest: (req, res, path) => source.handle(req, res, path),
  });
  await server.start();
  cleanups.push(async () => {
    await source.stop();
    await server.stop();
    await h.close();
  });
  return { port: server.port, records: () => h.records() };
}

describe('HTTP: 405 carries Allow (RFC 9110 §15.5.6: the origin server MUST generate an Allow header field in a 405)', () => {
  it('GET /ingest/<path> is answered 405 with Allow: POST', async () => {
    const { port, records } = await start();
    const res = await fetch(`http://127.0.0.1:${port}/ingest/iot-data-input`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(records()).toEqual([]);
  });

  it('POST /healthz is answered 405 with Allow: GET, HEAD', async () => {
    const { port } = await start();
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});
