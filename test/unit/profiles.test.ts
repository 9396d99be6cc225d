import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatProblem } from '../../src/config/load.js';
import { compileMapper } from '../../src/profiles/mapper.js';
import { BUNDLED_PROFILES_DIR, loadProfiles } from '../../src/profiles/registry.js';
import { profileSchema } from '../../src/profiles/schema.js';
import { compilePattern } from '../../src/profiles/topic-pattern.js';
import { cleanupTempDirs, tempDir } from './support.js';

afterEach(cleanupTempDirs);

const bundledFiles = readdirSync(BUNDLED_PROFILES_DIR).filter((f) => /\.ya?ml$/.test(f));
const cpuYaml = readFileSync(join(BUNDLED_PROFILES_DIR, 'cpu-monitor.yaml'), 'utf8');

/** 1-based number of the first line containing `needle`. */
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

/** A minimal valid profile matching `topic` on MQTT, with one golden sample on `sampleTopic`. */
function profileYaml(name: string, topic: string, sampleTopic: string, device = '{ field: id }', expectDevice = 'd1'): string {
  return [
    `name: ${name}`,
    'match:',
    `  - { protocol: mqtt, topic: '${topic}' }`,
    `device: ${device}`,
    'metrics: { v: { min: 0, max: 10 } }',
    'samples:',
    `  - { topic: '${sampleTopic}', payload: '{"id":"d1","v":1}', expect: [ { device: ${expectDevice}, metrics: { v: 1 } } ] }`,
    '',
  ].join('\n');
}

describe('bundled device profiles', () => {
  it('all load with zero problems', () => {
    expect(bundledFiles.length).toBeGreaterThanOrEqual(2);
    const { registry, problems } = loadProfiles([BUNDLED_PROFILES_DIR]);
    expect(problems.map(formatProblem)).toEqual([]);
    expect(registry.size).toBe(bundledFiles.length);
    expect(registry.get('cpu-monitor')?.file).toBe(join(BUNDLED_PROFILES_DIR, 'cpu-monitor.yaml'));
  });

  it('decode their golden samples as declared (checked again here, independently of load)', () => {
    const { registry } = loadProfiles([BUNDLED_PROFILES_DIR]);
    for (const profile of registry.list()) {
      for (const sample of profile.spec.samples) {
        const topic = sample.topic ?? profile.patterns[0]!.pattern.source;
        const match = registry.match(profile.patterns[0]!.protocol, topic);
        expect(match?.profile.name, `${profile.name}: ${topic}`).toBe(profile.name);
        const payload = sample.payload !== undefined ? Buffer.from(sample.payload) : Buffer.from(sample.payloadHex!, 'hex');
        const got = profile.decode({ payload, params: match!.params, received: 42 });
        if (sample.expectDeadLetter) {
          expect(got.readings).toEqual([]);
          expect(got.rejects.map((r) => r.code)).toContain(sample.expectDeadLetter);
        } else {
          expect(got.rejects).toEqual([]);
          expect(got.readings.map((r) => ({ device: r.device, ts: r.ts, metrics: r.metrics })))
            .toEqual(sample.expect!.map((e) => ({ device: e.device, ts: e.ts ?? 42, metrics: e.metrics })));
        }
      }
    }
  });

  it('reports a broken golden sample with file, line and path', () => {
    const dir = tempDir();
    const file = join(dir, 'cpu-monitor.yaml');
    const broken = cpuYaml
      .replace('metrics: { usage: 90.51760978462883 }', 'metrics: { usage: 1.5 }')
      .replace('expectDeadLetter: WEIR_OUT_OF_RANGE', 'expectDeadLetter: WEIR_DECODE_FAILED');
    expect(broken).not.toBe(cpuYaml);
    writeFileSync(file, broken);
    const { registry, problems } = loadProfiles([dir]);
    expect(registry.get('cpu-monitor')).toBeUndefined();
    const expectProblem = problems.find((p) => p.path === 'samples.0.expect');
    expect(expectProblem?.file).toBe(file);
    // The `expect:` key of sample 0, or the first line of its value.
    const keyLine = lineOf(broken, 'expect:');
    expect([keyLine, keyLine + 1]).toContain(expectProblem?.line);
    expect(expectProblem?.message).toContain('1.5');
    const dl = problems.find((p) => p.path === 'samples.4.expectDeadLetter');
    expect(dl?.line).toBe(lineOf(broken, 'expectDeadLetter: WEIR_DECODE_FAILED'));
    expect(dl?.message).toContain('WEIR_OUT_OF_RANGE');
    expect(formatProblem(expectProblem!)).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: samples\\.0\\.expect: `));
  });

  it('reports a duplicate profile name across directories and keeps the first', () => {
    const a = tempDir();
    const b = tempDir();
    writeFileSync(join(a, 'one.yaml'), profileYaml('dup', 'x/y', 'x/y'));
    writeFileSync(join(b, 'two.yaml'), profileYaml('dup', 'x/z', 'x/z'));
    const { registry, problems } = loadProfiles([a, b]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: join(b, 'two.yaml'), path: 'name' });
    expect(problems[0]!.message).toContain(join(a, 'one.yaml'));
    expect(registry.size).toBe(1);
    expect(registry.match('mqtt', 'x/y')?.profile.file).toBe(join(a, 'one.yaml'));
    expect(registry.match('mqtt', 'x/z')).toBeUndefined();
  });

  it('reports a missing directory instead of throwing', () => {
    const missing = join(tempDir(), 'nope');
    const { problems } = loadProfiles([missing]);
    expect(problems).toEqual([expect.objectContaining({ file: missing })]);
  });
});

describe('topic patterns', () => {
  it('captures {name} segments, exactly one non-empty level each', () => {
    const p = compilePattern('sensors/{device}/cpu');
    expect(p.literal).toBe(false);
    expect(p.match('sensors/d-1/cpu')).toEqual({ device: 'd-1' });
    for (const t of ['sensors//cpu', 'sensors/d1/cpu/x', 'sensors/d1', 'other/d1/cpu', 'sensors/d1/mem']) expect(p.match(t), t).toBeNull();
    expect(compilePattern('{site}/{device}').match('a/b')).toEqual({ site: 'a', device: 'b' });
  });

  it('supports + (one level, not captured) and a final # (zero or more levels)', () => {
    const plus = compilePattern('a/+/c');
    expect(plus.match('a/b/c')).toEqual({});
    expect(plus.match('a/b/x/c')).toBeNull();
    const hash = compilePattern('a/{dev}/#');
    expect(hash.match('a/d')).toEqual({ dev: 'd' });
    expect(hash.match('a/d/x/y/z')).toEqual({ dev: 'd' });
    expect(hash.match('b/d/x')).toBeNull();
    expect(compilePattern('#').match('any/thing/at/all')).toEqual({});
  });

  it('ignores a leading slash on either side for CoAP/HTTP paths', () => {
    for (const [pattern, topic] of [['/t/{id}', 't/7'], ['t/{id}', '/t/7'], ['/t/{id}', '/t/7']] as const) {
      expect(compilePattern(pattern).match(topic), `${pattern} ~ ${topic}`).toEqual({ id: '7' });
    }
    expect(compilePattern('/lit/eral').match('lit/eral')).toEqual({});
  });

  it('keeps a leading slash significant for MQTT topics (an empty first level)', () => {
    expect(compilePattern('t/{id}', true).match('/t/7')).toBeNull();
    expect(compilePattern('/t/{id}', true).match('/t/7')).toEqual({ id: '7' });
    expect(compilePattern('/lit', true).match('lit')).toBeNull();
    const { registry } = loadProfiles([BUNDLED_PROFILES_DIR]);
    expect(registry.match('mqtt', '/iot-data-input')).toBeUndefined();
    expect(registry.match('mqtt', 'iot-data-input')?.profile.name).toBe('cpu-monitor');
  });

  it('+ matches exactly one level, an empty one too (MQTT 3.1.1 §4.7.1.3: a/+/b matches a//b)', () => {
    const plus = compilePattern('a/+/b', true);
    expect(plus.match('a//b')).toEqual({});
    expect(plus.match('a/b')).toBeNull();
    expect(compilePattern('+/+', true).match('/x')).toEqual({});
    expect(compilePattern('+', true).match('')).toEqual({});
    expect(compilePattern('a/+').match('a/')).toEqual({}); // CoAP/HTTP paths alike
    // A {name} still takes a non-empty level: it becomes the device id or a tag.
    expect(compilePattern('a/{x}/b', true).match('a//b')).toBeNull();
  });

  it('MQTT: a pattern starting with a wildcard or {name} does not match a $ topic (MQTT 3.1.1 §4.7.2)', () => {
    for (const pattern of ['#', '+/+', '+/broker/#', '{device}/#', '{a}/{b}']) {
      expect(compilePattern(pattern, true).match('$SYS/broker'), pattern).toBeNull();
    }
    expect(compilePattern('$SYS/#', true).match('$SYS/broker')).toEqual({});
    expect(compilePattern('$SYS/+', true).match('$SYS/broker')).toEqual({});
    expect(compilePattern('+/b', true).match('a$/b')).toEqual({}); // only a leading $ is reserved
    const dir = tempDir();
    writeFileSync(join(dir, 'catch-all.yaml'), profileYaml('catch-all', '{device}/#', 'x/y', '{ segment: device }', 'x'));
    const { registry, problems } = loadProfiles([dir]);
    expect(problems.map(formatProblem)).toEqual([]);
    expect(registry.match('mqtt', 'x/y')?.profile.name).toBe('catch-all');
    expect(registry.match('mqtt', '$SYS/broker/uptime')).toBeUndefined();
  });

  it('dead-letters a required metric out of range even with outOfRange: drop-metric', () => {
    const { registry } = loadProfiles([BUNDLED_PROFILES_DIR]);
    const temp = registry.get('temperature-sensor')!;
    const r = temp.decode({ payload: Buffer.from('{"t":200,"rh":40,"time":1714557600}'), params: { device: 'x' }, received: 0 });
    expect(r.readings).toEqual([]);
    expect(r.rejects.map((x) => x.code)).toEqual(['WEIR_OUT_OF_RANGE']);
  });

  it('rejects malformed patterns with a readable message', () => {
    expect(() => compilePattern('a/#/b')).toThrow(/last segment/);
    expect(() => compilePattern('a/{x}/{x}')).toThrow(/used twice/);
    expect(() => compilePattern('a/b{x}/c')).toThrow(/malformed segment "b\{x\}"/);
    expect(() => compilePattern('a/x+/c')).toThrow(/malformed/);
  });
});

describe('ProfileRegistry.match', () => {
  it('prefers a literal topic, then the pattern with most literal segments, whatever the load order', () => {
    const dir = tempDir();
    writeFileSync(join(dir, '1-generic.yaml'), profileYaml('generic', 'sensors/+/{kind}', 'sensors/q/v'));
    writeFileSync(join(dir, '2-temp.yaml'), profileYaml('temp', 'sensors/{device}/temperature', 'sensors/s1/temperature', '{ segment: device }', 's1'));
    writeFileSync(join(dir, '3-special.yaml'), profileYaml('special', 'sensors/special/temperature', 'sensors/special/temperature', '{ value: fixed }', 'fixed'));
    const { registry, problems } = loadProfiles([dir]);
    expect(problems.map(formatProblem)).toEqual([]);
    expect(registry.match('mqtt', 'sensors/special/temperature')).toMatchObject({ profile: { name: 'special' }, params: {} });
    expect(registry.match('mqtt', 'sensors/x9/temperature')).toMatchObject({ profile: { name: 'temp' }, params: { device: 'x9' } });
    expect(registry.match('mqtt', 'sensors/x9/humidity')).toMatchObject({ profile: { name: 'generic' }, params: { kind: 'humidity' } });
    expect(registry.match('mqtt', 'sensors/x9')).toBeUndefined();
    // Asked again (cached), the answers do not change.
    expect(registry.match('mqtt', 'sensors/x9/temperature')?.profile.name).toBe('temp');
  });

  it('matches the bundled profiles per protocol', () => {
    const { registry } = loadProfiles([BUNDLED_PROFILES_DIR]);
    expect(registry.match('mqtt', 'iot-data-input')?.profile.name).toBe('cpu-monitor');
    expect(registry.match('coap', '/iot-data-input')?.profile.name).toBe('cpu-monitor');
    expect(registry.match('coap', 'iot-data-input')?.profile.name).toBe('cpu-monitor');
    expect(registry.match('http', 'iot-data-input')?.profile.name).toBe('cpu-monitor');
    expect(registry.match('mqtt', 'sensors/tmp-1/temperature')).toMatchObject({ profile: { name: 'temperature-sensor' }, params: { device: 'tmp-1' } });
    expect(registry.match('http', 'sensors/tmp-1/temperature')?.params).toEqual({ device: 'tmp-1' });
    expect(registry.match('coap', 'sensors/tmp-1/temperature')).toBeUndefined(); // no CoAP rule
    expect(registry.match('serial', 'iot-data-input')).toBeUndefined();
    expect(registry.match('mqtt', 'iot-data-input/extra')).toBeUndefined();
  });
});

describe('metric scale and offset', () => {
  it('rescales fixed-point metrics exactly: scale 0.1 divides by 10, a whole-step offset joins the numerator', () => {
    const map = compileMapper(profileSchema.parse({
      name: 'fixed-point',
      match: [{ protocol: 'mqtt', topic: 't' }],
      device: { value: 'd' },
      metrics: {
        t: { field: 'dC', scale: 0.1, min: -40, max: 88.6 },
        f: { field: 'dC', scale: 0.1, offset: -40 },
        v: { field: 'cV', scale: 0.01, offset: 0.5 },
      },
      samples: [{ payload: '{}', expectDeadLetter: 'WEIR_WRONG_SHAPE' }],
    }));
    // 886 × 0.1 is 88.60000000000001 in binary floating point: above max, and not what the device sent.
    expect(map({ dC: 886, cV: 115 }, {}, 0).metrics).toEqual({ t: 88.6, f: 48.6, v: 1.65 });
    expect(map({ dC: -3, cV: 7 }, {}, 0).metrics).toEqual({ t: -0.3, f: -40.3, v: 0.57 });
  });
});
