import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile, fuzz, makeDecoder, reason, run } from './helpers.js';

const senml = makeDecoder('senml');
const senmlCbor = makeDecoder('senml', { format: 'cbor' });
const decode = (pack: unknown) => senml.decode(Buffer.from(JSON.stringify(pack)));

const DEV = 'urn:dev:ow:10e2073a01080063';

// RFC 8428 §5.1.1–§5.1.6, as printed there.
const SINGLE = [{ n: DEV, u: 'Cel', v: 23.1 }];
const MULTIPLE_DATAPOINTS = [{ bn: `${DEV}:`, n: 'voltage', u: 'V', v: 120.1 }, { n: 'current', u: 'A', v: 1.2 }];
const MULTIPLE_DATAPOINTS_TIMED = [
  { bn: 'urn:dev:ow:10e2073a0108006:', bt: 1.276020076001e+09, bu: 'A', bver: 5, n: 'voltage', u: 'V', v: 120.1 },
  { n: 'current', t: -5, v: 1.2 }, { n: 'current', t: -4, v: 1.3 }, { n: 'current', t: -3, v: 1.4 },
  { n: 'current', t: -2, v: 1.5 }, { n: 'current', t: -1, v: 1.6 }, { n: 'current', v: 1.7 },
];
const MULTIPLE_MEASUREMENTS = [
  { bn: DEV, bt: 1.320067464e+09, bu: '%RH', v: 20 },
  { u: 'lon', v: 24.30621 }, { u: 'lat', v: 60.07965 },
  { t: 60, v: 20.3 }, { u: 'lon', t: 60, v: 24.30622 }, { u: 'lat', t: 60, v: 60.07965 },
  { t: 120, v: 20.7 }, { u: 'lon', t: 120, v: 24.30623 }, { u: 'lat', t: 120, v: 60.07966 },
  { u: '%EL', t: 150, v: 98 },
  { t: 180, v: 21.2 }, { u: 'lon', t: 180, v: 24.30628 }, { u: 'lat', t: 180, v: 60.07967 },
];
/** §5.1.5: the same data as §5.1.4, resolved (§4.6). */
const RESOLVED = [
  [1.320067464e+09, '%RH', 20], [1.320067464e+09, 'lon', 24.30621], [1.320067464e+09, 'lat', 60.07965],
  [1.320067524e+09, '%RH', 20.3], [1.320067524e+09, 'lon', 24.30622], [1.320067524e+09, 'lat', 60.07965],
  [1.320067584e+09, '%RH', 20.7], [1.320067584e+09, 'lon', 24.30623], [1.320067584e+09, 'lat', 60.07966],
  [1.320067614e+09, '%EL', 98],
  [1.320067644e+09, '%RH', 21.2], [1.320067644e+09, 'lon', 24.30628], [1.320067644e+09, 'lat', 60.07967],
].map(([t, u, v]) => ({ n: DEV, u, t, v }));
const MULTIPLE_TYPES = [
  { bn: `${DEV}:`, n: 'temp', u: 'Cel', v: 23.1 },
  { n: 'label', vs: 'Machine Room' }, { n: 'open', vb: false }, { n: 'nfc-reader', vd: 'aGkgCg' },
];

const MEASUREMENT_DOCS = [
  { device: DEV, time: 1320067464, '%RH': 20, lon: 24.30621, lat: 60.07965 },
  { device: DEV, time: 1320067524, '%RH': 20.3, lon: 24.30622, lat: 60.07965 },
  { device: DEV, time: 1320067584, '%RH': 20.7, lon: 24.30623, lat: 60.07966 },
  { device: DEV, time: 1320067614, '%EL': 98 },
  { device: DEV, time: 1320067644, '%RH': 21.2, lon: 24.30628, lat: 60.07967 },
];

// §5.1.3's first two records in SenML CBOR (§6: -2 bn, -3 bt, -4 bu, -1 bver, 0 n, 1 u, 2 v, 6 t), by hand.
const CBOR_PACK = Buffer.from([
  '82', //                                                       array(2)
  'a7', //                                                       map(7)
  '21 781b 75726e3a6465763a6f773a3130653230373361303130383030363a', // -2: "urn:dev:ow:10e2073a0108006:"
  '22 fb 41d303a15b001062', //                                   -3: 1276020076.001
  '23 61 41', //                                                 -4: "A"
  '20 05', //                                                    -1: 5
  '00 67 766f6c74616765', //                                      0: "voltage"
  '01 61 56', //                                                  1: "V"
  '02 fb 405e066666666666', //                                    2: 120.1
  'a3', //                                                       map(3)
  '00 67 63757272656e74', //                                      0: "current"
  '06 24', //                                                     6: -5
  '02 fb 3ff3333333333333', //                                    2: 1.2
].join('').replace(/\s+/g, ''), 'hex');

const cborLabels: Record<string, number> = { bver: -1, bn: -2, bt: -3, bu: -4, bv: -5, bs: -6, n: 0, u: 1, v: 2, vs: 3, vb: 4, s: 5, t: 6, ut: 7, vd: 8 };
const encoder = new Encoder({ useRecords: false });
/** A JSON pack as SenML CBOR: integer labels, vd as a byte string. */
function toCbor(pack: Array<Record<string, unknown>>): Buffer {
  return Buffer.from(encoder.encode(pack.map((r) => new Map(Object.entries(r).map(([k, v]) => [cborLabels[k] ?? k, k === 'vd' ? Buffer.from(String(v), 'base64url') : v])))));
}

describe('senml decoder', () => {
  it('RFC 8428 §5.1.1: a single datapoint without a base name is its own device, keyed by unit, time relative ("now")', () => {
    expect(decode(SINGLE)).toEqual([{ device: DEV, relative_time: 0, Cel: 23.1 }]);
  });

  it('§5.1.2: base name + names, one document for the one (relative) time', () => {
    expect(decode(MULTIPLE_DATAPOINTS)).toEqual([{ device: DEV, relative_time: 0, voltage: 120.1, voltage_unit: 'V', current: 1.2, current_unit: 'A' }]);
  });

  it('§5.1.3: base time + relative offsets: one document per resolved time, base unit applied', () => {
    const bt = 1.276020076001e+09;
    const dev = 'urn:dev:ow:10e2073a0108006';
    expect(decode(MULTIPLE_DATAPOINTS_TIMED)).toEqual([
      { device: dev, time: bt, voltage: 120.1, voltage_unit: 'V', current: 1.7, current_unit: 'A' },
      ...[-5, -4, -3, -2, -1].map((t, i) => ({ device: dev, time: bt + t, current: [1.2, 1.3, 1.4, 1.5, 1.6][i], current_unit: 'A' })),
    ]);
  });

  it('§5.1.4 and §5.1.5: measurements told apart by unit; the resolved form gives the same documents', () => {
    expect(decode(MULTIPLE_MEASUREMENTS)).toEqual(MEASUREMENT_DOCS);
    expect(decode(RESOLVED)).toEqual(MEASUREMENT_DOCS);
  });

  it('§5.1.6: string, boolean and data values', () => {
    expect(decode(MULTIPLE_TYPES)).toEqual([{
      device: DEV, relative_time: 0, temp: 23.1, temp_unit: 'Cel', label: 'Machine Room', open: false, 'nfc-reader': 'aGkgCg',
    }]);
  });

  it('the pack from the brief: an unnamed base record keyed by its unit, merged with the named one', () => {
    expect(decode([{ bn: `${DEV}:`, bt: 1.320067464e+09, u: '%RH', v: 20 }, { n: 'temp', u: 'Cel', v: 23.1 }]))
      .toEqual([{ device: DEV, time: 1320067464, '%RH': 20, temp: 23.1, temp_unit: 'Cel' }]);
  });

  it('base value and base sum (§4.1), base-only records, several devices in one pack', () => {
    expect(decode([
      { bn: 'dev1/' }, { bv: 100, bs: 1000, bt: 1.7e9, n: 'energy', v: 5, s: 7, u: 'J' }, { n: 'count', s: 2 },
      { bn: 'dev2:', n: 'energy', v: 1 },
    ])).toEqual([
      { device: 'dev1', time: 1.7e9, energy: 105, energy_sum: 1007, energy_unit: 'J', count_sum: 1002 },
      { device: 'dev2', time: 1.7e9, energy: 101 },
    ]);
  });

  it('decodes SenML CBOR (§6): the hand-encoded §5.1.3 records, and every JSON example re-encoded', () => {
    expect(senmlCbor.decode(CBOR_PACK)).toEqual([
      { device: 'urn:dev:ow:10e2073a0108006', time: 1.276020076001e+09, voltage: 120.1, voltage_unit: 'V' },
      { device: 'urn:dev:ow:10e2073a0108006', time: 1.276020076001e+09 - 5, current: 1.2, current_unit: 'A' },
    ]);
    for (const pack of [SINGLE, MULTIPLE_DATAPOINTS, MULTIPLE_DATAPOINTS_TIMED, MULTIPLE_MEASUREMENTS, RESOLVED, MULTIPLE_TYPES]) {
      expect(senmlCbor.decode(toCbor(pack))).toEqual(decode(pack));
    }
  });

  it('rejects with the record named', () => {
    expect(reason(senml, '{"n":"x","v":1}', 'WEIR_WRONG_SHAPE')).toBe('a SenML pack is an array of records, got an object');
    expect(reason(senml, '[{"n":"x","v":1}', 'WEIR_DECODE_FAILED')).toMatch(/^invalid JSON: /);
    expect(reason(senml, '[]', 'WEIR_WRONG_SHAPE')).toBe('SenML pack has no measurements (0 records)');
    expect(reason(senml, '[{"bn":"a:"}]', 'WEIR_WRONG_SHAPE')).toBe('SenML pack has no measurements (1 records)');
    const cases: Array<[unknown[], string]> = [
      [[{ n: 'a', v: 1 }, 5], 'record 1: expected an object, got a number'],
      [[{ n: 'a', v: '1' }], 'record 0: "v" must be a finite number, got a string'],
      [[{ n: 'a', vb: 1 }], 'record 0: "vb" must be a boolean, got a number'],
      [[{ n: 'a', v: 1, vs: 'x' }], 'record 0: more than one value field (v, vs)'],
      [[{ n: 'a', u: 'Cel' }], 'record 0: no value (v, vs, vb or vd) and no sum (s)'],
      [[{ v: 1 }], 'record 0: no name (neither bn nor n)'],
      [[{ n: '-a', v: 1 }], 'record 0: name "-a" is not a valid SenML name (RFC 8428 §4.5.1)'],
      [[{ n: 'a b', v: 1 }], 'record 0: name "a b" is not a valid SenML name (RFC 8428 §4.5.1)'],
      [[{ bver: 11, n: 'a', v: 1 }], 'record 0: SenML version 11 is newer than the supported 10'],
      [[{ n: 'a', v: 1, foo_: 1 }], 'record 0: unsupported must-understand field "foo_"'],
      [[{ bn: 'd/', n: 'x', v: 1 }, { n: 'x', v: 2 }], 'record 1: a second "x" for device "d" at relative time 0'],
      [[{ bn: 'd/', n: 'time', v: 1 }], 'record 0: measurement "time" clashes with the document\'s own "time" field'],
    ];
    for (const [pack, why] of cases) expect(reason(senml, JSON.stringify(pack), 'WEIR_WRONG_SHAPE'), JSON.stringify(pack)).toBe(why);
    // Unknown labels are ignored (§4.4), "constructor" and "toString" included; "__proto__" ends in "_".
    expect(decode([{ n: 'a', v: 1, constructor: 1, toString: 2, xyz: 3 }])).toEqual([{ device: 'a', relative_time: 0, value: 1 }]);
    expect(reason(senml, '[{"n":"a","v":1,"__proto__":2}]', 'WEIR_WRONG_SHAPE')).toBe('record 0: unsupported must-understand field "__proto__"');
    expect(reason(senmlCbor, Buffer.from('a10001', 'hex'), 'WEIR_WRONG_SHAPE')).toBe('a SenML pack is an array of records, got an object');
    expect(reason(senmlCbor, Buffer.from('81a1006161', 'hex'), 'WEIR_WRONG_SHAPE')).toBe('record 0: no value (v, vs, vb or vd) and no sum (s)');
    expect(reason(senmlCbor, Buffer.from('81a1', 'hex'), 'WEIR_DECODE_FAILED')).toBe('invalid CBOR: map at byte offset 1 declares 1 entries, 0 bytes left');
  });

  it('property: random bytes and mutated goldens only ever yield documents or a decode/shape WeirError', () => {
    const jsonGoldens = [SINGLE, MULTIPLE_DATAPOINTS_TIMED, MULTIPLE_MEASUREMENTS, MULTIPLE_TYPES].map((p) => Buffer.from(JSON.stringify(p)));
    const cborGoldens = [CBOR_PACK, toCbor(MULTIPLE_MEASUREMENTS), toCbor(MULTIPLE_TYPES)];
    const label = fc.constantFrom('bn', 'bt', 'bu', 'bv', 'bs', 'bver', 'n', 'u', 'v', 'vs', 'vb', 'vd', 's', 't', 'ut', 'x_');
    const value = fc.oneof(fc.string({ maxLength: 12 }), fc.double(), fc.integer({ min: -10, max: 2e9 }), fc.boolean(), fc.constant(null));
    const packs = fc.array(fc.dictionary(label, value, { maxKeys: 5 }), { maxLength: 8 });
    const j = fuzz(senml, jsonGoldens, packs.map((p) => Buffer.from(JSON.stringify(p))));
    const c = fuzz(senmlCbor, cborGoldens, packs.map((p) => toCbor(p)));
    expect(j.ok).toBeGreaterThan(0);
    expect(c.ok).toBeGreaterThan(0);
  });

  it('maps through a real profile: device, time in seconds, a metric per measurement', () => {
    const profile = compile({
      name: 'senml-owdev',
      match: [{ protocol: 'coap', path: '/senml' }],
      decoder: { type: 'senml', format: 'json' },
      device: { field: 'device' },
      time: { field: 'time', format: 's' },
      metrics: {
        humidity: { field: '%RH', unit: 'percent', min: 0, max: 100 },
        temperature: { field: 'temp', unit: 'celsius' },
        latitude: { field: 'lat', min: -90, max: 90 },
        longitude: { field: 'lon', min: -180, max: 180 },
      },
      samples: [{
        payload: JSON.stringify([{ bn: `${DEV}:`, bt: 1.320067464e+09, u: '%RH', v: 20 }, { n: 'temp', u: 'Cel', v: 23.1 }]),
        expect: [{ device: DEV, ts: 1320067464000, metrics: { humidity: 20, temperature: 23.1 } }],
      }],
    });
    expect(run(profile, JSON.stringify(MULTIPLE_MEASUREMENTS))).toEqual({
      readings: [
        { device: DEV, ts: 1320067464000, tags: {}, metrics: { humidity: 20, latitude: 60.07965, longitude: 24.30621 } },
        { device: DEV, ts: 1320067524000, tags: {}, metrics: { humidity: 20.3, latitude: 60.07965, longitude: 24.30622 } },
        { device: DEV, ts: 1320067584000, tags: {}, metrics: { humidity: 20.7, latitude: 60.07966, longitude: 24.30623 } },
        { device: DEV, ts: 1320067644000, tags: {}, metrics: { humidity: 21.2, latitude: 60.07967, longitude: 24.30628 } },
      ],
      // The battery-only document (%EL) has none of the profile's metrics.
      rejects: [{ code: 'WEIR_WRONG_SHAPE', reason: 'no metric present (expected "%RH", "temp", "lat", "lon")' }],
    });
    // A relative time cannot satisfy `time: {field: time}`: the profile says so, per document.
    expect(run(profile, JSON.stringify(MULTIPLE_DATAPOINTS)).rejects).toEqual([{ code: 'WEIR_WRONG_SHAPE', reason: 'missing event time field "time"' }]);

    const cborProfile = compile({
      name: 'senml-cbor',
      match: [{ protocol: 'coap', path: '/senml-cbor' }],
      decoder: { type: 'senml', format: 'cbor' },
      device: { field: 'device' },
      time: { field: 'time', format: 's' },
      metrics: { voltage: { unit: 'volt' }, current: { unit: 'ampere' } },
      samples: [{ payloadHex: CBOR_PACK.toString('hex'), expect: [
        { device: 'urn:dev:ow:10e2073a0108006', ts: 1276020076001, metrics: { voltage: 120.1 } },
        { device: 'urn:dev:ow:10e2073a0108006', ts: 1276020071001, metrics: { current: 1.2 } },
      ] }],
    });
    expect(run(cborProfile, toCbor(MULTIPLE_DATAPOINTS_TIMED)).readings.map((r) => [r.ts, r.metrics])).toEqual([
      [1276020076001, { voltage: 120.1, current: 1.7 }],
      [1276020071001, { current: 1.2 }], [1276020072001, { current: 1.3 }], [1276020073001, { current: 1.4 }],
      [1276020074001, { current: 1.5 }], [1276020075001, { current: 1.6 }],
    ]);
  });
});
