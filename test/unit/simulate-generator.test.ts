// The simulator's generator under a seed: payloads, jitter, late/out-of-order readings,
// malformed payloads and reboots, counted exactly (the schedule is pure: no clock).
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { compileProfile } from '../../src/profiles/compile.js';
import type { CompiledProfile } from '../../src/profiles/profile.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { profileSchema } from '../../src/profiles/schema.js';
import { payloadFactory, type MalformedKind } from '../../src/simulate/generator.js';
import { mulberry32, rngFor } from '../../src/simulate/prng.js';
import { deviceSchedule, type ScheduleOptions, type SimReading, type Step } from '../../src/simulate/schedule.js';

const profiles = loadProfilesOrThrow([BUNDLED_PROFILES_DIR]);
const cpu = profiles.get('cpu-monitor')!;
const START = 1_700_000_000_000;

const base: ScheduleOptions = {
  seed: 42, rate: 10, jitter: 0.2, lateFraction: 0, lateMs: 0, malformedRate: 0, rebootEveryMs: 0, rebootDownMs: 0, startEpochMs: START,
};

function steps(opts: Partial<ScheduleOptions>, index = 0, profile = cpu, protocol: 'mqtt' | 'coap' | 'http' = 'http'): Step[] {
  const o = { ...base, ...opts };
  return [...deviceSchedule(payloadFactory(profile, protocol, index, rngFor(o.seed, 'values', index)), index, o)];
}
const sends = (s: Step[]): SimReading[] => s.flatMap((x) => (x.kind === 'send' ? [x.reading] : []));
const sendSteps = (s: Step[]) => s.filter((x): x is Extract<Step, { kind: 'send' }> => x.kind === 'send');
const reboots = (s: Step[]) => s.filter((x): x is Extract<Step, { kind: 'reboot' }> => x.kind === 'reboot');

/** Decodes a payload as the gateway would for the cpu-monitor contract path. */
function decode(payload: string) {
  return cpu.decode({ payload: Buffer.from(payload), params: {}, received: START });
}

/** A profile from its YAML text, as the registry compiles it. */
function profileOf(yaml: string): CompiledProfile {
  const { profile, problems } = compileProfile(profileSchema.parse(parseYaml(yaml)), 'test.yaml');
  if (!profile) throw new Error(`test bug: ${JSON.stringify(problems)}`);
  return profile;
}

describe('seeded PRNG', () => {
  it('is exact under a seed, and streams per (seed, concern, device) are independent', () => {
    const a = mulberry32(1);
    expect([a(), a(), a()]).toEqual([0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
    const draws = (r: () => number) => Array.from({ length: 5 }, r);
    expect(draws(rngFor(7, 'timing', 0))).toEqual(draws(rngFor(7, 'timing', 0)));
    expect(draws(rngFor(7, 'timing', 0))).not.toEqual(draws(rngFor(7, 'timing', 1)));
    expect(draws(rngFor(7, 'timing', 0))).not.toEqual(draws(rngFor(7, 'late', 0)));
    expect(draws(rngFor(7, 'timing', 0))).not.toEqual(draws(rngFor(8, 'timing', 0)));
    const all = draws(rngFor(7, 'x', 0)).concat(draws(rngFor(0, 'x', 0)));
    expect(all.every((v) => v >= 0 && v < 1)).toBe(true);
  });
});

describe('payloads: the profile mapping, inverted', () => {
  it('writes the cpu-monitor contract document that the profile decodes back', () => {
    const f = payloadFactory(cpu, 'http', 2, rngFor(1, 'values', 2));
    expect(f.id).toBe('cpu-0003');
    expect(f.topic).toBe('iot-data-input');
    expect(payloadFactory(cpu, 'coap', 0, rngFor(1, 'values', 0)).topic).toBe('/iot-data-input');
    expect(f.malformedKinds).toEqual(['invalid-json', 'wrong-shape', 'missing-device', 'out-of-range']);
    const doc = JSON.parse(f.reading(START + 5)) as Record<string, unknown>;
    expect(Object.keys(doc).sort()).toEqual(['cpu', 'hostname', 'occurred_at', 'usage']);
    expect(doc).toMatchObject({ hostname: 'cpu-0003', occurred_at: START + 5 });
    const { readings, rejects } = decode(JSON.stringify(doc));
    expect(rejects).toEqual([]);
    expect(readings).toEqual([{ device: 'cpu-0003', profile: 'cpu-monitor', ts: START + 5, tags: { cpu: expect.any(String) }, metrics: { usage: doc.usage } }]);
  });

  it('each malformed kind is dead-lettered by the gateway with the matching code', () => {
    const f = payloadFactory(cpu, 'mqtt', 0, rngFor(1, 'values', 0));
    const codes: Record<MalformedKind, string> = {
      'invalid-json': 'WEIR_DECODE_FAILED', 'wrong-shape': 'WEIR_WRONG_SHAPE', 'missing-device': 'WEIR_WRONG_SHAPE', 'out-of-range': 'WEIR_OUT_OF_RANGE',
    };
    for (const kind of f.malformedKinds) {
      const { readings, rejects } = decode(f.reading(START, kind));
      expect({ kind, readings: readings.length, code: rejects[0]?.code }).toEqual({ kind, readings: 0, code: codes[kind] });
    }
  });

  it('a profile with the device id in the topic and no field for it cannot lose its id', () => {
    const temp = profiles.get('temperature-sensor')!;
    const f = payloadFactory(temp, 'mqtt', 0, rngFor(1, 'values', 0));
    expect(f.topic).toBe('sensors/temperature-0001/temperature');
    expect(f.malformedKinds).toEqual(['invalid-json', 'wrong-shape', 'out-of-range']);
    const r = temp.decode({ payload: Buffer.from(f.reading(START)), params: { device: f.id }, received: START });
    expect(r.readings).toEqual([expect.objectContaining({ device: 'temperature-0001', ts: START })]);
    expect(Object.keys(r.readings[0]!.metrics).sort()).toEqual(['battery', 'humidity', 'temperature']);
  });
  it('a scaled metric rounded as a device prints it stays inside its range at the bounds', () => {
    // value = raw × 0.7: max 10 is raw 14.2857…, which printed as 14.286 would read 10.0002.
    const tank = profileOf(`
name: tank
match: [{ protocol: http, path: 'tank/{device}' }]
decoder: { type: json }
device: { segment: device }
metrics:
  level: { field: l, unit: metre, scale: 0.7, min: 0, max: 10, required: true }
  flow: { field: f, scale: 1.1, min: 0, max: 10 }
samples:
  - { topic: tank/t1, payload: '{"l": 10, "f": 1}', expect: [{ device: t1, ts: 1700000000000, metrics: { level: 7, flow: 1.1 } }] }
`);
    const f = payloadFactory(tank, 'http', 0, rngFor(3, 'values', 0));
    const levels: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const { readings, rejects } = tank.decode({ payload: Buffer.from(f.reading(START + i)), params: { device: f.id }, received: START });
      expect(rejects).toEqual([]);
      levels.push(readings[0]!.metrics.level!);
    }
    // The walk did reach the top of the range, where the rounding mattered.
    expect(Math.max(...levels)).toBeGreaterThan(9.999);
  });

  it('a `+` level in the pattern becomes a real level: no wildcard in the topic it publishes to', () => {
    // MQTT 3.1.1 §3.3.2.1 [MQTT-3.3.2-2]: a PUBLISH topic name must not contain wildcards;
    // the gateway's broker closes the connection of a client that sends one.
    const line = profileOf(`
name: line
match:
  - { protocol: mqtt, topic: 'plant/+/{device}/+/telemetry/#' }
  - { protocol: http, path: 'plant/+/{device}' }
decoder: { type: json }
device: { segment: device }
metrics: { speed: { field: v, min: 0, max: 10 } }
samples:
  - { topic: plant/a/m1/b/telemetry, payload: '{"v": 1}', expect: [{ device: m1, ts: 1700000000000, metrics: { speed: 1 } }] }
`);
    for (const protocol of ['mqtt', 'http'] as const) {
      const f = payloadFactory(line, protocol, 5, rngFor(1, 'values', 5));
      expect(f.topic).not.toMatch(/[+#]/);
      const pattern = line.patterns.find((p) => p.protocol === protocol)!.pattern;
      expect(pattern.match(f.topic)).toEqual({ device: 'line-0006' });
    }
  });

  it('a metric with only a min (or only a max) walks inside its range: good readings stay good', () => {
    // A barometer: pressure has a floor and no declared ceiling; a depth gauge: a ceiling below zero.
    const baro = profileOf(`
name: baro
match: [{ protocol: http, path: 'baro/{device}' }]
decoder: { type: json }
device: { segment: device }
metrics:
  pressure: { field: p, unit: hPa, min: 870, required: true }
  depth: { field: d, unit: metre, max: -5 }
samples:
  - { topic: baro/b1, payload: '{"p": 1013, "d": -20}', expect: [{ device: b1, ts: 1700000000000, metrics: { pressure: 1013, depth: -20 } }] }
`);
    const f = payloadFactory(baro, 'http', 0, rngFor(1, 'values', 0));
    const depths = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const { readings, rejects } = baro.decode({ payload: Buffer.from(f.reading(START + i)), params: { device: f.id }, received: START });
      expect(rejects).toEqual([]);
      expect(readings[0]!.metrics.pressure).toBeGreaterThanOrEqual(870);
      depths.add(readings[0]!.metrics.depth!);
    }
    expect(Math.max(...depths)).toBeLessThanOrEqual(-5);
    expect(depths.size).toBeGreaterThan(1); // a walk, not a constant pinned to the bound
    // And the out-of-range kind is still out of range.
    expect(baro.decode({ payload: Buffer.from(f.reading(START, 'out-of-range')), params: { device: f.id }, received: START }).rejects[0]?.code).toBe('WEIR_OUT_OF_RANGE');
  });
});

describe('schedule under a seed', () => {
  it('is the same run for the same seed, another for another seed', () => {
    const opts = { count: 200, lateFraction: 0.1, lateMs: 400, malformedRate: 0.05, rebootEveryMs: 5000, rebootDownMs: 1000 };
    expect(steps(opts)).toEqual(steps(opts));
    expect(steps({ ...opts, seed: 43 })).not.toEqual(steps(opts));
    expect(steps(opts, 1)).not.toEqual(steps(opts, 0));
  });

  it('jitter: every interval lies within 1/rate × (1 ± jitter), and the range is used', () => {
    const s = sendSteps(steps({ count: 2000, jitter: 0.2 }));
    expect(s).toHaveLength(2000);
    expect(s.map((x) => x.reading.n)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(s[0]!.at).toBeLessThan(100); // a random phase within the first interval
    const gaps = s.slice(1).map((x, i) => x.at - s[i]!.at);
    // ±1 for rounding each instant to whole milliseconds
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(79);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(121);
    expect([Math.min(...gaps), Math.max(...gaps)]).toEqual([80, 120]);
    expect(gaps.filter((g) => g < 85).length).toBe(242);
    expect(gaps.filter((g) => g > 115).length).toBe(191);
    expect(s.at(-1)!.at).toBe(199_593); // mean interval ≈ 100 ms
    // Event time is the start plus the instant the reading was taken.
    expect(s.every((x) => x.reading.ts === START + x.reading.takenAt && x.at === x.reading.takenAt)).toBe(true);
    const none = sendSteps(steps({ count: 50, jitter: 0 }));
    expect(new Set(none.slice(1).map((x, i) => x.at - none[i]!.at))).toEqual(new Set([100]));
  });

  it('late readings: held back 1..lateMs and sent after newer ones; exact fractions', () => {
    const s = steps({ count: 1000, lateFraction: 0.1, lateMs: 500 });
    const sent = sendSteps(s);
    expect(sent).toHaveLength(1000);
    expect(new Set(sent.map((x) => x.reading.n)).size).toBe(1000); // each reading sent once
    const late = sent.filter((x) => x.reading.late);
    expect(late).toHaveLength(76);
    for (const x of late) {
      expect(x.at - x.reading.takenAt).toBeGreaterThanOrEqual(1);
      expect(x.at - x.reading.takenAt).toBeLessThanOrEqual(500);
    }
    expect(sent.filter((x) => !x.reading.late).every((x) => x.at === x.reading.takenAt)).toBe(true);
    // Out of order: sent after a reading with a newer event time.
    let newest = -1;
    const outOfOrder = sent.filter((x) => {
      const ooo = x.reading.ts < newest;
      newest = Math.max(newest, x.reading.ts);
      return ooo;
    });
    expect(outOfOrder).toHaveLength(60);
    expect(outOfOrder.every((x) => x.reading.late)).toBe(true);
    // Steps are in time order.
    expect(s.every((x, i) => i === 0 || x.at >= s[i - 1]!.at)).toBe(true);
    // The others were held back less than the next interval, so no newer reading overtook them.
  });

  it('over many devices the fractions come out as asked (each device draws its own streams)', () => {
    const all = Array.from({ length: 20 }, (_, i) => sends(steps({ count: 1000, lateFraction: 0.1, lateMs: 500, malformedRate: 0.05 }, i))).flat();
    expect(all).toHaveLength(20_000);
    expect(all.filter((x) => x.late).length).toBe(1967); // 9.8 %
    expect(all.filter((x) => x.malformed).length).toBe(1000); // 5.0 %
    expect(new Set(all.map((x) => x.device)).size).toBe(20);
  });

  it('late readings still held when the duration ends are sent at the end', () => {
    const s = sendSteps(steps({ durationMs: 10_000, lateFraction: 0.3, lateMs: 5000 }));
    expect(s.every((x) => x.reading.takenAt < 10_000 && x.at <= 10_000)).toBe(true);
    expect(s.filter((x) => x.at === 10_000 && x.reading.late).length).toBe(2);
    expect(s).toHaveLength(100);
  });

  it('malformed payloads: the exact fraction, every kind, and each dead-letters as its kind says', () => {
    const r = sends(steps({ count: 2000, malformedRate: 0.05 }));
    const bad = r.filter((x) => x.malformed);
    expect(bad).toHaveLength(104);
    const byKind: Record<string, number> = {};
    for (const x of bad) byKind[x.malformed!] = (byKind[x.malformed!] ?? 0) + 1;
    expect(byKind).toEqual({ 'invalid-json': 18, 'wrong-shape': 29, 'missing-device': 27, 'out-of-range': 30 });
    for (const x of r) {
      const { readings, rejects } = decode(x.payload);
      expect(readings.length + rejects.length).toBe(1);
      expect(rejects.length).toBe(x.malformed ? 1 : 0);
      if (!x.malformed) expect(readings[0]).toMatchObject({ device: 'cpu-0001', ts: x.ts });
    }
    // Turning on malformed payloads does not move the timing or lateness.
    const plain = sends(steps({ count: 2000 }));
    expect(r.map((x) => x.takenAt)).toEqual(plain.map((x) => x.takenAt));
  });

  it('reboots: every gap 0.5–1.5 × --reboot-every-s, down 0.5–1.5 × --reboot-down-s, and no readings meanwhile', () => {
    const s = steps({ durationMs: 120_000, rate: 5, rebootEveryMs: 10_000, rebootDownMs: 3000 });
    const rb = reboots(s);
    expect(rb.map((x) => [x.at, x.downMs])).toEqual([
      [12_662, 4415], [24_619, 3042], [40_357, 3472], [50_017, 4041], [60_683, 3680],
      [71_680, 2071], [84_835, 3688], [98_454, 3786], [111_085, 3174],
    ]);
    let upSince = 0;
    for (const r of rb) {
      expect(r.at - upSince).toBeGreaterThanOrEqual(5000);
      expect(r.at - upSince).toBeLessThanOrEqual(15_000);
      expect(r.downMs).toBeGreaterThanOrEqual(1500);
      expect(r.downMs).toBeLessThanOrEqual(4500);
      expect(sends(s).some((x) => x.takenAt >= r.at && x.takenAt < r.at + r.downMs)).toBe(false);
      upSince = r.at + r.downMs;
    }
    // The first reading after a reboot is taken the moment the device is back.
    for (const r of rb) expect(sends(s).some((x) => x.takenAt === r.at + r.downMs)).toBe(true);
    expect(sends(s)).toHaveLength(447);
  });

  it('late readings due while the device is down are sent when it is back, oldest first', () => {
    const s = steps({ count: 400, lateFraction: 0.2, lateMs: 2000, rebootEveryMs: 4000, rebootDownMs: 2000 });
    const rb = reboots(s);
    expect(rb).toHaveLength(10);
    const atResume = sendSteps(s).filter((x) => x.reading.late && rb.some((r) => x.at === r.at + r.downMs && x.reading.takenAt < r.at));
    expect(atResume).toHaveLength(23);
    // No send happens while a device is down.
    for (const r of rb) expect(sendSteps(s).some((x) => x.at >= r.at && x.at < r.at + r.downMs)).toBe(false);
    expect(sendSteps(s)).toHaveLength(400);
  });
});
