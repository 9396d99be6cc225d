// systemd's notification protocol, as the unit (Type=notify, WatchdogSec) relies on it:
// `weir run` under a test NOTIFY_SOCKET (a real AF_UNIX datagram socket bound here)
// sends READY=1 only once its listeners accept, WATCHDOG=1 at half of WATCHDOG_USEC,
// and STOPPING=1 when SIGTERM begins the graceful stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { getJson, REPO, sleep, testSetup, waitFor } from '../support/gateway.js';

interface Dgram {
  on(event: 'message', fn: (msg: Buffer) => void): void;
  bind(path: string): void;
  close(): void;
}
const unixDgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram', fn?: (msg: Buffer) => void): Dgram };

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

describe('systemd notifications', () => {
  const brokers = inject('kafkaBrokers');
  let child: ChildProcess | undefined;
  let socket: Dgram | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
    socket?.close();
  });

  it('READY after the listeners are up, WATCHDOG at half of WATCHDOG_USEC, STOPPING on SIGTERM', async () => {
    const setup = await testSetup(brokers);
    const configFile = join(setup.dir, 'weir.yaml');
    writeFileSync(configFile, stringify(setup.config));
    const path = join(setup.dir, 'notify.sock');
    const got: Array<{ at: number; msg: string; mqttUp?: Promise<boolean>; ready?: Promise<unknown> }> = [];
    socket = unixDgram.createSocket('unix_dgram', (buf) => {
      const msg = buf.toString();
      const entry: (typeof got)[number] = { at: Date.now(), msg };
      // Probed the moment READY arrives: the listeners must already accept.
      if (msg.includes('READY=1')) {
        entry.mqttUp = tcpAccepts(setup.mqttPort);
        entry.ready = getJson(setup.httpPort, '/readyz').then((r) => r.status, () => 'unreachable');
      }
      got.push(entry);
    });
    socket.bind(path);
    child = spawn(process.execPath, [join(REPO, 'bin/weir.js'), 'run', '-c', configFile], {
      stdio: ['ignore', 'ignore', 'ignore'],
      env: { ...process.env, NOTIFY_SOCKET: path, WATCHDOG_USEC: '400000' },
    });
    await waitFor(() => got.some((g) => g.msg.includes('READY=1')), 30_000, 'READY=1');
    const ready = got.find((g) => g.msg.includes('READY=1'))!;
    expect(ready.msg).toContain(`MAINPID=${child.pid}`);
    expect(await ready.mqttUp).toBe(true);
    expect(await ready.ready).toBe('ready');
    expect(got.filter((g) => g.msg === 'WATCHDOG=1')).toHaveLength(0); // none before READY
    await sleep(1500);
    const beats = got.filter((g) => g.msg === 'WATCHDOG=1');
    // Every 200 ms (half of 400 ms): about 7 in 1.5 s; at least 4 even on a loaded machine.
    expect(beats.length).toBeGreaterThanOrEqual(4);
    const mean = (beats[beats.length - 1]!.at - beats[0]!.at) / (beats.length - 1);
    expect(mean).toBeGreaterThan(150);
    expect(mean).toBeLessThan(400);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(got.some((g) => g.msg.startsWith('STOPPING=1'))).toBe(true);
  });
});
