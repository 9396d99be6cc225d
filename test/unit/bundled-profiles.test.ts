// The bundled device profiles (device-profiles/): they load, each claims the protocols,
// topics, paths and serial ports its comment says, and `weir decode` — a real child
// process running the CLI from src/ through tsx, so no build is needed — prints the
// readings of one payload of every one of them.
import { execFile } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Protocol } from '../../src/profiles/schema.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { cleanupTempDirs, tempDir } from './support.js';

afterAll(cleanupTempDirs);

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NEW_PROFILES = ['gps-tracker', 'gps-nmea', 'senml-device', 'senml-cbor', 'env-sensor-binary'];
const registry = loadProfilesOrThrow([BUNDLED_PROFILES_DIR]);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `weir decode ARGS` in a fresh Node process: the CLI's main() from src/ under tsx (the
 * `tsx` loader by absolute URL), in an empty directory and without WEIR_* variables, so
 * no weir.yaml or override changes which profiles load.
 */
function weirDecode(args: string[], input?: Buffer | string): Promise<Run> {
  const entry = `const { main } = await import(${JSON.stringify(pathToFileURL(join(REPO, 'src/cli/main.ts')).href)});`
    + ' process.exitCode = await main(process.argv.slice(1));';
  const loader = pathToFileURL(join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WEIR_')));
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', loader, '--input-type=module', '-e', entry, 'decode', ...args],
      { cwd: tempDir('weir-decode-cwd-'), env, timeout: 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    child.stdin!.end(input ?? '');
  });
}

const lines = (out: string) => out.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('bundled profiles: load', () => {
  it('every file in device-profiles/ loads without a problem, the new ones included', () => {
    const files = readdirSync(BUNDLED_PROFILES_DIR).filter((f) => /\.ya?ml$/.test(f));
    expect(registry.size).toBe(files.length);
    for (const name of ['cpu-monitor', 'temperature-sensor', ...NEW_PROFILES]) {
      expect(registry.get(name)?.file, name).toBe(join(BUNDLED_PROFILES_DIR, `${name}.yaml`));
    }
  });

  it('each new profile has a description, good samples and at least one dead-letter sample', () => {
    for (const name of NEW_PROFILES) {
      const { spec } = registry.get(name)!;
      expect(spec.description?.length, name).toBeGreaterThan(80);
      expect(spec.samples.filter((s) => s.expect).length, name).toBeGreaterThanOrEqual(3);
      expect(spec.samples.filter((s) => s.expectDeadLetter).length, name).toBeGreaterThanOrEqual(1);
    }
  });

  it('every match rule of every bundled profile routes to that profile (none shadows another)', () => {
    for (const profile of registry.list()) {
      for (const { protocol, pattern } of profile.patterns) {
        // A concrete topic for the pattern: each {name} and + filled in, a final # dropped.
        const topic = pattern.source.split('/').map((s) => (/^\{.+\}$|^\+$/.test(s) ? 'x-1' : s)).filter((s) => s !== '#').join('/');
        expect(registry.match(protocol, topic)?.profile.name, `${protocol} ${topic}`).toBe(profile.name);
      }
    }
  });
});

describe('bundled profiles: what each new one matches', () => {
  const cases: Array<[Protocol, string, string | undefined, Record<string, string>?]> = [
    // gps-tracker: JSON on MQTT and HTTP, device from the topic
    ['mqtt', 'trackers/trk-0042/position', 'gps-tracker', { device: 'trk-0042' }],
    ['http', 'trackers/trk-0042/position', 'gps-tracker', { device: 'trk-0042' }],
    ['http', '/trackers/trk-0042/position', 'gps-tracker', { device: 'trk-0042' }],
    ['mqtt', '/trackers/trk-0042/position', undefined], // a leading "/" is another MQTT topic
    ['mqtt', 'trackers/trk-0042/position/extra', undefined],
    ['mqtt', 'trackers//position', undefined],
    ['coap', '/trackers/trk-0042/position', undefined],
    // gps-nmea: the serial port named gps, and nothing else
    ['serial', 'gps', 'gps-nmea', {}],
    ['serial', 'gps2', undefined],
    ['mqtt', 'gps', undefined],
    // senml-device (JSON) and senml-cbor: CoAP and HTTP, device from the pack
    ['coap', '/senml', 'senml-device', {}],
    ['coap', 'senml', 'senml-device', {}],
    ['http', 'senml', 'senml-device', {}],
    ['mqtt', 'senml', undefined],
    ['coap', '/senml/dev-1', undefined],
    ['coap', '/senml-cbor', 'senml-cbor', {}],
    ['http', 'senml-cbor', 'senml-cbor', {}],
    // env-sensor-binary: CoAP /env/{label} and the serial port named env
    ['coap', '/env/office-2-north', 'env-sensor-binary', { label: 'office-2-north' }],
    ['serial', 'env', 'env-sensor-binary', {}],
    ['coap', '/env', undefined],
    ['coap', '/env/a/b', undefined],
    ['http', 'env/office-2-north', undefined],
    // the two that were there before keep their topics
    ['mqtt', 'iot-data-input', 'cpu-monitor', {}],
    ['mqtt', 'sensors/tmp-17/temperature', 'temperature-sensor', { device: 'tmp-17' }],
  ];
  it.each(cases)('%s %s → %s', (protocol, topic, name, params) => {
    const got = registry.match(protocol, topic);
    expect(got?.profile.name).toBe(name);
    if (name !== undefined) expect(got?.params).toEqual(params);
  });
});

describe('weir decode (a child process) on one payload of every bundled profile', () => {
  const hex = (h: string) => Buffer.from(h, 'hex');
  const covered = new Set<string>();
  afterAll(() => {
    // Every bundled profile had its CLI run (a profile added later needs a case here).
    expect([...covered].sort()).toEqual(registry.list().map((p) => p.name).sort());
  });

  /** Runs decode, expects exit 0, returns the readings it printed. */
  async function decode(profile: string, args: string[], input?: Buffer | string) {
    covered.add(profile);
    const r = await weirDecode(['-p', profile, ...args], input);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return lines(r.stdout);
  }

  it('cpu-monitor: a payload as an argument', async () => {
    const got = await decode('cpu-monitor', ['{"hostname":"dopey","cpu":"cpu4","usage":90.51760978462883,"occurred_at":1642763123319}']);
    expect(got).toEqual([{ device: 'dopey', profile: 'cpu-monitor', ts: 1642763123319, tags: { cpu: 'cpu4' }, metrics: { usage: 90.51760978462883 } }]);
  });

  it('temperature-sensor: on a topic, from stdin', async () => {
    const got = await decode('temperature-sensor', ['--topic', 'sensors/tmp-17/temperature', '-'], '{"t": 21.4, "rh": 40.2, "bat": 3.01, "time": "2024-05-01T10:00:00Z", "site": "plant-a"}');
    expect(got).toEqual([{ device: 'tmp-17', profile: 'temperature-sensor', ts: 1714557600000, tags: { site: 'plant-a' }, metrics: { temperature: 21.4, humidity: 40.2, battery: 3.01 } }]);
  });

  it('gps-tracker: a batch of two buffered fixes, each with its own fix time', async () => {
    const payload = JSON.stringify([
      { lat: 53.541002, lon: 9.96402, speed_kmh: 31.5, heading: 92.5, battery: 80, fix_time: '2024-05-01T10:14:30Z', asset: 'container-MSKU1234565' },
      { lat: 53.542417, lon: 9.96811, speed_kmh: 28, heading: 400, battery: 80, fix_time: '2024-05-01T12:15:00.250+02:00' },
    ]);
    const got = await decode('gps-tracker', ['--topic', 'trackers/trk-0042/position', payload]);
    expect(got).toEqual([
      { device: 'trk-0042', profile: 'gps-tracker', ts: 1714558470000, tags: { asset: 'container-MSKU1234565' }, metrics: { lat: 53.541002, lon: 9.96402, speed_kmh: 31.5, heading: 92.5, battery: 80 } },
      // heading 400 is out of range: only that metric is dropped
      { device: 'trk-0042', profile: 'gps-tracker', ts: 1714558500250, tags: {}, metrics: { lat: 53.542417, lon: 9.96811, speed_kmh: 28, battery: 80 } },
    ]);
  });

  it('gps-nmea: an NMEA log from @FILE (GGA + RMC of one fix merge; noise sentences skipped); event time is the receipt time', async () => {
    const file = join(tempDir(), 'fix.nmea');
    writeFileSync(file, [
      '$GNGGA,101532.00,5332.6398,N,00958.3311,E,2,12,0.71,12.8,M,47.0,M,1.0,0000*50',
      '$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74',
      '$GNRMC,101532.00,A,5332.6398,N,00958.3311,E,0.05,,010524,,,D,V*25',
      '',
    ].join('\r\n'));
    const before = Date.now();
    const got = await decode('gps-nmea', [`@${file}`]);
    const after = Date.now();
    expect(got).toEqual([{
      device: 'gps', profile: 'gps-nmea', ts: expect.any(Number), tags: { sentence: 'GNGGA,GNRMC' },
      metrics: { lat: 53.5439967, lon: 9.972185, speed_kmh: 0.0926, fix_quality: 2, satellites: 12, hdop: 0.71, altitude_m: 12.8, valid: 1 },
    }]);
    expect(got[0]!.ts).toBeGreaterThanOrEqual(before);
    expect(got[0]!.ts).toBeLessThanOrEqual(after);
  });

  it('gps-nmea on the serial port: one sentence, as framing nmea delivers it', async () => {
    const got = await decode('gps-nmea', ['--topic', 'gps', '$GNRMC,101530.00,A,5332.6412,N,00958.3086,E,12.4,87.6,010524,,,A,V*3F']);
    expect(got).toEqual([{ device: 'gps', profile: 'gps-nmea', ts: expect.any(Number), tags: { sentence: 'GNRMC' }, metrics: { lat: 53.54402, lon: 9.97181, speed_kmh: 22.9648, course: 87.6, valid: 1 } }]);
  });

  it('senml-device: RFC 8428 §5.1.3 multiple datapoints on HTTP, one reading per time', async () => {
    const pack = '[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3}]';
    const got = await decode('senml-device', ['--path', 'senml', pack]);
    const dev = { device: 'urn:dev:ow:10e2073a01080063', profile: 'senml-device', tags: {} };
    expect(got).toEqual([
      { ...dev, ts: 1276020076001, metrics: { voltage: 120.1 } },
      { ...dev, ts: 1276020071001, metrics: { current: 1.2 } },
      { ...dev, ts: 1276020072001, metrics: { current: 1.3 } },
    ]);
  });

  it('senml-cbor: a CBOR pack from stdin on CoAP /senml-cbor', async () => {
    const pack = hex('84a521781d75726e3a6465763a6d61633a303032346265666666653830346666313a221a66321642006474656d70016343656c02fb4035b33333333333a3006868756d6964697479016325524802fb4045c00000000000a30068707265737375726501625061021a00018bcda3006762617474657279016325454c021858');
    const got = await decode('senml-cbor', ['--path', '/senml-cbor', '-'], pack);
    expect(got).toEqual([{ device: 'urn:dev:mac:0024befffe804ff1', profile: 'senml-cbor', ts: 1714558530000, tags: {}, metrics: { temperature: 21.7, humidity: 43.5, pressure: 101325, battery: 88 } }]);
  });

  it('env-sensor-binary: a 16-byte frame from stdin, over CoAP and over serial', async () => {
    const frame = hex('e5013a7f00120102085910fe27945700');
    const metrics = { temperature: 21.37, humidity: 43.5, pressure: 1013.2, battery: 87 };
    const coap = await decode('env-sensor-binary', ['--path', '/env/office-2-north', '-'], frame);
    expect(coap).toEqual([{ device: '3a7f0012', profile: 'env-sensor-binary', ts: expect.any(Number), tags: { label: 'office-2-north' }, metrics }]);
    const serial = await decode('env-sensor-binary', ['--topic', 'env', '-'], frame);
    expect(serial).toEqual([{ device: '3a7f0012', profile: 'env-sensor-binary', ts: expect.any(Number), tags: {}, metrics }]);
  });

  it('a dead letter: the reason on stderr, nothing on stdout, exit 1', async () => {
    const r = await weirDecode(['-p', 'env-sensor-binary', '--topic', 'env', '-'], hex('aa013a7f00120104085910fe27945700'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^dead letter: WEIR_WRONG_SHAPE: frame 0, field "sync" \(u8 at byte 0\): got 0xaa, expected 0xe5/);
  });
});
