// Gateways for end-to-end tests: in-process (fast, for most tests) or as a real
// `weir run` child process (for tests that SIGKILL it). Each gets its own data dir,
// free ports and its own Kafka topic names, so test files never see each other's records.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/logger.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { freePort } from './kafka-broker.js';
import { sleep, waitFor } from './wait.js';

export const REPO = new URL('../../', import.meta.url).pathname;

export { freePort, sleep, waitFor };

export interface TestSetup {
  dir: string;
  config: ConfigInput;
  topics: { readings: string; aggregates: string; alerts: string; deadletter: string; status: string };
  mqttPort: number;
  httpPort: number;
}

/** A config for one test: temp data dir, free ports, topics with a random prefix. */
export async function testSetup(brokers: string, overrides: Partial<ConfigInput> = {}): Promise<TestSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-e2e-'));
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const topics = {
    readings: `${prefix}.readings`, aggregates: `${prefix}.aggregates`, alerts: `${prefix}.alerts`,
    deadletter: `${prefix}.deadletter`, status: `${prefix}.status`,
  };
  const mqttPort = await freePort();
  const httpPort = await freePort();
  const config: ConfigInput = {
    gateway: { id: `gw-${prefix}`, statusIntervalSeconds: 0 },
    dataDir: join(dir, 'data'),
    mqtt: { host: '127.0.0.1', port: mqttPort, ...overrides.mqtt },
    coap: { enabled: false },
    http: { host: '127.0.0.1', port: httpPort },
    kafka: { brokers: brokers.split(','), topics, partitions: 3, retryInitialMs: 100, retryMaxMs: 2000, ...overrides.kafka },
    log: { level: 'warn' },
    ...(overrides.journal ? { journal: overrides.journal } : {}),
    ...(overrides.coap ? { coap: overrides.coap } : {}),
    ...(overrides.bridge ? { bridge: overrides.bridge } : {}),
    ...(overrides.serial ? { serial: overrides.serial } : {}),
    ...(overrides.profiles ? { profiles: overrides.profiles } : {}),
    ...(overrides.analytics ? { analytics: overrides.analytics } : {}),
  };
  return { dir, config, topics, mqttPort, httpPort };
}

export async function startInProcess(setup: TestSetup): Promise<Gateway> {
  return Gateway.start({ config: configSchema.parse(setup.config), profiles: loadProfilesOrThrow([BUNDLED_PROFILES_DIR]), log: silentLogger });
}

/** `weir run` as a child process (the built bin), restartable on the same config. */
export class GatewayProcess {
  private child: ChildProcess | null = null;
  readonly configFile: string;
  output = '';

  constructor(private readonly setup: TestSetup) {
    this.configFile = join(setup.dir, 'weir.yaml');
    writeFileSync(this.configFile, stringify(setup.config));
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [join(REPO, 'bin/weir.js'), 'run', '-c', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (b: Buffer) => (this.output = (this.output + b.toString()).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`weir run exited with ${child.exitCode}:\n${this.output}`);
      if ((await getJson(this.setup.httpPort, '/readyz').catch(() => null))?.status === 'ready') return;
      await sleep(50);
    }
    throw new Error(`weir run not ready in 30 s:\n${this.output}`);
  }

  /** Sends `signal` without waiting (SIGHUP: reload). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Sends `signal` and waits for the process to exit; returns its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    return exited;
  }
}

export async function getJson(port: number, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
  return (await res.json()) as Record<string, unknown>;
}

/** Waits until the gateway on `httpPort` reports an empty backlog (everything journaled reached Kafka). */
export async function waitDrained(httpPort: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => {
    const s = await getJson(httpPort, '/api/status').catch(() => null);
    return s && s.backlogTotal === 0 ? s : null;
  }, timeoutMs, 'backlog drained');
}

export async function getText(port: number, path: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

/** The value of one Prometheus sample, e.g. metric(text, 'weir_uplink_up'). */
export function metric(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/** A cpu-monitor payload whose occurred_at doubles as the reading's identity. */
export function cpuReading(host: string, i: number, base = 1_700_000_000_000): string {
  return JSON.stringify({ hostname: host, cpu: 'cpu0', usage: (i * 7) % 100, occurred_at: base + i });
}
