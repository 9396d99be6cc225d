// `weir status` (src/cli/status.ts) called as a function, against a stand-in for the
// gateway's /api/status: PRODUCT.md, CLI — "backlog per stream, age of the oldest
// unsent record, disk use, uplink state".
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { statusCommand } from '../../src/cli/status.js';
import { cleanupTempDirs, tempDir } from './support.js';

let server: Server | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  cleanupTempDirs();
});

const STATUS = { gateway: 'gw-6', version: '0.1.0', backlog: { readings: 4 }, backlogTotal: 4 };

/** An /api/status stand-in listening on `host`; resolves to its port. */
async function serveStatus(host: string): Promise<number> {
  server = createServer((req, res) => {
    res.writeHead(req.url === '/api/status' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(STATUS));
  });
  await new Promise<void>((resolve) => server!.listen(0, host, resolve));
  return (server!.address() as AddressInfo).port;
}

describe('weir status', () => {
  it.each(['127.0.0.1', '::1'])('asks the gateway whose http.host is %s', async (host) => {
    const port = await serveStatus(host);
    const dir = tempDir();
    const file = join(dir, 'weir.yaml');
    writeFileSync(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nhttp: { host: "${host}", port: ${port} }\n`);
    const out: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => void out.push(String(line)));
    const code = await statusCommand(['-c', file, '--json']);
    expect(JSON.parse(out.join('\n'))).toEqual(STATUS);
    expect(code).toBe(0);
  });
});
