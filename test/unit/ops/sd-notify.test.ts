// systemd's notification protocol (src/ops/sd-notify.ts) against a real AF_UNIX
// datagram socket bound here, on a manual clock: what each call sends, and when the
// watchdog pings. The whole process under systemd is test/e2e/sd-notify.test.ts.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { SystemdNotifier } from '../../../src/ops/sd-notify.js';
import { tempDir, useCleanups } from '../support.js';

interface Dgram {
  bind(path: string): void;
  close(): void;
}
const unixDgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram', fn?: (msg: Buffer) => void): Dgram };

const defer = useCleanups();

/** A notifier talking to a socket bound here; `next()` resolves with the next datagram it receives. */
function harness(clock: ManualClock) {
  const path = join(tempDir(), 'notify.sock');
  const got: string[] = [];
  let wake: (() => void) | null = null;
  const socket = unixDgram.createSocket('unix_dgram', (msg) => {
    got.push(msg.toString());
    wake?.();
  });
  socket.bind(path);
  const notifier = SystemdNotifier.create({ NOTIFY_SOCKET: path }, silentLogger, clock)!;
  defer(() => socket.close());
  defer(() => notifier.close());
  /** Everything received up to and including a marker sent now (datagrams on one socket arrive in order). */
  const drain = async (): Promise<string[]> => {
    notifier.notify('STATUS=marker');
    while (!got.includes('STATUS=marker')) await new Promise<void>((resolve) => (wake = resolve));
    return got.splice(0).filter((m) => m !== 'STATUS=marker');
  };
  return { notifier, drain };
}

describe('systemd watchdog (sd_watchdog_enabled(3), systemd.service(5) WatchdogSec=)', () => {
  it('pings at half of WATCHDOG_USEC while healthy, and stops pinging while not, so systemd restarts the gateway', async () => {
    const clock = new ManualClock();
    const { notifier, drain } = harness(clock);
    let healthy = true;
    notifier.ready({ WATCHDOG_USEC: '30000000' }, () => healthy);
    expect(await drain()).toEqual([`READY=1\nSTATUS=serving\nMAINPID=${process.pid}`]);
    clock.advance(15_000);
    clock.advance(15_000);
    expect(await drain()).toEqual(['WATCHDOG=1', 'WATCHDOG=1']);
    // E.g. the journal failed a flush: nothing is acknowledged until a restart (journal/wal-sync.ts).
    healthy = false;
    clock.advance(60_000);
    expect(await drain()).toEqual([]);
  });
});

describe('reload notifications (sd_notify(3) RELOADING=1, MONOTONIC_USEC=; systemd.service(5) Type=notify-reload)', () => {
  it('RELOADING=1 carries the CLOCK_MONOTONIC time in µs, and READY=1 ends the reload', async () => {
    const { notifier, drain } = harness(new ManualClock());
    const before = process.hrtime.bigint() / 1000n; // libuv's hrtime is CLOCK_MONOTONIC on Linux
    notifier.reloading();
    const after = process.hrtime.bigint() / 1000n;
    notifier.reloaded();
    const [reloading, ready, ...rest] = await drain();
    const fields = new Map(reloading!.split('\n').map((l) => l.split('=', 2) as [string, string]));
    expect(fields.get('RELOADING')).toBe('1');
    expect(fields.get('MONOTONIC_USEC')).toMatch(/^\d+$/);
    const usec = BigInt(fields.get('MONOTONIC_USEC')!);
    expect(usec >= before && usec <= after, `${usec} within [${before}, ${after}]`).toBe(true);
    expect(ready).toBe('READY=1\nSTATUS=serving');
    expect(rest).toEqual([]);
  });

  it('a reload that ends after the stop began does not announce READY=1 after STOPPING=1', async () => {
    const { notifier, drain } = harness(new ManualClock());
    notifier.reloading();
    notifier.stopping(); // SIGTERM while the reload still runs
    notifier.reloaded();
    const got = await drain();
    expect(got.map((m) => m.split('\n')[0])).toEqual(['RELOADING=1', 'STOPPING=1']);
  });
});
