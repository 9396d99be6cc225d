// `weir simulate` end to end against real endpoints: the gateway's real HTTP ingest and
// embedded MQTT broker (an in-process Gateway whose Kafka is unreachable, so every
// record stays in the journal where the test reads it), a stand-in CoAP device endpoint
// built on the `coap` package, and libcoap's coap-server. Expected counts come from
// the same seeded schedule the CLI runs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer, connect, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createCoapServer, type IncomingMessage, type OutgoingMessage, type Server as CoapServer } from 'coap';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import type { StoredRecord } from '../../src/journal/journal.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { payloadFactory, type SimProtocol } from '../../src/simulate/generator.js';
import { rngFor } from '../../src/simulate/prng.js';
import { deviceSchedule, type ScheduleOptions, type SimReading, type Step } from '../../src/simulate/schedule.js';
import { freePort, startInProcess, testSetup } from '../support/gateway.js';

const cpu = loadProfilesOrThrow([BUNDLED_PROFILES_DIR]).get('cpu-monitor')!;
const dir = mkdtempSync(join(tmpdir(), 'weir-sim-'));
const configFile = join(dir, 'weir.yaml');
writeFileSync(configFile, 'gateway: { id: sim-test }\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Summary {
  mode: string; devices: number; seed: number; messages: number; sent: number; acknowledged: number; rejected: number; failed: number;
  errors: number; outcomes: Record<string, number>; malformed: number; late: number; outOfOrder: number; reboots: number; connections: number;
  examples?: string[];
}

/** Runs `weir simulate …` in this process; returns its exit code, JSON summary and stderr. */
async function simulate(...args: string[]): Promise<{ code: number; summary: Summary; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
  const error = vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
  try {
    const code = await main(['simulate', '-c', configFile, '--profile', 'cpu-monitor', ...args]);
    return { code, summary: out.length ? (JSON.parse(out.at(-1)!) as Summary) : ({} as Summary), stderr: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** The schedules the CLI will play (decisions do not depend on the start time; 13-digit event times like the real run's). */
function plan(protocol: SimProtocol, devices: number, opts: Omit<ScheduleOptions, 'startEpochMs'>): Step[][] {
  return Array.from({ length: devices }, (_, i) => [...deviceSchedule(payloadFactory(cpu, protocol, i, rngFor(opts.seed, 'values', i)), i, { ...opts, startEpochMs: 1_700_000_000_000 })]);
}
const sendsOf = (steps: Step[]): SimReading[] => steps.flatMap((s) => (s.kind === 'send' ? [s.reading] : []));
/** Reboots after which the device still sends: each opens a new connection / endpoint. */
const reconnects = (steps: Step[]) => steps.filter((s, i) => s.kind === 'reboot' && steps.slice(i + 1).some((x) => x.kind === 'send')).length;

/** As the runner frames them: full batches, a partial one before each reboot and at the end. */
function batches(steps: Step[], n: number): SimReading[][] {
  const out: SimReading[][] = [];
  let cur: SimReading[] = [];
  const flush = () => (cur.length ? (out.push(cur), (cur = [])) : undefined);
  for (const s of steps) {
    if (s.kind === 'reboot') flush();
    else if (cur.push(s.reading) >= n) flush();
  }
  flush();
  return out;
}

function journal(gw: Gateway, stream: string): StoredRecord[] {
  return gw.journal.read(0, 1_000_000, 256 * 1024 * 1024).filter((r) => r.stream === stream);
}

/** Per device, the good readings' event times in the order the journal holds them, relative to the first. */
function journalOrder(records: StoredRecord[]): Map<string, number[]> {
  const by = new Map<string, number[]>();
  for (const r of records) by.set(r.key, [...(by.get(r.key) ?? []), r.ts!]);
  return by;
}
function sentOrder(steps: Step[][]): Map<string, number[]> {
  return new Map(steps.map((s) => {
    const good = sendsOf(s).filter((r) => !r.malformed);
    return [good[0]!.device, good.map((r) => r.takenAt)];
  }));
}
/** Event times are start + takenAt: compare the sequences relative to their first element. */
const rel = (m: Map<string, number[]>) => new Map([...m].map(([k, v]) => [k, v.map((x) => x - v[0]!)]));

const schedule = (o: Partial<Omit<ScheduleOptions, 'startEpochMs'>>): Omit<ScheduleOptions, 'startEpochMs'> => ({
  seed: 1, rate: 1, jitter: 0.2, lateFraction: 0, lateMs: 15_000, malformedRate: 0, rebootEveryMs: 0, rebootDownMs: 3000, ...o,
});

describe('weir simulate --http against the gateway HTTP ingest', () => {
  let gw: Gateway;
  let url: string;
  beforeAll(async () => {
    const setup = await testSetup('127.0.0.1:1'); // unreachable Kafka: everything stays in the journal
    gw = await startInProcess(setup);
    url = `http://127.0.0.1:${setup.httpPort}`;
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('single readings: late and out of order, malformed ones answered 422; the journal holds exactly the good ones, in send order', async () => {
    const { code, summary, stderr } = await simulate('--devices', '3', '--rate', '50', '--count', '20', '--seed', '5',
      '--late-ms', '300', '--late-fraction', '0.2', '--malformed-rate', '0.1', '--http', url);
    const steps = plan('http', 3, schedule({ seed: 5, rate: 50, count: 20, lateMs: 300, lateFraction: 0.2, malformedRate: 0.1 }));
    const sent = steps.flatMap(sendsOf);
    const bad = sent.filter((r) => r.malformed).length;
    expect(bad).toBe(5);
    expect(code).toBe(0);
    expect(summary).toMatchObject({
      mode: 'http', devices: 3, seed: 5, messages: 60, sent: 60, acknowledged: 55, rejected: 5, failed: 0, errors: 0,
      outcomes: { 200: 55, 422: 5 }, malformed: 5, late: sent.filter((r) => r.late).length, reboots: 0, connections: 3,
    });
    expect(summary.outOfOrder).toBeGreaterThan(0);
    expect(stderr).toMatch(/^simulate \(http, seed 5\): sent 60 readings in 60 messages; acknowledged 55, rejected 5, failed 0; outcomes: 200 55, 422 5; 0 unexpected$/);
    const readings = journal(gw, 'readings');
    expect(readings).toHaveLength(55);
    expect(journal(gw, 'deadletter')).toHaveLength(5);
    // One connection per device, one request at a time: the journal has each device's readings in the order sent.
    expect(rel(journalOrder(readings))).toEqual(rel(sentOrder(steps)));
  });

  it('batches as JSON arrays and as NDJSON, with reboots: counts match the schedule exactly', async () => {
    for (const framing of [['--batch', '4'], ['--batch', '3', '--ndjson']]) {
      const before = { readings: journal(gw, 'readings').length, dead: journal(gw, 'deadletter').length };
      const n = Number(framing[1]);
      const { code, summary } = await simulate('--devices', '2', '--rate', '100', '--count', '30', '--seed', '8',
        '--malformed-rate', '0.08', '--reboot-every-s', '0.1', '--reboot-down-s', '0.05', ...framing, '--http', url);
      const steps = plan('http', 2, schedule({ seed: 8, rate: 100, count: 30, malformedRate: 0.08, rebootEveryMs: 100, rebootDownMs: 50 }));
      const msgs = steps.flatMap((s) => batches(s, n));
      // A message with a cut-off JSON text fails whole; otherwise the good readings are taken and the bad ones dead-lettered.
      const broken = msgs.filter((m) => m.some((r) => r.malformed === 'invalid-json'));
      const whole = msgs.filter((m) => !broken.includes(m));
      const good = whole.flatMap((m) => m.filter((r) => !r.malformed)).length;
      const accepted = whole.filter((m) => m.some((r) => !r.malformed));
      expect(code).toBe(0);
      expect(summary).toMatchObject({
        messages: msgs.length, sent: 60, errors: 0, reboots: steps.flatMap((s) => s.filter((x) => x.kind === 'reboot')).length,
        outcomes: { 200: accepted.length, ...(msgs.length > accepted.length ? { 422: msgs.length - accepted.length } : {}) },
        connections: 2 + steps.map(reconnects).reduce((a, b) => a + b),
      });
      expect(summary.reboots).toBeGreaterThan(0);
      expect(broken.length).toBeGreaterThan(0);
      expect(journal(gw, 'readings').length - before.readings).toBe(good);
      const dead = broken.length + whole.flatMap((m) => m.filter((r) => r.malformed)).length;
      expect(journal(gw, 'deadletter').length - before.dead).toBe(dead);
    }
  });

  it('an unreachable endpoint: every message fails, exit 1', async () => {
    const port = await freePort();
    const { code, summary } = await simulate('--devices', '2', '--rate', '20', '--count', '3', '--seed', '1', '--timeout-s', '2', '--http', `http://127.0.0.1:${port}`);
    expect(code).toBe(1);
    expect(summary).toMatchObject({ sent: 6, acknowledged: 0, failed: 6, errors: 6, outcomes: { error: 6 } });
    expect(summary.examples![0]).toMatch(/^error: .*ECONNREFUSED/);
  });
});

describe('weir simulate --mqtt against the gateway MQTT broker', () => {
  let gw: Gateway;
  let proxy: TcpServer;
  let proxyPort: number;
  let connections = 0;
  beforeAll(async () => {
    const setup = await testSetup('127.0.0.1:1');
    gw = await startInProcess(setup);
    // Counts TCP connections on their way to the broker: a reboot must open a new one.
    proxy = createTcpServer((c) => {
      connections++;
      const up = connect(setup.mqttPort, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
      c.on('close', () => up.destroy());
      up.on('close', () => c.destroy());
    });
    proxyPort = await freePort();
    await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', r));
  });
  afterAll(async () => {
    await new Promise((r) => proxy?.close(r));
    await gw?.stop();
  });

  it('every publish PUBACKed (malformed ones too: MQTT cannot refuse), reboots reconnect, order per device holds', async () => {
    const { code, summary } = await simulate('--devices', '3', '--rate', '50', '--count', '20', '--seed', '3', '--late-ms', '200',
      '--malformed-rate', '0.1', '--reboot-every-s', '0.15', '--reboot-down-s', '0.1', '--mqtt', `mqtt://127.0.0.1:${proxyPort}`);
    const steps = plan('mqtt', 3, schedule({ seed: 3, rate: 50, count: 20, lateMs: 200, lateFraction: 0.05, malformedRate: 0.1, rebootEveryMs: 150, rebootDownMs: 100 }));
    const sent = steps.flatMap(sendsOf);
    const bad = sent.filter((r) => r.malformed).length;
    const expectConnections = 3 + steps.map(reconnects).reduce((a, b) => a + b);
    expect(expectConnections).toBeGreaterThan(3);
    expect(code).toBe(0);
    expect(summary).toMatchObject({
      mode: 'mqtt', sent: 60, acknowledged: 60, failed: 0, errors: 0, outcomes: { PUBACK: 60 }, malformed: bad,
      reboots: steps.flatMap((s) => s.filter((x) => x.kind === 'reboot')).length, connections: expectConnections,
    });
    expect(connections).toBe(expectConnections);
    const readings = journal(gw, 'readings');
    expect(readings).toHaveLength(60 - bad);
    expect(journal(gw, 'deadletter')).toHaveLength(bad);
    expect(rel(journalOrder(readings))).toEqual(rel(sentOrder(steps)));
  });
});

function parseOrNull(text: string): { hostname?: unknown; usage?: unknown } | null {
  try {
    return JSON.parse(text) as { hostname?: unknown; usage?: unknown } | null;
  } catch {
    return null;
  }
}

describe('weir simulate --coap', () => {
  let server: CoapServer | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill();
      await exited;
    }
    child = undefined;
  });

  it('against a stand-in device endpoint (the coap package server): one endpoint per device, MIDs unique per endpoint', async () => {
    const port = await freePort();
    const seen: Array<{ port: number; mid: number; payload: string; format: unknown; path: string; confirmable: boolean }> = [];
    // The stand-in endpoint: answers 2.04 to a well-formed cpu-monitor reading, 4.00 with a diagnostic otherwise.
    server = createCoapServer({ type: 'udp4' }, (req: IncomingMessage, res: OutgoingMessage) => {
      const payload = req.payload.toString();
      seen.push({ port: req.rsinfo.port, mid: req._packet.messageId!, payload, format: req.headers['Content-Format'], path: req.url, confirmable: req._packet.confirmable! });
      const doc = parseOrNull(payload);
      const ok = doc && typeof doc.hostname === 'string' && typeof doc.usage === 'number' && doc.usage >= 0 && doc.usage <= 100;
      res.code = ok ? '2.04' : '4.00';
      res.end(ok ? undefined : 'bad reading');
    });
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', () => r()));

    const { code, summary } = await simulate('--devices', '4', '--rate', '40', '--count', '15', '--seed', '11', '--malformed-rate', '0.1',
      '--late-ms', '150', '--reboot-every-s', '0.2', '--reboot-down-s', '0.1', '--coap', `127.0.0.1:${port}`);
    const steps = plan('coap', 4, schedule({ seed: 11, rate: 40, count: 15, malformedRate: 0.1, lateMs: 150, lateFraction: 0.05, rebootEveryMs: 200, rebootDownMs: 100 }));
    const sent = steps.flatMap(sendsOf);
    const bad = sent.filter((r) => r.malformed).length;
    const endpoints = 4 + steps.map(reconnects).reduce((a, b) => a + b);
    expect(bad).toBeGreaterThan(0);
    expect(endpoints).toBeGreaterThan(4);
    expect(code).toBe(0);
    expect(summary).toMatchObject({ mode: 'coap', sent: 60, acknowledged: 60 - bad, rejected: bad, errors: 0, outcomes: { '2.04': 60 - bad, '4.00': bad }, connections: endpoints });
    // Exactly what was sent arrived, once each (no retransmission was needed), confirmable, as JSON, on the contract path.
    const noTime = (p: string) => p.replace(/"occurred_at":\d*/, '"occurred_at":T');
    expect(seen.map((s) => noTime(s.payload)).sort()).toEqual(sent.map((r) => noTime(r.payload)).sort());
    expect(seen.every((s) => s.confirmable && s.format === 'application/json' && s.path === '/iot-data-input')).toBe(true);
    // One endpoint (source port) per device and boot; within an endpoint, MIDs are consecutive and never repeat.
    const byPort = new Map<number, typeof seen>();
    for (const s of seen) byPort.set(s.port, [...(byPort.get(s.port) ?? []), s]);
    expect(byPort.size).toBe(endpoints);
    for (const msgs of byPort.values()) {
      const mids = msgs.map((m) => m.mid);
      expect(new Set(mids).size).toBe(mids.length);
      expect(mids.every((m, i) => i === 0 || m === (mids[i - 1]! + 1) % 65536)).toBe(true);
      const hosts = new Set(msgs.map((m) => /"hostname":"([^"]+)"/.exec(m.payload)?.[1]).filter(Boolean));
      expect(hosts.size).toBe(1);
    }
  });

  it("against libcoap's coap-server (-d: POST creates the resource, then changes it)", async () => {
    const bin = ['coap-server', 'coap-server-notls', 'coap-server-openssl', 'coap-server-gnutls'].find((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0);
    if (!bin) throw new Error("libcoap's coap-server (Debian: libcoap3-bin) is not installed");
    const port = await freePort();
    child = spawn(bin, ['-A', '127.0.0.1', '-p', String(port), '-d', '4'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const { code, summary } = await simulate('--devices', '2', '--rate', '20', '--count', '5', '--seed', '2', '--coap', `coap://127.0.0.1:${port}/iot-data-input`);
    expect(code).toBe(0);
    expect(summary).toMatchObject({ sent: 10, acknowledged: 10, errors: 0, outcomes: { '2.01': 1, '2.04': 9 }, connections: 2 });
  });

  it('refuses a per-device rate that would wrap the 16-bit MID space within EXCHANGE_LIFETIME', async () => {
    const { code, stderr } = await simulate('--rate', '300', '--count', '1', '--coap', '127.0.0.1:5683');
    expect(code).toBe(2);
    expect(stderr).toMatch(/65536 per EXCHANGE_LIFETIME \(247 s\) ≈ 265\/s/);
  });
});

describe('weir simulate: usage', () => {
  it('wants exactly one endpoint, valid numbers, and --batch/--ndjson only with --http', async () => {
    for (const args of [[], ['--mqtt', 'mqtt://x', '--http', 'http://x'], ['--batch', '2', '--mqtt', 'mqtt://x'], ['--ndjson', '--coap', 'x:1'],
      ['--rate', '0', '--http', 'http://x'], ['--malformed-rate', '2', '--http', 'http://x'], ['--jitter', '100', '--http', 'http://x'],
      ['--qos', '2', '--http', 'http://x'], ['--http', 'ftp://x'], ['--coap', 'coaps://x'],
      // Runs that could send nothing, and would exit 0 as if all were answered:
      ['--devices', '0', '--http', 'http://x'], ['--count', '0', '--http', 'http://x'], ['--count=-3', '--http', 'http://x'],
      ['--duration', '0', '--http', 'http://x']]) {
      const { code, stderr } = await simulate(...args);
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(stderr).toMatch(/usage: weir simulate/);
    }
  });

  it('--help prints the options', async () => {
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    try {
      expect(await main(['simulate', '--help'])).toBe(0);
    } finally {
      log.mockRestore();
    }
    for (const flag of ['--coap', '--http', '--mqtt', '--late-ms', '--malformed-rate', '--reboot-every-s', '--seed', '--batch', '--ndjson', '--jitter']) expect(out[0]).toContain(flag);
  });
});
