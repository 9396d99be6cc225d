// A real single-node Apache Kafka broker (KRaft) for tests and benchmarks.
// Kafka is not a Debian package; the broker jars come from Maven Central through
// test/kafka/pom.xml and run on the machine's Java. Tests must never fake Kafka:
// the gateway's whole promise is what happens against a real one.
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { mavenClasspath, spawnJava } from './jvm.js';
import { sleep } from './wait.js';

/** The broker's class path from test/kafka/pom.xml (Maven once, then .cache/kafka/). */
export async function kafkaClasspath(): Promise<string> {
  return mavenClasspath({ name: 'kafka', pom: 'test/kafka/pom.xml',
    orElse: 'Or set KAFKA_BROKERS=host:port to use an existing Kafka broker instead.' });
}

/**
 * A port free on 127.0.0.1 right now, for TCP and UDP. Chosen at random below the
 * kernel's ephemeral range: a port the kernel hands out for `listen(0)` is the next
 * one it may hand to any other process binding port 0 (a Flink MiniCluster, a client
 * socket) before the caller binds it; below that range only another freePort() caller
 * could take it. (The usual tiny race remains, much smaller.)
 */
export async function freePort(): Promise<number> {
  const ephemeralLow = Number(readFileSyncSafe('/proc/sys/net/ipv4/ip_local_port_range').split(/\s+/)[0]) || 32768;
  const low = 10_000;
  for (let attempt = 0; attempt < 100 && ephemeralLow > low; attempt++) {
    const port = low + Math.floor(Math.random() * (ephemeralLow - low));
    if ((await bindable(port, 'tcp')) && (await bindable(port, 'udp'))) return port;
  }
  return kernelPort();
}

function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function bindable(port: number, proto: 'tcp' | 'udp'): Promise<boolean> {
  return new Promise((res) => {
    if (proto === 'udp') {
      const sock = createSocket('udp4');
      sock.once('error', () => {
        try { sock.close(); } catch { /* never bound */ }
        res(false);
      });
      sock.bind(port, '127.0.0.1', () => sock.close(() => res(true)));
      return;
    }
    const srv = createServer();
    srv.unref();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

/** The kernel's choice (an ephemeral port): the fallback when no port below the range is free. */
function kernelPort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

interface BrokerState { port: number; controllerPort: number; clusterId: string; advertisedPort?: number; directPort?: number }

export class KafkaBroker {
  readonly brokers: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly controllerPort: number,
    private readonly classpath: string,
    private readonly behind?: { advertisedPort: number; directPort: number },
  ) {
    this.brokers = `127.0.0.1:${behind?.directPort ?? port}`;
  }

  /**
   * Starts a broker; with an existing `dir` it reuses that broker's data, ports and cluster id.
   * `advertisedPort`: the broker sits behind something listening there (a proxy that
   * forwards to `port`): clients that bootstrap through it are told to reach the broker
   * there, so all their connections pass it. `brokers` is then a second, direct
   * listener, for the test's own admin and kcat.
   */
  static async start(opts: { dir?: string; port?: number; advertisedPort?: number } = {}): Promise<KafkaBroker> {
    const classpath = await kafkaClasspath();
    const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'weir-kafka-')));
    await mkdir(dir, { recursive: true });
    const stateFile = join(dir, 'weir-broker.json');
    const prev: BrokerState | undefined = existsSync(stateFile)
      ? (JSON.parse(await readFile(stateFile, 'utf8')) as BrokerState)
      : undefined;
    const state: BrokerState = {
      port: opts.port ?? prev?.port ?? (await freePort()),
      controllerPort: prev?.controllerPort ?? 0,
      clusterId: prev?.clusterId ?? randomBytes(16).toString('base64url'), // KRaft wants a base64 UUID; it may start with '-', hence --cluster-id=<id> below
    };
    while (state.controllerPort === 0 || state.controllerPort === state.port) state.controllerPort = await freePort();
    state.advertisedPort = opts.advertisedPort ?? prev?.advertisedPort;
    if (state.advertisedPort !== undefined) {
      state.directPort = prev?.directPort ?? 0;
      while ([0, state.port, state.controllerPort].includes(state.directPort!)) state.directPort = await freePort();
    }
    const behind = state.advertisedPort === undefined ? undefined : { advertisedPort: state.advertisedPort, directPort: state.directPort! };
    const broker = new KafkaBroker(dir, state.port, state.controllerPort, classpath, behind);
    await broker.writeConfig();
    if (!existsSync(join(dir, 'data/meta.properties'))) {
      await promisify(execFile)(
        'java',
        ['-cp', classpath, `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
          'kafka.tools.StorageTool', 'format', `--cluster-id=${state.clusterId}`, '-c', join(dir, 'server.properties')],
        { timeout: 120_000 },
      );
    }
    await writeFile(stateFile, JSON.stringify(state));
    await broker.start();
    return broker;
  }

  private async writeConfig(): Promise<void> {
    const { dir, port, controllerPort, behind } = this;
    // Kafka answers metadata with the addresses of the listener a request came in on,
    // so DIRECT's clients never see the advertised (proxied) port.
    const direct = behind ? `,DIRECT://127.0.0.1:${behind.directPort}` : '';
    const props = {
      'process.roles': 'broker,controller',
      'node.id': '1',
      'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
      listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${direct}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${behind?.advertisedPort ?? port}${direct}`,
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': behind ? 'DIRECT' : 'PLAINTEXT',
      'listener.security.protocol.map': `PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${behind ? ',DIRECT:PLAINTEXT' : ''}`,
      'log.dirs': join(dir, 'data'),
      // One node: every internal topic must accept a replication factor of 1.
      'offsets.topic.replication.factor': '1',
      'offsets.topic.num.partitions': '3', // not 50: the first consumer group joins faster
      'transaction.state.log.replication.factor': '1',
      'transaction.state.log.min.isr': '1',
      'share.coordinator.state.topic.replication.factor': '1',
      'share.coordinator.state.topic.min.isr': '1',
      'default.replication.factor': '1',
      'num.partitions': '1',
      // The gateway must create/expect its topics explicitly; auto-creation would hide bugs.
      'auto.create.topics.enable': 'false',
      // Consumers in tests should join at once rather than after the 3 s default.
      'group.initial.rebalance.delay.ms': '0',
    };
    await writeFile(join(dir, 'server.properties'),
      Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
    await writeFile(join(dir, 'log4j2.properties'), [
      'status = warn',
      'shutdownHook = disable', // Kafka shuts logging down itself; avoids a noisy warning on SIGTERM
      'appender.out.type = Console',
      'appender.out.name = OUT',
      'appender.out.layout.type = PatternLayout',
      'appender.out.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = WARN',
      'rootLogger.appenderRef.out.ref = OUT',
    ].join('\n') + '\n');
  }

  get logFile(): string {
    return join(this.dir, 'broker.log');
  }

  /** (Re)starts the process on the same port and data dir; resolves once it answers metadata. */
  async start(): Promise<void> {
    if (this.child) return;
    const javaArgs = ['-Xms128m', '-Xmx512m', '-XX:+UseG1GC', '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${join(this.dir, 'log4j2.properties')}`,
      '-cp', this.classpath, 'kafka.Kafka', join(this.dir, 'server.properties')];
    const log = openSync(this.logFile, 'a');
    // Killed with the test process however it ends (jvm.ts).
    const child = spawnJava(javaArgs, { stdio: ['ignore', log, log] });
    closeSync(log);
    this.child = child;
    let exitCode: string | undefined;
    this.exited = new Promise((res) => {
      child.once('exit', (code, signal) => {
        exitCode = signal ?? String(code);
        if (this.child === child) this.child = undefined;
        res();
      });
    });
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`Kafka broker exited (${exitCode}) during start\n${await this.logTail()}`);
      if (await this.answersMetadata()) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`Kafka broker at ${this.brokers} not ready after 90 s\n${await this.logTail()}`);
      }
      await sleep(250);
    }
  }

  // Ready means a client gets metadata and every partition has a leader again:
  // right after a restart the topic list comes back before leaders are elected.
  private async answersMetadata(): Promise<boolean> {
    const admin = new Kafka({
      clientId: 'weir-test-ready', brokers: [this.brokers], logLevel: logLevel.NOTHING,
      connectionTimeout: 1000, requestTimeout: 3000, retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      const topics = await admin.listTopics();
      if (topics.length === 0) return true;
      const md = await admin.fetchTopicMetadata({ topics });
      return md.topics.every((t) => t.partitions.every((p) => p.leader >= 0));
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private async logTail(lines = 40): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return `--- last lines of ${this.logFile} ---\n${text.split('\n').slice(-lines).join('\n')}`;
  }

  /** SIGTERM (controlled shutdown), then SIGKILL if it has not exited within the deadline. */
  async stop(deadlineMs = 30_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    // A plain sleep() in the race would keep the event loop (and vitest) alive for
    // the whole deadline after a quick exit, so the timer is cleared.
    const killer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    await this.exited;
    clearTimeout(killer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Creates topics (ignoring ones that exist) and waits until their partitions have leaders. */
export async function createTopics(brokers: string, topics: string[], partitions = 1): Promise<void> {
  const admin = new Kafka({ clientId: 'weir-test-admin', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
    });
  } finally {
    await admin.disconnect();
  }
}
