// HTTP ingest and the ops endpoints over real sockets, with a real Ingest over a real SqliteJournal.
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { HttpServer } from '../../src/http/server.js';
import { HttpIngestSource } from '../../src/sources/http-ingest.js';
import { ingestHarness } from './coap/support.js';
import { waitFor } from '../support/wait.js';
import { useCleanups } from './support.js';

const defer = useCleanups();

async function start(maxBodyBytes?: number, maxBufferedBytes?: number): Promise<{ port: number; records: () => Array<{ stream: string; key: string; body: string }> }> {
  const h = ingestHarness({ config: { http: { host: '127.0.0.1', port: 0, ...(maxBodyBytes ? { maxBodyBytes } : {}), ...(maxBufferedBytes ? { maxBufferedBytes } : {}) } } });
  const source = new HttpIngestSource(h.ctx, h.ingest);
  await source.start();
  const server = new HttpServer(h.ctx, {
    ready: () => ({ ready: true, checks: {} }),
    status: () => ({}),
    ingest: (req, res, path) => source.handle(req, res, path),
  });
  await server.start();
  defer(async () => {
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

/** A raw POST (node:http, so the framing is ours: Content-Length or chunked); resolves with status, headers and whether the socket closed. */
function post(port: number, path: string, body: Buffer, framing: 'length' | 'chunked') {
  return new Promise<{ status: number; headers: Record<string, unknown>; text: string; closed: boolean }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', ...(framing === 'length' ? { 'content-length': body.length } : { 'transfer-encoding': 'chunked' }) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        const sock = res.socket;
        // The server closes after a 413: give the FIN a moment to arrive.
        setTimeout(() => resolve({ status: res.statusCode!, headers: res.headers, text, closed: !sock || sock.destroyed || sock.readableEnded }), 50);
      });
    });
    req.on('error', (err) => (String(err).includes('EPIPE') || String(err).includes('ECONNRESET') ? undefined : reject(err)));
    // In pieces, as a slow device would: the limit is found while reading when chunked.
    for (let i = 0; i < body.length; i += 4096) req.write(body.subarray(i, i + 4096));
    req.end();
  });
}

describe('HTTP: a body over http.maxBodyBytes (RFC 9110 §15.5.14 413 Content Too Large)', () => {
  const LIMIT = 16 * 1024;
  const big = Buffer.alloc(40 * 1024, 0x20);

  it('announced by Content-Length: 413 with Connection: close, dead-lettered with the size, and the next request is served', async () => {
    const { port, records } = await start(LIMIT);
    const res = await post(port, '/ingest/iot-data-input', big, 'length');
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(JSON.parse(res.text)).toMatchObject({ code: 'WEIR_PAYLOAD_TOO_LARGE', error: `body of ${big.length} bytes exceeds the limit of ${LIMIT}: not read` });
    expect(res.closed).toBe(true);
    const dls = await waitFor(() => { const d = records().filter((r) => r.stream === 'deadletter'); return d.length ? d : undefined; }, 5000, 'the dead letter');
    expect(dls).toHaveLength(1);
    expect(JSON.parse(dls[0]!.body)).toMatchObject({ protocol: 'http', source: 'iot-data-input', client: '127.0.0.1', code: 'WEIR_PAYLOAD_TOO_LARGE', payload_b64: '', payload_bytes: big.length });

    const ok = await post(port, '/ingest/iot-data-input', Buffer.from('{"hostname":"h-9","cpu":"cpu0","usage":3,"occurred_at":1700000000000}'), 'length');
    expect(ok.status).toBe(200);
    expect(records().filter((r) => r.stream === 'readings').map((r) => r.key)).toEqual(['h-9']);
  });

  it('found while reading a chunked body: 413 with Connection: close and a dead letter with the bytes read so far', async () => {
    const { port, records } = await start(LIMIT);
    const res = await post(port, '/ingest/iot-data-input', big, 'chunked');
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    const body = JSON.parse(res.text) as { error: string };
    const read = Number(/at least (\d+) bytes/.exec(body.error)?.[1]);
    expect(read).toBeGreaterThan(LIMIT);
    expect(read).toBeLessThanOrEqual(big.length);
    const dls = await waitFor(() => { const d = records().filter((r) => r.stream === 'deadletter'); return d.length ? d : undefined; }, 5000, 'the dead letter');
    expect(dls.map((r) => JSON.parse(r.body) as Record<string, unknown>)).toEqual([expect.objectContaining({ code: 'WEIR_PAYLOAD_TOO_LARGE', payload_bytes: read })]);
  });
});

describe('HTTP: bodies being read share http.maxBufferedBytes', () => {
  const reading = (n: number) => Buffer.from(JSON.stringify({ hostname: `h${n}`, cpu: 'cpu0', usage: 1, occurred_at: 1_700_000_000_000 + n }));

  it('answers 503 with Retry-After while slow uploads hold the budget, and serves again once they end', async () => {
    const { port, records } = await start(16 * 1024, 20 * 1024);
    // A slow device: announces 12 KiB (a JSON array of readings padded with spaces), sends 10 KiB, then waits.
    const body = Buffer.concat([Buffer.from('['), reading(1), Buffer.from(']'), Buffer.alloc(12 * 1024, 0x20)]);
    let answer!: (status: number) => void;
    const slowDone = new Promise<number>((resolve) => (answer = resolve));
    const slow = request({ host: '127.0.0.1', port, path: '/ingest/iot-data-input', method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => { res.resume(); answer(res.statusCode!); });
    slow.write(body.subarray(0, 10 * 1024));
    await new Promise((r) => setTimeout(r, 100));

    // 10 KiB held: another 12 KiB body does not fit in 20 KiB, announced or not.
    const second = Buffer.concat([reading(2), Buffer.alloc(12 * 1024, 0x20)]);
    for (const framing of ['length', 'chunked'] as const) {
      const busy = await post(port, '/ingest/iot-data-input', second, framing);
      expect(busy.status, framing).toBe(503);
      expect(busy.headers['retry-after']).toBe('1');
      expect(JSON.parse(busy.text)).toMatchObject({ code: 'WEIR_INGEST_BUSY' });
    }
    // A small one still fits.
    expect((await post(port, '/ingest/iot-data-input', reading(3), 'length')).status).toBe(200);

    slow.end(body.subarray(10 * 1024));
    expect(await slowDone).toBe(200);
    // Released: the 12 KiB body is taken now.
    expect((await post(port, '/ingest/iot-data-input', second, 'chunked')).status).toBe(200);
    expect(records().filter((r) => r.stream === 'readings').map((r) => r.key).sort()).toEqual(['h1', 'h2', 'h3']);
  });
});
