// The processes a benchmark compares or needs: Mosquitto (the native, non-durable
// reference), Weir as a real `weir run` child, and the Kafka broker. Every child is
// tracked and killed on exit, and runs under `setpriv --pdeathsig SIGKILL` so it
// dies with the bench even when the bench itself is killed.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { stringify } from 'yaml';
import type { ConfigInput } from '../src/config/schema.js';
import { freePort, getJson, getText, metric, REPO, sleep } from '../test/support/gateway.js';
import { KafkaBroker } from '../test/support/kafka-broker.js';
import { waitFor } from '../test/support/wait.js';
import { findPid, fsType } from './procfs.js';

const live = new Set<ChildProcess>();
/** Journals, configs and the Kafka data dir made by this run: removed however it ends. */
const dirs = new Set<string>();
process.once('exit', () => killAll());
export function killAll(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

const setpriv = !spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).error;
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = setpriv ? spawn('setpriv', ['--pdeathsig', 'SIGKILL', cmd, ...args], opts) : spawn(cmd, args, opts);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after `ms`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, ms = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(t);
}

/**
 * Where journals go. It must be a real disk: on tmpfs fsync is free and the flash
 * figure (write_bytes) is meaningless. WEIR_BENCH_DIR overrides.
 */
export function benchDir(): string {
  const base = process.env.WEIR_BENCH_DIR ?? tmpdir();
  const type = fsType(base);
  if (type === 'tmpfs' || type === 'ramfs') throw new Error(`${base} is ${type}; set WEIR_BENCH_DIR to a directory on a real disk`);
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'weir-bench-'));
  dirs.add(dir);
  return dir;
}

export interface Mosquitto { port: number; pid: number; child: ChildProcess; stop(): Promise<void> }

/** Mosquitto 2 on 127.0.0.1, no persistence, no logging: the fastest it can take QoS 1. */
export async function startMosquitto(): Promise<Mosquitto> {
  const dir = benchDir();
  const port = await freePort();
  writeFileSync(join(dir, 'mosquitto.conf'), [
    `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false',
    'log_dest none', 'max_connections -1', '',
  ].join('\n'));
  const child = spawnTracked('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited: ${err}`);
    if (await tcpOpen(port)) break;
    await sleep(50);
  }
  return { port, pid: child.pid!, child, stop: async () => { await stopChild(child); rmSync(dir, { recursive: true, force: true }); } };
}

function tcpOpen(port: number): Promise<boolean> {
  return import('node:net').then(({ connect }) => new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  }));
}

export async function startKafka(): Promise<{ broker: KafkaBroker; pid: () => number | undefined }> {
  const broker = await KafkaBroker.start();
  dirs.add(broker.dir);
  // The JVM is found by its data dir on the command line: the helper keeps its child private.
  return { broker, pid: () => findPid(join(broker.dir, 'server.properties')) };
}

/**
 * Weir's topics, made by the bench before Weir starts (Weir then finds them) so they
 * have 6 partitions and LogAppendTime: each record's timestamp is the moment Kafka
 * appended it, which is what the latency scenario reads back.
 */
export async function createBenchTopics(brokers: string, topics: string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'weir-bench-admin', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({ topic, numPartitions: 6, replicationFactor: 1,
        configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] })),
    });
  } finally {
    await admin.disconnect();
  }
}

export interface Weir {
  pid: number; mqttPort: number; httpPort: number; dataDir: string;
  topics: { readings: string; aggregates: string; alerts: string; deadletter: string; status: string };
  /** weir_records_forwarded_total{stream="readings"}: readings Kafka acknowledged. */
  forwarded(): Promise<number>;
  /** One unlabelled sample from /metrics (0 when absent). */
  metric(name: string): Promise<number>;
  metricsText(): Promise<string>;
  status(): Promise<{ backlogTotal: number; uplink: { state: string } }>;
  /** Resolves once Kafka acknowledged `n` readings and nothing is left in the journal (5 min at most). */
  allForwarded(n: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Experiments only: node flags for the gateway (after the unit's, deployedNodeFlags, so
 * they add to them or override them), extra environment variables, and a group-commit
 * interval other than the default.
 */
export interface WeirOptions { nodeArgs?: string[]; env?: Record<string, string>; commitIntervalMs?: number; config?: Partial<ConfigInput> }

/**
 * The Node/V8 flags the systemd unit starts the gateway with (its ExecStart): every
 * benchmark runs the gateway as it is deployed, heap sizing included.
 */
export function deployedNodeFlags(): string[] {
  const exec = /^ExecStart=\S+\s+(.*)$/m.exec(unitText());
  if (!exec) throw new Error('systemd/weir.service has no ExecStart');
  return exec[1]!.split(/\s+/).filter((f) => f.startsWith('--'));
}

/** The allocator settings the systemd unit gives the gateway (its Environment=MALLOC_* lines), likewise. */
export function deployedEnv(): Record<string, string> {
  return Object.fromEntries([...unitText().matchAll(/^Environment=(MALLOC_\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

function unitText(): string {
  return readFileSync(join(REPO, 'systemd/weir.service'), 'utf8');
}

/** `weir run` (the built dist/, as deployed) with fresh topics, ports and journal. */
export async function startWeir(brokers: string, opts: WeirOptions = {}): Promise<Weir> {
  const dir = benchDir();
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const topics = { readings: `${prefix}.readings`, aggregates: `${prefix}.aggregates`, alerts: `${prefix}.alerts`,
    deadletter: `${prefix}.deadletter`, status: `${prefix}.status` };
  await createBenchTopics(brokers, Object.values(topics));
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  // Defaults everywhere the operator would keep them (journal FULL, 2 ms group commit,
  // gzip); only ports, topics and a short reconnect backoff (for the outage runs) differ.
  const config: ConfigInput = {
    gateway: { id: `gw-${prefix}`, statusIntervalSeconds: 0 },
    dataDir: join(dir, 'data'),
    mqtt: { host: '127.0.0.1', port: mqttPort },
    coap: { enabled: false },
    http: { host: '127.0.0.1', port: httpPort },
    kafka: { brokers: brokers.split(','), topics, partitions: 6, retryInitialMs: 100, retryMaxMs: 2000 },
    log: { level: 'warn' },
    ...(opts.commitIntervalMs !== undefined ? { journal: { commitIntervalMs: opts.commitIntervalMs } } : {}),
    ...opts.config,
  };
  const configFile = join(dir, 'weir.yaml');
  writeFileSync(configFile, stringify(config));
  const logFile = join(dir, 'weir.log');
  const log = openSync(logFile, 'a');
  const child = spawnTracked(process.execPath, [...deployedNodeFlags(), ...(opts.nodeArgs ?? []), join(REPO, 'bin/weir.js'), 'run', '-c', configFile], {
    stdio: ['ignore', log, log], env: { ...process.env, ...deployedEnv(), ...opts.env },
  });
  closeSync(log);
  const deadline = Date.now() + 30_000;
  while ((await getJson(httpPort, '/readyz').catch(() => null))?.status !== 'ready') {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`weir run did not start:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    await sleep(50);
  }
  const weir: Weir = {
    pid: child.pid!, mqttPort, httpPort, dataDir: config.dataDir!, topics,
    forwarded: async () => metric(await getText(httpPort, '/metrics'), 'weir_records_forwarded_total', 'stream="readings"') ?? 0,
    metric: async (name) => metric(await getText(httpPort, '/metrics'), name) ?? 0,
    metricsText: () => getText(httpPort, '/metrics'),
    status: async () => (await getJson(httpPort, '/api/status')) as unknown as Awaited<ReturnType<Weir['status']>>,
    allForwarded: async (n) => { await waitFor(async () => (await weir.forwarded()) >= n && (await weir.status()).backlogTotal === 0, 300_000, 'all forwarded', 100); },
    stop: async () => {
      await stopChild(child, 30_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return weir;
}
