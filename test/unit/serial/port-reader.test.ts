// PortReader against FAKE port handles and a FAKE Ingest that records deliveries
// (clearly not the real ones): for what a PTY cannot show on demand — exact backoff
// timing on a manual clock, a device that vanishes without any read error (the path
// watchdog), the Delivery each frame becomes, and journal refusals.
import { EventEmitter } from 'node:events';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serialPortSchema } from '../../../src/config/serial-schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { Delivery, Ingest, IngestCallback } from '../../../src/ingest/ingest.js';
import type { OpenPort, SerialOpenOptions, SerialPortHandle } from '../../../src/sources/serial/open-port.js';
import { WATCH_INTERVAL_MS } from '../../../src/sources/serial/path-watch.js';
import { PortReader } from '../../../src/sources/serial/port-reader.js';
import { cleanupTempDirs, makeContext, tempDir, turns } from '../support.js';
import { waitFor } from '../../support/wait.js';

afterEach(cleanupTempDirs);

/** A fake serial port: opens when `canOpen()` says so, never errors by itself. */
class FakePort extends EventEmitter implements SerialPortHandle {
  isOpen = false;
  constructor(readonly options: SerialOpenOptions, private readonly canOpen: () => boolean) {
    super();
  }
  open(cb: (err: Error | null) => void): void {
    if (!this.canOpen()) return void process.nextTick(cb, new Error(`No such file or directory, cannot open ${this.options.path}`));
    this.isOpen = true;
    process.nextTick(cb, null);
  }
  close(cb?: (err: Error | null) => void): void {
    this.isOpen = false;
    process.nextTick(() => { this.emit('close', null); cb?.(null); });
  }
  pause(): this {
    return this;
  }
}

/** A FAKE Ingest: records deliveries and answers each with `answer`. */
function recordingIngest(answer: (d: Delivery) => Error | null = () => null) {
  const deliveries: Delivery[] = [];
  const ingest = {
    submit(d: Delivery, done: IngestCallback) {
      deliveries.push(d);
      const err = answer(d);
      process.nextTick(done, err, { readings: err ? 0 : 1, rejects: [], ignored: false });
    },
  } as unknown as Ingest;
  return { ingest, deliveries };
}

function reader(opts: { clock?: ManualClock; canOpen: () => boolean; answer?: (d: Delivery) => Error | null; port?: Record<string, unknown> }) {
  const ctx = makeContext({}, opts.clock);
  const logs: Array<[string, string]> = [];
  const log = (level: string) => (_o: unknown, msg?: string) => void logs.push([level, msg ?? String(_o)]);
  const child = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  ctx.log = Object.assign(Object.create(ctx.log), { child: () => child });
  const ports: FakePort[] = [];
  const open: OpenPort = (o) => {
    const p = new FakePort(o, opts.canOpen);
    ports.push(p);
    return p;
  };
  const { ingest, deliveries } = recordingIngest(opts.answer);
  let inflight = 0;
  const config = serialPortSchema.parse({ name: 'meter', path: '/dev/ttyFAKE0', ...opts.port });
  const r = new PortReader(ctx, ingest, config, open, { begin: () => inflight++, end: () => inflight-- });
  return { r, ports, deliveries, logs, inflight: () => inflight };
}

describe('PortReader (fake port, fake ingest)', () => {
  it('frames become deliveries { serial, port name, path, maxFrameBytes } in stream order', async () => {
    const t = reader({ canOpen: () => true, port: { maxFrameBytes: 100, baudRate: 19200, parity: 'even' } });
    await t.r.start();
    expect(t.ports[0]!.options).toEqual({ path: '/dev/ttyFAKE0', baudRate: 19200, dataBits: 8, parity: 'even', stopBits: 1, autoOpen: false, lock: true });
    t.ports[0]!.emit('data', Buffer.from('a\r\nb\nc'));
    t.ports[0]!.emit('data', Buffer.from('\n'));
    expect(t.deliveries.map((d) => ({ ...d, payload: d.payload.toString() }))).toEqual(['a', 'b', 'c'].map((payload) =>
      ({ protocol: 'serial', topic: 'meter', payload, client: '/dev/ttyFAKE0', maxBytes: 100 })));
    expect(t.inflight()).toBe(3);
    await turns();
    expect(t.inflight()).toBe(0);
    expect(t.r.status()).toMatchObject({ frames: 3, bytes: 7, errors: 0 });
    await t.r.halt();
    await t.r.close();
    expect(t.ports[0]!.isOpen).toBe(false);
  });

  it('reopens with exponential backoff and full jitter between reopenMinMs/2 and reopenMaxMs; one warning per outage', async () => {
    const clock = new ManualClock();
    let present = false;
    const t = reader({ clock, canOpen: () => present, port: { reopenMinMs: 100, reopenMaxMs: 1000 } });
    await t.r.start();
    expect(t.r.status()).toMatchObject({ state: 'closed', errors: 1, attempt: 1 });
    // Step the clock 10 ms at a time and note when each attempt happens.
    const times: number[] = [];
    for (let ms = 0; ms < 10_000 && times.length < 8; ms += 10) {
      const before = t.ports.length;
      clock.advance(10);
      await turns(2);
      if (t.ports.length > before) times.push(clock.monotonic());
    }
    expect(times).toHaveLength(8);
    const gaps = times.map((x, i) => x - (times[i - 1] ?? 0));
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(50 - 10);
      expect(g).toBeLessThanOrEqual(1000 + 10);
    }
    expect(t.r.status()).toMatchObject({ errors: 1, open: false }); // one outage, one error, however many retries
    present = true;
    clock.advance(1000);
    await turns(3);
    expect(t.r.status()).toMatchObject({ state: 'open', attempt: 0 });
    expect(t.logs.filter(([l]) => l === 'warn')).toHaveLength(1);
    expect(t.logs.filter(([, m]) => m.includes('reopened'))).toHaveLength(1);
    await t.r.halt();
    await t.r.close();
  });

  it('the path watchdog notices a device that vanished without a read error, and the port reopens when it is back', async () => {
    const dir = tempDir('weir-serial-watch-');
    const path = join(dir, 'ttyWATCH');
    writeFileSync(path, '');
    const t = reader({ canOpen: () => existsSync(path), port: { path, reopenMinMs: 20, reopenMaxMs: 40 } });
    await t.r.start();
    expect(t.r.status().open).toBe(true);
    rmSync(path);
    await waitFor(() => t.r.status().open === false, WATCH_INTERVAL_MS * 3, 'watchdog', 10);
    expect(t.r.status().lastError).toMatchObject({ message: `${path} disappeared` });
    expect(t.ports[0]!.isOpen).toBe(false); // the stale handle was closed
    writeFileSync(path, '');
    await waitFor(() => t.r.status().open === true, 2000, 'reopen', 10);
    t.ports.at(-1)!.emit('data', Buffer.from('x\n'));
    expect(t.deliveries.map((d) => d.payload.toString())).toEqual(['x']);
    await t.r.halt();
    await t.r.close();
  });

  it('events of a handle already replaced are ignored (no double reopen)', async () => {
    const t = reader({ canOpen: () => true, port: { reopenMinMs: 10, reopenMaxMs: 20 } });
    await t.r.start();
    const first = t.ports[0]!;
    first.emit('error', new Error('EIO'));
    first.emit('close', new Error('EIO')); // the same loss reported twice
    await waitFor(() => t.r.status().open === true, 2000, 'reopen', 10);
    expect(t.ports).toHaveLength(2);
    expect(t.r.status()).toMatchObject({ errors: 1, reopens: 1 });
    await t.r.halt();
    await t.r.close();
  });

  it('frames the journal refuses are counted as errors and logged once per run of refusals', async () => {
    let refuse = true;
    const t = reader({ canOpen: () => true, answer: () => (refuse ? new Error('WEIR_JOURNAL_BUSY: too many pending records') : null) });
    await t.r.start();
    t.ports[0]!.emit('data', Buffer.from('1\n2\n3\n'));
    await turns();
    refuse = false;
    t.ports[0]!.emit('data', Buffer.from('4\n'));
    await turns();
    expect(t.r.status()).toMatchObject({ frames: 4, errors: 3, lastError: { message: 'WEIR_JOURNAL_BUSY: too many pending records' } });
    expect(t.logs.filter(([l]) => l === 'warn')).toHaveLength(1);
    expect(t.logs.filter(([, m]) => m.includes('takes serial frames again'))).toHaveLength(1);
    await t.r.halt();
    await t.r.close();
  });
});
