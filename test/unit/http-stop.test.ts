// The ops HTTP server's stop (src/http/server.ts), the gateway's last stop phase: it
// must end even when a client holds a request open, or `systemctl stop` waits for
// Node's requestTimeout and then TimeoutStopSec's SIGKILL. Real sockets, manual clock.
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { HttpServer } from '../../src/http/server.js';
import { waitFor } from '../support/wait.js';
import { makeContext, turns, useCleanups } from './support.js';

const defer = useCleanups();

async function start(clock: ManualClock): Promise<HttpServer> {
  const ctx = makeContext({ http: { host: '127.0.0.1', port: 0 } }, clock);
  const server = new HttpServer(ctx, { ready: () => ({ ready: true, checks: {} }), status: () => ({}) });
  await server.start();
  defer(() => server.stop());
  return server;
}

/** A client that sent `bytes` and then went quiet (a device whose link dropped mid-request, or a slowloris). */
async function stalled(port: number, bytes: string): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.on('error', () => undefined);
  socket.write(bytes);
  defer(() => socket.destroy());
  await turns(5);
  return socket;
}

describe('HttpServer.stop()', () => {
  it('ends within its grace period when a request stays unfinished (half its headers, or a body that never comes)', async () => {
    const clock = new ManualClock();
    const server = await start(clock);
    const headers = await stalled(server.port, 'GET /healthz HTTP/1.1\r\nHost: gw\r\n');
    const body = await stalled(server.port, 'POST /ingest/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n{"a"');
    let stopped = false;
    const stopping = server.stop().then(() => (stopped = true));
    await turns(5);
    clock.advance(1000);
    await waitFor(() => stopped, 3000, 'stop() to end');
    await stopping;
    headers.resume();
    body.resume();
    await waitFor(() => headers.closed && body.closed, 3000, 'both connections to close'); // stream.closed: 'close' emitted
  });

  it('lets a request that completes within the grace period have its response, with Connection: close', async () => {
    const clock = new ManualClock();
    const server = await start(clock);
    const socket = await stalled(server.port, 'GET /healthz HTTP/1.1\r\nHost: gw\r\n');
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    let stopped = false;
    const stopping = server.stop().then(() => (stopped = true));
    await turns(5);
    socket.write('\r\n');
    await waitFor(() => got.includes('"ok"'), 3000, 'the response');
    expect(got).toMatch(/^HTTP\/1\.1 200/);
    // Not kept alive for keepAliveTimeout (5 s): the stop ends with the response, no clock needed.
    expect(got.toLowerCase()).toContain('connection: close');
    await waitFor(() => stopped, 3000, 'stop() to end');
    await stopping;
  });
});
