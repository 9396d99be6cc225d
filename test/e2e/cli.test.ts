// The `weir` bin as a user runs it (the built dist/, through bin/weir.js).
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { consumeAll } from '../support/kcat.js';
import { REPO, startInProcess, testSetup, type TestSetup } from '../support/gateway.js';

function weir(args: string[], opts: { input?: string; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(REPO, 'bin/weir.js'), ...args], { cwd: opts.cwd ?? REPO, timeout: 60_000, env: { ...process.env, WEIR_CONFIG: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

const GOOD = '{"hostname":"dopey","cpu":"cpu4","usage":90.5,"occurred_at":1642763123319}';

describe('weir CLI', () => {
  const brokers = inject('kafkaBrokers');
  let setup: TestSetup;
  let gateway: Gateway;
  let configFile: string;
  beforeAll(async () => {
    setup = await testSetup(brokers);
    configFile = join(setup.dir, 'weir.yaml');
    writeFileSync(configFile, stringify(setup.config));
    gateway = await startInProcess(setup);
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('check: accepts the defaults and the bundled profiles', async () => {
    const r = await weir(['check']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ok: config \(built-in defaults\); \d+ device profile\(s\): .*cpu-monitor/);
  });

  it('check: reports every config and profile error with file, line and path, exit 1', async () => {
    const dir = join(setup.dir, 'broken');
    mkdirSync(join(dir, 'profiles'), { recursive: true });
    writeFileSync(join(dir, 'weir.yaml'), 'mqtt:\n  port: -1\nprofiles:\n  dirs: [profiles]\nkafak: {}\n');
    writeFileSync(join(dir, 'profiles', 'x.yaml'), 'name: Bad Name\nmatch: []\ndevice: { field: id }\nmetrics: {}\nsamples: []\n');
    const r = await weir(['check', '-c', join(dir, 'weir.yaml')], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(dir, 'weir.yaml')}:2:9: mqtt.port:`);
    expect(r.stderr).toContain(`${join(dir, 'weir.yaml')}:5:1: kafak: unknown key`);
    expect(r.stderr).toMatch(new RegExp(`${join(dir, 'profiles', 'x.yaml')}:1:7: name: `));
    expect(r.stderr).toMatch(/x\.yaml:\d+:\d+: match: /);
    expect(r.stderr).toMatch(/x\.yaml:\d+:\d+: metrics: declare at least one metric/);
  });

  it('decode: prints readings as JSON lines from an argument, @file and stdin', async () => {
    const arg = await weir(['decode', '-p', 'cpu-monitor', GOOD]);
    expect(arg.code).toBe(0);
    expect(JSON.parse(arg.stdout)).toEqual({ device: 'dopey', profile: 'cpu-monitor', ts: 1642763123319, tags: { cpu: 'cpu4' }, metrics: { usage: 90.5 } });
    const file = join(setup.dir, 'payload.json');
    writeFileSync(file, `[${GOOD},${GOOD.replace('dopey', 'happy')}]`);
    const fromFile = await weir(['decode', '-p', 'cpu-monitor', `@${file}`]);
    expect(fromFile.stdout.trim().split('\n').map((l) => JSON.parse(l).device)).toEqual(['dopey', 'happy']);
    const stdin = await weir(['decode', '-p', 'temperature-sensor', '--topic', 'sensors/t-9/temperature', '-'], { input: '{"t":20.5,"time":1714557600}' });
    expect(JSON.parse(stdin.stdout)).toMatchObject({ device: 't-9', ts: 1714557600000, metrics: { temperature: 20.5 } });
  });

  it('decode: prints the dead-letter reason and exits 1', async () => {
    const r = await weir(['decode', '-p', 'cpu-monitor', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/dead letter: WEIR_DECODE_FAILED: invalid JSON/);
    const unknown = await weir(['decode', '-p', 'no-such', GOOD]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/WEIR_PROFILE_NOT_FOUND/);
  });

  it('simulate → status: simulated devices are acknowledged and reach Kafka; status shows the gateway', async () => {
    const sim = await weir(['simulate', '-c', configFile, '--profile', 'cpu-monitor', '--devices', '3', '--rate', '50', '--count', '20', '--mqtt', `mqtt://127.0.0.1:${setup.mqttPort}`]);
    expect(sim.code).toBe(0);
    expect(JSON.parse(sim.stdout)).toMatchObject({ devices: 3, sent: 60, acknowledged: 60, errors: 0 });
    const records = await consumeAll(brokers, setup.topics.readings, { count: 60, timeoutMs: 30_000 });
    expect(new Set(records.map((r) => r.key)).size).toBe(3);

    const status = await weir(['status', '-c', configFile, '--json']);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s.gateway).toBe(setup.config.gateway!.id);
    expect(s.uplink.state).toBe('up');
    expect(Object.keys(s.backlog).sort()).toEqual(['aggregates', 'alerts', 'deadletter', 'readings', 'status']);
    expect(s.lastSeq).toBeGreaterThanOrEqual(60);
    const human = await weir(['status', '-c', configFile]);
    expect(human.stdout).toMatch(/uplink\s+up/);
    expect(human.stdout).toMatch(/disk\s+journal [\d.]+ MiB/);
  });

  it('status: with no gateway running, reads the journal and exits 3', async () => {
    const dir = join(setup.dir, 'offline');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'weir.yaml'), stringify({ http: { port: 1 }, dataDir: setup.config.dataDir }));
    const r = await weir(['status', '-c', join(dir, 'weir.yaml'), '--json'], { cwd: dir });
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ running: false });
  });
});
