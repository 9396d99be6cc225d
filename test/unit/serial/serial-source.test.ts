// The serial source end to end over real pseudo-terminals (socat): bytes written to
// the peer end go through the framer, a real Ingest and a real SqliteJournal.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { serialConfigSchema, type SerialConfigInput } from '../../../src/config/serial-schema.js';
import { createLogger } from '../../../src/core/logger.js';
import { Ingest } from '../../../src/ingest/ingest.js';
import type { StoredRecord } from '../../../src/journal/journal.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { loadProfilesOrThrow } from '../../../src/profiles/registry.js';
import { loadSerialPort, type OpenPort } from '../../../src/sources/serial/open-port.js';
import { SerialSource, type SerialSourceDeps } from '../../../src/sources/serial/serial-source.js';
import { makeContext, tempDir, useCleanups } from '../support.js';
import { SocatPty } from './pty.js';
import { sleep, waitFor } from '../../support/wait.js';

type PortInput = NonNullable<SerialConfigInput['ports']>[number];

/** A JSON profile for serial port `port`: {"id": device, "v": number}. */
const jsonProfile = (port: string) => [
  `name: serial-${port}`,
  'match:',
  `  - { protocol: serial, port: ${port} }`,
  'decoder: { type: json }',
  'device: { field: id }',
  'metrics:',
  '  v: { required: true }',
  'samples:',
  `  - { payload: '{"id":"d1","v":1}', expect: [ { device: d1, metrics: { v: 1 } } ] }`,
  '',
].join('\n');

const defer = useCleanups();

interface Rig {
  dir: string;
  source: SerialSource;
  journal: SqliteJournal;
  logs: Array<{ level: number; msg: string; port?: string; [k: string]: unknown }>;
  /** Committed records of a stream, bodies parsed, in journal order. */
  records(stream?: 'readings' | 'deadletter'): Array<StoredRecord & { data: Record<string, unknown> }>;
  port(name: string): Record<string, unknown>;
}

/** A gateway's ingest path (profiles → Ingest → SqliteJournal) with a SerialSource for `ports` in front. */
async function rig(ports: PortInput[], profilePorts: string[], deps: SerialSourceDeps = {}): Promise<Rig> {
  const dir = tempDir('weir-serial-');
  const profiles = join(dir, 'profiles');
  mkdirSync(profiles);
  for (const p of profilePorts) writeFileSync(join(profiles, `${p}.yaml`), jsonProfile(p));
  const logs: Rig['logs'] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(l)); cb(); } });
  const ctx = { ...makeContext({ dataDir: join(dir, 'data') }), log: createLogger('debug', sink) };
  const journal = new SqliteJournal(ctx);
  journal.open();
  defer(() => journal.close());
  const ingest = new Ingest(ctx, journal, loadProfilesOrThrow([profiles]));
  ingest.open();
  const source = new SerialSource(ctx, ingest, serialConfigSchema.parse({ ports }), deps);
  defer(() => source.stop());
  return {
    dir, source, journal, logs,
    records: (stream = 'readings') => journal.read(0, 100_000, 1e9).filter((r) => r.stream === stream).map((r) => ({ ...r, data: JSON.parse(r.body) })),
    port: (name) => (source.status().ports as Record<string, Record<string, unknown>>)[name]!,
  };
}

async function pty(dir: string, name: string): Promise<SocatPty> {
  const p = new SocatPty(dir, name);
  await p.start();
  defer(() => p.stop());
  return p;
}

const line = (i: number, id = 'm1') => JSON.stringify({ id, v: i });
const values = (r: Rig) => r.records().map((x) => (x.data.metrics as { v: number }).v);
const deadPayload = (rec: { data: Record<string, unknown> }) => Buffer.from(rec.data.payload_b64 as string, 'base64');

describe('SerialSource over a PTY', () => {
  it('lines written by the device arrive as journaled readings, in order', async () => {
    const dir = tempDir('weir-pty-');
    const dev = await pty(dir, 'meter');
    const r = await rig([{ name: 'meter', path: dev.dev, baudRate: 115200 }], ['meter']);
    await r.source.start();
    expect(r.source.status()).toMatchObject({ listening: true, ports: { meter: { open: true, state: 'open', path: dev.dev } } });

    let sent = '';
    for (let i = 0; i < 60; i += 6) {
      // Mixed CRLF and LF endings, several lines per write, a line split across writes.
      const chunk = [0, 1, 2, 3, 4, 5].map((k) => line(i + k) + (k % 2 ? '\r\n' : '\n')).join('');
      dev.write(chunk.slice(0, 50));
      await sleep(2);
      dev.write(chunk.slice(50));
      sent += chunk;
    }
    await waitFor(() => r.records().length >= 60, 10_000, '60 readings', 10);
    expect(values(r)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    const first = r.records()[0]!;
    expect(first).toMatchObject({ key: 'm1', profile: 'serial-meter' });
    expect(r.records('deadletter')).toEqual([]);
    expect(r.port('meter')).toMatchObject({ frames: 60, bytes: Buffer.byteLength(sent), errors: 0, deadLetters: 0, lastError: null });
  });

  it('length-prefixed frames split across writes arrive whole', async () => {
    const dir = tempDir('weir-pty-');
    const dev = await pty(dir, 'bin');
    const r = await rig([{ name: 'bin', path: dev.dev, framing: 'length-prefixed', lengthPrefix: { bytes: 2, endian: 'little' } }], ['bin']);
    await r.source.start();
    const frame = (i: number) => {
      const body = Buffer.from(line(i, 'b1'));
      const h = Buffer.alloc(2);
      h.writeUInt16LE(body.length);
      return Buffer.concat([h, body]);
    };
    const stream = Buffer.concat(Array.from({ length: 10 }, (_, i) => frame(i)));
    // Cut inside the length field, inside bodies, and at frame boundaries; pauses make separate reads.
    const cuts = [1, 2, 7, frame(0).length, frame(0).length + 1, 60, 61, 100, 150, stream.length];
    let prev = 0;
    for (const c of cuts) {
      dev.write(stream.subarray(prev, c));
      prev = c;
      await sleep(15);
    }
    await waitFor(() => r.records().length >= 10, 10_000, '10 readings', 10);
    expect(values(r)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(r.port('bin')).toMatchObject({ frames: 10, bytes: stream.length, discardedBytes: 0 });
  });

  it('length-prefixed: a corrupt length field is dead-lettered with its reason and the frames after it still arrive', async () => {
    const dir = tempDir('weir-pty-');
    const dev = await pty(dir, 'bin');
    const r = await rig([{ name: 'bin', path: dev.dev, framing: 'length-prefixed', lengthPrefix: { bytes: 4 }, maxFrameBytes: 1024 }], ['bin']);
    await r.source.start();
    const frame = (i: number, corrupt = false) => {
      const body = Buffer.from(line(i, 'b1'));
      const h = Buffer.alloc(4);
      h.writeUInt32BE(body.length + (corrupt ? 0x80000000 : 0)); // a flipped top bit: 2 GiB announced
      return Buffer.concat([h, body]);
    };
    dev.write(Buffer.concat([frame(1), frame(2, true), frame(3)]));
    await sleep(15);
    dev.write(frame(4));
    await waitFor(() => r.records().length >= 3, 10_000, 'readings after the corrupt frame', 10);
    expect(values(r)).toEqual([1, 3, 4]);
    const dead = r.records('deadletter');
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data).toMatchObject({ code: 'WEIR_PAYLOAD_TOO_LARGE', source: 'bin', payload_truncated: true, payload_bytes: 0x80000000 + line(2, 'b1').length });
    expect(dead[0]!.data.reason).toMatch(/announces 2147483665 bytes.*maxFrameBytes \(1024\)/);
    expect(deadPayload(dead[0]!).toString('hex')).toBe('80000011'); // the length field as read
    expect(r.port('bin')).toMatchObject({ frames: 4, oversize: 1, deadLetters: 1, discardedBytes: line(2, 'b1').length });
  });

  it('NMEA: sentences reach the journal in order, noise between them is dropped and counted', async () => {
    const dir = tempDir('weir-pty-');
    const dev = await pty(dir, 'gps');
    // No profile for "gps" (the nmea decoder is not used here): every sentence is a WEIR_NO_PROFILE dead letter carrying its bytes.
    const r = await rig([{ name: 'gps', path: dev.dev, framing: 'nmea', baudRate: 4800 }], []);
    await r.source.start();
    const sentences = [
      '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47',
      '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A',
      '$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39',
    ];
    const [gga, rmc, gsa] = sentences as [string, string, string];
    dev.write(Buffer.from(`\x00\xfe\xffBOOT u-blox 6\r\n${gga}\r\nxx${rmc.slice(0, 20)}`, 'latin1'));
    await sleep(20);
    dev.write(`${rmc.slice(20)}\r\n\r\n\r\n${gsa}\r\n`);
    await waitFor(() => r.records('deadletter').length >= 3, 10_000, '3 dead letters', 10);
    const dead = r.records('deadletter');
    expect(dead.map((d) => d.data.code)).toEqual(['WEIR_NO_PROFILE', 'WEIR_NO_PROFILE', 'WEIR_NO_PROFILE']);
    expect(dead.map((d) => deadPayload(d).toString('latin1'))).toEqual(sentences);
    expect(dead[0]!.data).toMatchObject({ protocol: 'serial', source: 'gps', client: dev.dev });
    expect(r.port('gps')).toMatchObject({ frames: 3, discardedBytes: '\x00\xfe\xffBOOT u-blox 6'.length + 2, deadLetters: 3 });
  });

  it('an oversize line is dead-lettered as too large and the next line still arrives', async () => {
    const dir = tempDir('weir-pty-');
    const dev = await pty(dir, 'meter');
    const r = await rig([{ name: 'meter', path: dev.dev, maxFrameBytes: 64 }], ['meter']);
    await r.source.start();
    dev.write(`${line(1)}\n{"id":"m1","junk":"${'z'.repeat(500)}`);
    await sleep(20);
    dev.write(`${'z'.repeat(500)}"}\r\n${line(2)}\n`);
    await waitFor(() => r.records().length >= 2, 10_000, 'readings around the oversize line', 10);
    expect(values(r)).toEqual([1, 2]);
    const dead = r.records('deadletter');
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data).toMatchObject({ code: 'WEIR_PAYLOAD_TOO_LARGE', source: 'meter' });
    expect(deadPayload(dead[0]!)).toHaveLength(65);
    // Journal order is stream order: reading 1, the dead letter, reading 2.
    const [r1, r2] = r.records();
    expect(r1!.seq).toBeLessThan(dead[0]!.seq);
    expect(dead[0]!.seq).toBeLessThan(r2!.seq);
    expect(r.port('meter')).toMatchObject({ frames: 3, oversize: 1, deadLetters: 1 });
  });

  it('unplug and replug: status shows the port closed, it reopens with backoff on the same path and reading resumes', async () => {
    const dir = tempDir('weir-pty-');
    const dev = await pty(dir, 'meter');
    const r = await rig([{ name: 'meter', path: dev.dev, reopenMinMs: 20, reopenMaxMs: 80 }], ['meter']);
    await r.source.start();
    dev.write(`${line(1)}\n${line(2)}\n{"id":"m1","v":`); // the last line is cut by the unplug
    await waitFor(() => r.records().length >= 2, 10_000, 'readings before unplug', 10);

    await dev.stop(); // unplugged: socat gone, the PTY and its link vanish
    await waitFor(() => r.port('meter').open === false, 5000, 'port closed', 10);
    const down = r.port('meter');
    expect(['closed', 'opening']).toContain(down.state);
    expect(down.errors).toBeGreaterThanOrEqual(1);
    expect(down.lastError).toMatchObject({ message: expect.any(String), at: expect.any(Number) });
    await sleep(400); // several reopen attempts fail meanwhile (every 10–80 ms)
    expect(r.port('meter').open).toBe(false);

    await dev.start(); // plugged back in: a new PTY behind the same link
    await waitFor(() => r.port('meter').open === true, 5000, 'port reopened', 10);
    dev.write(`${line(3)}\r\n${line(4)}\n`);
    await waitFor(() => r.records().length >= 4, 10_000, 'readings after replug', 10);
    expect(values(r)).toEqual([1, 2, 3, 4]);
    expect(r.port('meter')).toMatchObject({ reopens: 1, discardedBytes: '{"id":"m1","v":'.length });

    const serialLogs = r.logs.filter((l) => l.component === 'serial');
    expect(serialLogs.filter((l) => l.msg.startsWith('serial port lost'))).toHaveLength(1);
    expect(serialLogs.filter((l) => l.msg.startsWith('serial port reopened'))).toHaveLength(1);
    expect(serialLogs.filter((l) => l.level >= 40)).toHaveLength(1); // one warning for the whole outage
    expect(serialLogs.filter((l) => l.msg === 'serial port still cannot be opened').length).toBeGreaterThanOrEqual(2);
  });

  it('a device absent at start: start() resolves, retries until it appears', async () => {
    const dir = tempDir('weir-pty-');
    const dev = new SocatPty(dir, 'late');
    defer(() => dev.stop());
    const r = await rig([{ name: 'late', path: dev.dev, reopenMinMs: 20, reopenMaxMs: 50 }], ['late']);
    await r.source.start();
    expect(r.source.status().listening).toBe(true);
    expect(r.port('late')).toMatchObject({ open: false, errors: 1 });
    await dev.start();
    await waitFor(() => r.port('late').open === true, 5000, 'port opened', 10);
    dev.write(`${line(7, 'late-1')}\n`);
    await waitFor(() => r.records().length >= 1, 10_000, 'a reading', 10);
    expect(r.records()[0]).toMatchObject({ key: 'late-1' });
  });

  it('stop() resolves after every submitted frame is committed, closes the port (lock released) and cancels reopening', async () => {
    const dir = tempDir('weir-pty-');
    const dev = await pty(dir, 'meter');
    let opens = 0;
    const counting: SerialSourceDeps = {
      loadSerialPort: async () => {
        const open = await loadSerialPort();
        return ((o) => (opens++, open(o))) satisfies OpenPort;
      },
    };
    const r = await rig([
      { name: 'meter', path: dev.dev },
      { name: 'ghost', path: join(dir, 'no-such-tty'), reopenMinMs: 10, reopenMaxMs: 20 },
    ], ['meter'], counting);
    await r.source.start();
    dev.write(Array.from({ length: 200 }, (_, i) => `${line(i)}\n`).join(''));
    await waitFor(() => r.port('meter').frames === 200, 10_000, '200 frames submitted', 10);
    await r.source.stop();
    expect(r.records()).toHaveLength(200); // committed before stop() resolved
    expect(r.source.status()).toMatchObject({ listening: false, ports: { meter: { state: 'stopped' }, ghost: { state: 'stopped' } } });
    const opensAtStop = opens;
    await sleep(100);
    expect(opens).toBe(opensAtStop); // no reopen timer left behind

    // The port was closed: another source can open (and flock) it.
    const again = await rig([{ name: 'meter', path: dev.dev }], ['meter']);
    await again.source.start();
    expect(again.port('meter')).toMatchObject({ open: true, errors: 0 });
    dev.write(`${line(999)}\n`);
    await waitFor(() => again.records().length >= 1, 10_000, 'a reading on the reopened port', 10);
  });

  it('while another process holds the port, opening fails and is retried', async () => {
    const dir = tempDir('weir-pty-');
    const dev = await pty(dir, 'meter');
    const first = await rig([{ name: 'meter', path: dev.dev }], ['meter']);
    await first.source.start();
    const second = await rig([{ name: 'meter', path: dev.dev, reopenMinMs: 20, reopenMaxMs: 40 }], ['meter']);
    await second.source.start();
    expect(second.port('meter')).toMatchObject({ open: false, errors: 1 });
    expect(String((second.port('meter').lastError as { message: string }).message)).toMatch(/lock/i);
    await first.source.stop();
    await waitFor(() => second.port('meter').open === true, 5000, 'second source opened the port', 10);
  });
});
