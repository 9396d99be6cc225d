// A real Mosquitto broker for tests (the site broker of the MQTT bridge), on
// 127.0.0.1 and a free port; and mosquitto_pub as a device. Not a test file.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './kafka-broker.js';
import { sleep } from './wait.js';

const MOSQUITTO = '/usr/sbin/mosquitto';

/** A real Mosquitto on 127.0.0.1, persistence on: sessions and queued messages survive its restart. */
export class Mosquitto {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  log = '';

  private constructor(readonly dir: string, readonly port: number) {}

  static async start(persistence = true, extraConfig: string[] = []): Promise<Mosquitto> {
    const m = new Mosquitto(mkdtempSync(join(tmpdir(), 'weir-mosquitto-')), await freePort());
    writeFileSync(join(m.dir, 'mosquitto.conf'), [
      `listener ${m.port} 127.0.0.1`,
      'allow_anonymous true',
      `persistence ${persistence}`,
      `persistence_location ${m.dir}/`,
      // Started as root, Mosquitto drops to user "mosquitto", which cannot write the temp dir.
      `user ${userInfo().username}`,
      'log_dest stderr',
      'log_type all',
      ...extraConfig,
      '',
    ].join('\n'));
    await m.start();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(MOSQUITTO, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (b: Buffer) => (this.log += b.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const until = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > until) throw new Error(`mosquitto did not start:\n${this.log}`);
      await sleep(20);
    }
  }

  /** Stops it and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGTERM: Mosquitto writes its persistence file and exits. */
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
    this.child = undefined;
  }
}

export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** mosquitto_pub -l: one message per line, in order, over one connection, each PUBACKed before it exits (`retain`: -r). */
export function publish(port: number, topic: string, messages: string[], opts: { qos?: 0 | 1 | 2; version?: 4 | 5; retain?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('mosquitto_pub', [
      '-h', '127.0.0.1', '-p', String(port), '-t', topic, '-q', String(opts.qos ?? 1),
      '-V', opts.version === 4 ? 'mqttv311' : 'mqttv5', '-l', ...(opts.retain ? ['-r'] : []),
    ], { timeout: 15_000 }, (err, _stdout, stderr) => (err ? reject(new Error(`mosquitto_pub: ${err.message} ${stderr}`)) : resolve()));
    child.stdin!.end(messages.map((m) => `${m}\n`).join(''));
  });
}

