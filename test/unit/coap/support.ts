// Shared helpers for the CoAP tests (not a test file: vitest only picks *.test.ts).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { coapConfigSchema, type CoapConfigInput } from '../../../src/config/coap-schema.js';
import type { ConfigInput } from '../../../src/config/schema.js';
import type { Clock } from '../../../src/core/clock.js';
import { Ingest } from '../../../src/ingest/ingest.js';
import type { CommitCallback, Journal, JournalEntry, StoredRecord } from '../../../src/journal/journal.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../../src/profiles/registry.js';
import { CoapServerSource } from '../../../src/sources/coap/server.js';
import { freePort } from '../../support/kafka-broker.js';
import { makeContext, tempDir, type TestContext } from '../support.js';

/** libcoap's example binaries; Debian ships them per TLS flavour (coap-client-notls, …). */
function libcoapBinary(name: 'coap-client' | 'coap-server'): string {
  for (const candidate of [name, `${name}-notls`, `${name}-openssl`, `${name}-gnutls`]) {
    if (spawnSync('sh', ['-c', `command -v ${candidate}`]).status === 0) return candidate;
  }
  throw new Error(`${name} (Debian package libcoap3-bin) is not installed`);
}
export const COAP_CLIENT = libcoapBinary('coap-client');
export const COAP_SERVER = libcoapBinary('coap-server');

/** A test-only profile for `/t/{device}` (device id from the path), JSON like cpu-monitor's. */
export function writeTestProfile(dir: string): string {
  writeFileSync(join(dir, 'coap-test.yaml'), `
name: coap-test
description: test-only profile on a CoAP path, the device id from the path
match:
  - { protocol: coap, path: '/t/{device}' }
decoder: { type: json }
device: { segment: device }
time: { field: occurred_at, format: ms }
metrics:
  usage: { field: usage, unit: percent, min: 0, max: 100, required: true }
samples:
  - topic: /t/dev-1
    payload: '{"usage": 5, "occurred_at": 1700000000000}'
    expect:
      - { device: dev-1, ts: 1700000000000, metrics: { usage: 5 } }
`);
  return dir;
}

/** A journal whose commit callbacks are held back until release(): commits are real, acknowledgements wait. */
export class HeldJournal implements Journal {
  held = true;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly inner: Journal) {}
  get waiting(): number {
    return this.queue.length;
  }
  release(): void {
    this.held = false;
    for (const f of this.queue.splice(0)) f();
  }
  open(): void { this.inner.open(); }
  append(entry: JournalEntry, done: CommitCallback): void {
    this.inner.append(entry, (err, seq) => (this.held ? this.queue.push(() => done(err, seq)) : done(err, seq)));
  }
  read(afterSeq: number, limit: number, maxBytes: number): StoredRecord[] { return this.inner.read(afterSeq, limit, maxBytes); }
  tail(limit: number): StoredRecord[] { return this.inner.tail(limit); }
  record(seq: number): StoredRecord | undefined { return this.inner.record(seq); }
  ack(throughSeq: number): void { this.inner.ack(throughSeq); }
  onCommit(listener: (lastSeq: number) => void): () => void { return this.inner.onCommit(listener); }
  stats() { return this.inner.stats(); }
  close(): Promise<void> { return this.inner.close(); }
}

export interface IngestHarness {
  ctx: TestContext;
  sqlite: SqliteJournal;
  journal: Journal;
  ingest: Ingest;
  /** Every committed record, oldest first. */
  records(stream?: string): StoredRecord[];
  close(): Promise<void>;
}

/** A real Ingest over a real SqliteJournal in a temp dir, with the bundled profiles plus the test profile. */
export function ingestHarness(opts: { config?: ConfigInput; clock?: Clock; wrap?: (j: Journal) => Journal } = {}): IngestHarness {
  const dataDir = tempDir('weir-coap-');
  const ctx = makeContext({ dataDir, ...opts.config }, opts.clock);
  const sqlite = new SqliteJournal(ctx);
  sqlite.open();
  const journal = opts.wrap ? opts.wrap(sqlite) : sqlite;
  const profiles = loadProfilesOrThrow([BUNDLED_PROFILES_DIR, writeTestProfile(tempDir('weir-coap-profiles-'))]);
  const ingest = new Ingest(ctx, journal, profiles);
  ingest.open();
  return {
    ctx, sqlite, journal, ingest,
    records: (stream) => sqlite.read(0, 1_000_000, 256 * 1024 * 1024).filter((r) => !stream || r.stream === stream),
    close: () => sqlite.close(),
  };
}

export interface ServerHarness extends IngestHarness {
  source: CoapServerSource;
  port: number;
  url(path: string): string;
}

/** `sourceClock`: the server's own clock (retransmission, exchanges), apart from the journal's. */
export async function serverHarness(opts: { coap?: CoapConfigInput; config?: ConfigInput; wrap?: (j: Journal) => Journal; sourceClock?: Clock } = {}): Promise<ServerHarness> {
  const h = ingestHarness(opts);
  const port = await freePort();
  const ctx = opts.sourceClock ? { ...h.ctx, clock: opts.sourceClock } : h.ctx;
  const source = new CoapServerSource(ctx, h.ingest, coapConfigSchema.parse({ host: '127.0.0.1', port, ...opts.coap }));
  await source.start();
  return {
    ...h, source, port,
    url: (path) => `coap://127.0.0.1:${port}${path}`,
    close: async () => {
      await source.stop();
      await h.close();
    },
  };
}

/** One PDU as libcoap prints it at -v 7: `v:1 t:ACK c:2.04 i:1234 {01} [ Block1:31/_/64 ] :: 'text'`. */
export interface Pdu {
  type: string;
  code: string;
  mid: string;
  token: string;
  options: string;
  payload?: string;
}

const PDU = /^v:1 t:(\w+) c:([\w.]+) i:(\w+) \{(\w*)\} \[ ?(.*?) ?\](?: :: '(.*)')?$/;

/** A coap-client run: everything it printed, its PDUs, its exit. */
export class CoapClientRun {
  output = '';
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  constructor(args: string[]) {
    this.child = spawn(COAP_CLIENT, ['-v', '7', '-B', '20', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => (this.output += b.toString()));
    this.child.stderr!.on('data', (b: Buffer) => (this.output += b.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }
  get pdus(): Pdu[] {
    return this.output.split('\n').map((l) => PDU.exec(l.trim())).filter((m) => m !== null)
      .map((m) => ({ type: m[1]!, code: m[2]!, mid: m[3]!, token: m[4]!, options: m[5]!, ...(m[6] !== undefined ? { payload: m[6] } : {}) }));
  }
  /** Responses (code class 2–5) it received. */
  get responses(): Pdu[] {
    return this.pdus.filter((p) => /^[2-5]\.\d\d$/.test(p.code));
  }
}

/** Runs coap-client to completion and returns its single final response (the last one printed). */
export async function coapClient(...args: string[]): Promise<{ run: CoapClientRun; response: Pdu }> {
  const run = new CoapClientRun(args);
  await run.exited;
  const response = run.responses.at(-1);
  if (!response) throw new Error(`coap-client ${args.join(' ')} got no response:\n${run.output}`);
  return { run, response };
}

/** A raw UDP peer for tests that need byte-exact datagrams. */
export class RawPeer {
  readonly socket: Socket = createSocket('udp4');
  private readonly inbox: Array<{ msg: Buffer; rinfo: RemoteInfo }> = [];
  private waiter: (() => void) | null = null;
  async bind(port = 0): Promise<number> {
    await new Promise<void>((resolve) => this.socket.bind(port, '127.0.0.1', resolve));
    this.socket.on('message', (msg, rinfo) => {
      this.inbox.push({ msg, rinfo });
      this.waiter?.();
    });
    return this.socket.address().port;
  }
  send(msg: Buffer, port: number, address = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(msg, port, address, (err) => (err ? reject(err) : resolve())));
  }
  /** The next datagram, or null after `ms`. */
  async next(ms = 3000): Promise<{ msg: Buffer; rinfo: RemoteInfo } | null> {
    const deadline = Date.now() + ms;
    while (this.inbox.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = null;
    }
    return this.inbox.shift()!;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

