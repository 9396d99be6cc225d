import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { decoders } from '../../src/decoders/index.js';
import { parsePath, setPath } from '../../src/profiles/field-path.js';
import type { CompiledProfile, DecodeResult } from '../../src/profiles/profile.js';
import { BUNDLED_PROFILES_DIR, loadProfiles } from '../../src/profiles/registry.js';

const RUNS = 2000;
const { registry, problems } = loadProfiles([BUNDLED_PROFILES_DIR]);
const profiles = registry.list();
const KNOWN_CODES = new Set(Object.keys(ErrorCodes));

/** A topic segment as a device might send it: non-empty, no level separator. */
const segment = fc.string({ minLength: 1, maxLength: 24 }).filter((s) => !s.includes('/'));

/** Params as the profile's first pattern captures them from a topic with random segments. */
function paramsArb(profile: CompiledProfile): fc.Arbitrary<Record<string, string>> {
  const { pattern } = profile.patterns[0]!;
  return fc.array(segment, { minLength: 8, maxLength: 8 }).map((segs) => {
    let k = 0;
    // Wildcards first, so a random segment holding "+" or "#" is left alone.
    const topic = pattern.source.replace(/\+/g, 'x').replace(/#$/, 'y/z').replace(/\{[a-zA-Z_][a-zA-Z0-9_]*\}/g, () => segs[k++]!);
    const params = pattern.match(topic);
    if (!params) throw new Error(`test bug: "${topic}" does not match ${pattern.source}`);
    return params;
  });
}

/** Every document field the profile reads: device, event time, tags, metrics. */
function fieldsOf(profile: CompiledProfile): string[] {
  const { spec } = profile;
  const fields = new Set<string>();
  const add = (src: object) => 'field' in src && fields.add(String(src.field));
  add(spec.device);
  if (spec.time) fields.add(spec.time.field);
  Object.values(spec.tags).forEach(add);
  for (const [name, m] of Object.entries(spec.metrics)) fields.add(m.field ?? name);
  return [...fields];
}

/** Values a sensor (or a broken one) might put in a field. */
const fieldValue = fc.oneof(
  fc.double(), fc.integer(), fc.double({ min: -200, max: 200, noNaN: true }),
  fc.double().map(String), fc.integer({ min: 0, max: 2_000_000_000_000 }), fc.integer({ min: 0, max: 2_000_000_000_000 }).map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.boolean(), fc.constant(null), fc.string(), fc.constantFrom('', ' ', 'NaN', 'Infinity', '-1e999', '1e308', '0x1F', '2024-02-30T25:61:00Z'),
  fc.jsonValue({ maxDepth: 2 }),
);

/** A field's values: the generic ones, and — more often — ones valid for what the profile reads there. */
function valueArb(profile: CompiledProfile, field: string): fc.Arbitrary<unknown> {
  const { spec } = profile;
  if (spec.time?.field === field) {
    return fc.oneof(fieldValue, fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()), fc.integer({ min: 0, max: 4_000_000_000_000 }));
  }
  const metric = Object.entries(spec.metrics).find(([name, m]) => (m.field ?? name) === field)?.[1];
  if (metric?.min !== undefined && metric.max !== undefined) {
    const lo = (metric.min - metric.offset) / metric.scale;
    const hi = (metric.max - metric.offset) / metric.scale;
    return fc.oneof({ arbitrary: fc.double({ min: Math.min(lo, hi), max: Math.max(lo, hi), noNaN: true }), weight: 3 }, { arbitrary: fieldValue, weight: 1 });
  }
  return fieldValue;
}

function docArb(profile: CompiledProfile): fc.Arbitrary<unknown> {
  const fields = fieldsOf(profile);
  const values = Object.fromEntries(fields.map((f) => [f, valueArb(profile, f)]));
  // Half the documents have every field, half a random subset.
  const one = fc.oneof(fc.record(values), fc.record(values, { requiredKeys: [] })).map((vals) => {
    const doc: Record<string, unknown> = {};
    for (const [f, v] of Object.entries(vals)) setPath(doc, parsePath(f), v);
    return doc;
  });
  return fc.oneof(one, fc.array(one, { maxLength: 5 }));
}

/** The property every decode result must have, whatever the payload. */
function checkResult(profile: CompiledProfile, payload: Buffer, run: () => DecodeResult): DecodeResult {
  let result: DecodeResult;
  expect(() => (result = run())).not.toThrow();
  const { readings, rejects } = result!;
  for (const r of readings) {
    expect(r.profile).toBe(profile.name);
    expect(typeof r.device === 'string' && r.device.length > 0).toBe(true);
    expect(Number.isFinite(r.ts)).toBe(true);
    expect(Object.values(r.tags).every((t) => typeof t === 'string')).toBe(true);
    const names = Object.keys(r.metrics);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const spec = profile.spec.metrics[name];
      expect(spec, `undeclared metric ${name}`).toBeDefined();
      const v = r.metrics[name]!;
      expect(typeof v === 'number' && Number.isFinite(v), `${name}=${v}`).toBe(true);
      if (spec!.min !== undefined) expect(v).toBeGreaterThanOrEqual(spec!.min);
      if (spec!.max !== undefined) expect(v).toBeLessThanOrEqual(spec!.max);
    }
  }
  for (const rej of rejects) {
    expect(KNOWN_CODES.has(rej.code), rej.code).toBe(true);
    expect(typeof rej.reason === 'string' && rej.reason.trim().length > 0).toBe(true);
  }
  if (readings.length === 0 && rejects.length === 0) {
    // Only a payload holding no document may yield nothing at all (ingest acknowledges
    // it as such): for JSON an empty batch; for other decoders, e.g. NMEA sentences
    // without a position, the decoder itself returns none.
    if (profile.spec.decoder.type !== 'json') {
      const { type, ...options } = profile.spec.decoder;
      const factory = decoders.get(type)!;
      expect(factory.create(factory.options.parse(options)).decode(payload)).toEqual([]);
      return result!;
    }
    const doc: unknown = JSON.parse(payload.toString('utf8'));
    const items = profile.spec.decoder.items ? parsePath(String(profile.spec.decoder.items)).reduce<unknown>((n, k) => (n as Record<string, unknown>)?.[k], doc) : doc;
    expect(items).toEqual([]);
  }
  return result!;
}

describe('profile.decode() never throws and yields only valid readings or known rejects', () => {
  it('loads the bundled profiles', () => {
    expect(problems).toEqual([]);
    expect(profiles.length).toBeGreaterThanOrEqual(2);
  });

  describe.each(profiles.map((p) => [p.name, p] as const))('%s', (_name, profile) => {
    const decode = (payload: Buffer, params: Record<string, string>, received: number) =>
      () => profile.decode({ payload, params, received });
    const received = fc.integer({ min: 0, max: 4_000_000_000_000 });

    it('random bytes', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), paramsArb(profile), received, (bytes, params, now) => {
        const payload = Buffer.from(bytes);
        checkResult(profile, payload, decode(payload, params, now));
      }), { numRuns: RUNS });
    });

    it('random JSON values', () => {
      fc.assert(fc.property(fc.jsonValue(), paramsArb(profile), received, (value, params, now) => {
        const payload = Buffer.from(JSON.stringify(value) ?? 'null');
        checkResult(profile, payload, decode(payload, params, now));
      }), { numRuns: RUNS });
    });

    // Documents are JSON here: only profiles whose payloads are JSON documents.
    if (profile.spec.decoder.type === 'json') it("documents built from the profile's own fields with random values", () => {
      let readings = 0;
      let outOfRange = 0;
      fc.assert(fc.property(docArb(profile), paramsArb(profile), received, (doc, params, now) => {
        const payload = Buffer.from(JSON.stringify(doc));
        const result = checkResult(profile, payload, decode(payload, params, now));
        readings += result.readings.length;
        outOfRange += result.rejects.filter((r) => r.code === 'WEIR_OUT_OF_RANGE').length;
      }), { numRuns: RUNS });
      // The generator is not vacuous: valid readings do come out of it.
      expect(readings).toBeGreaterThan(RUNS / 50);
      if (profile.spec.outOfRange === 'deadletter') expect(outOfRange).toBeGreaterThan(0);
    });

    it('the golden samples mutated byte-wise', () => {
      const samples = profile.spec.samples.map((s) => (s.payload !== undefined ? Buffer.from(s.payload) : Buffer.from(s.payloadHex!, 'hex')));
      const mutated = fc.tuple(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
        .map(([base, edits]) => {
          const b = Buffer.from(base);
          for (const [at, byte] of edits) if (b.length) b[at % b.length] = byte;
          return b;
        });
      fc.assert(fc.property(mutated, paramsArb(profile), received, (payload, params, now) => {
        checkResult(profile, payload, decode(payload, params, now));
      }), { numRuns: RUNS });
    });
  });
});

// Not bundled: a profile using what the bundled ones do not (epoch seconds, scale,
// offset, nested fields, no declared range), so the same properties cover those paths.
const CUSTOM = `name: custom-scaled
match: [ { protocol: mqtt, topic: 'c/{dev}/#' } ]
device: { segment: dev }
time: { field: t, format: s }
tags: { loc: { field: meta.loc } }
metrics:
  v: { scale: 1000 }
  w: { field: nested.w, min: -5, max: 5, offset: 2, scale: 0.5 }
samples:
  - { topic: c/d1/x, payload: '{"t":1,"v":2,"nested":{"w":4}}', expect: [ { device: d1, ts: 1000, metrics: { v: 2000, w: 4 } } ] }
`;

describe('a custom profile with epoch seconds, scale and offset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-prop-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'custom.yaml'), CUSTOM);
  const loaded = loadProfiles([dir]);
  const profile = loaded.registry.get('custom-scaled')!;

  it('loads', () => expect(loaded.problems).toEqual([]));

  it('yields only finite event times and metrics, even for huge inputs', () => {
    const huge = fc.record({ t: fc.oneof(fieldValue, fc.constantFrom(1e306, -1e306)), v: fc.oneof(fieldValue, fc.constant(1e306)), nested: fc.record({ w: fieldValue }) });
    fc.assert(fc.property(fc.oneof(docArb(profile), huge), paramsArb(profile), (doc, params) => {
      const payload = Buffer.from(JSON.stringify(doc));
      checkResult(profile, payload, () => profile.decode({ payload, params, received: 0 }));
    }), { numRuns: RUNS });
  });
});
