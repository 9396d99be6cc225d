import { Encoder, Tag } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkContract, compile, fuzz, makeDecoder, reason, RUNS, run } from './helpers.js';

const cbor = makeDecoder('cbor');
const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
const enc = (v: unknown) => Buffer.from(encoder.encode(v));

// A sensor reading as a CoAP device would send it, encoded by hand (RFC 8949 §3).
const READING = hex([
  'a6', //                     map(6)
  '62 6964 64 742d3137', //    "id": "t-17"
  '62 7473 c1 1a 663212a0', // "ts": 1(1714557600)   (tag 1: epoch-based date/time)
  '61 74 f9 4d60', //          "t": 21.5             (half-precision float)
  '62 7268 18 28', //          "rh": 40
  '63 626174 fa 4040a3d7', //  "bat": 3.01           (single-precision float)
  '62 6f6b f5', //             "ok": true
].join(''));

describe('cbor decoder', () => {
  it('decodes RFC 8949 Appendix A examples (maps; indefinite lengths; non-text keys)', () => {
    expect(cbor.decode(hex('a26161016162820203'))).toEqual([{ a: 1, b: [2, 3] }]);
    expect(cbor.decode(hex('bf61610161629f0203ffff'))).toEqual([{ a: 1, b: [2, 3] }]);
    expect(cbor.decode(hex('a201020304'))).toEqual([{ 1: 2, 3: 4 }]);
    expect(cbor.decode(hex('826161bf61626163ff'))).toEqual(['a', { b: 'c' }]); // a batch: the mapper rejects the "a"
    expect(cbor.decode(hex('a56161614161626142616361436164614461656145'))).toEqual([{ a: 'A', b: 'B', c: 'C', d: 'D', e: 'E' }]);
  });

  it('decodes a hand-encoded device reading: tag 1 time, half and single floats', () => {
    expect(cbor.decode(READING)).toEqual([{ id: 't-17', ts: '2024-05-01T10:00:00.000Z', t: 21.5, rh: 40, bat: Math.fround(3.01), ok: true }]);
  });

  it('makes values plain and JSON-safe', () => {
    const payload = hex(`
      a9
        63 626967 c2 49 010000000000000000
        63 6e6567 3b ffffffffffffffff
        63 736d6c 1b 0000000000000010
        63 626966 42 cafe
        63 646174 c0 74 323031332d30332d32315432303a30343a30305a
        63 756e64 f7
        63 736574 d9 0102 82 01 02
        63 757269 d8 20 76 687474703a2f2f7777772e6578616d706c652e636f6d
        63 663332 d8 55 48 0000803f00000040
    `);
    expect(cbor.decode(payload)).toEqual([{
      big: '18446744073709551616', neg: '-18446744073709551616', sml: 16, bif: 'cafe', dat: '2013-03-21T20:04:00.000Z',
      und: null, set: [1, 2], uri: 'http://www.example.com', f32: [1, 2],
    }]);
    // Keys of any type become text; "__proto__" is an own property like any other key.
    const keys = cbor.decode(hex('a6 01 61 61 f5 61 62 f6 61 63 42 0102 61 64 82 01 02 61 65 69 5f5f70726f746f5f5f 61 66'))[0] as Record<string, unknown>;
    expect(keys).toEqual({ 1: 'a', true: 'b', null: 'c', '0102': 'd', '[1,2]': 'e', ['__proto__']: 'f' });
    expect(Object.getPrototypeOf(keys)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(keys, '__proto__')?.value).toBe('f');
  });

  it('reads a tag 0 date-time as RFC 3339 says, whatever the gateway time zone (RFC 8949 §3.4.1)', () => {
    const saved = process.env.TZ;
    const tag0 = (text: string) => Buffer.concat([hex('a1 62 7473 c0'), enc(text)]);
    try {
      for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York']) {
        process.env.TZ = tz;
        expect(cbor.decode(tag0('2024-05-01T12:00:00+02:00')), tz).toEqual([{ ts: '2024-05-01T10:00:00.000Z' }]);
        expect(cbor.decode(tag0('2024-05-01t10:00:00.250z')), tz).toEqual([{ ts: '2024-05-01T10:00:00.250Z' }]);
        // No offset, not a date-time, a day that does not exist: never a time read in the gateway's zone.
        for (const bad of ['2024-05-01T10:00:00', '2024-05-01', 'May 1, 2024 10:00', '2024-02-30T10:00:00Z']) {
          expect(reason(cbor, tag0(bad), 'WEIR_DECODE_FAILED'), `${tz} ${bad}`)
            .toBe(`invalid CBOR: tag 0 at byte offset 4 must enclose an RFC 3339 date-time with an offset, got ${JSON.stringify(bad)}`);
        }
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
    expect(reason(cbor, hex('a1 62 7473 c0 01'), 'WEIR_DECODE_FAILED')).toBe('invalid CBOR: tag 0 at byte offset 4 must enclose a text string');
  });

  it('decodes a top-level array as a batch, and honours items', () => {
    expect(cbor.decode(enc([{ a: 1 }, { a: 2 }]))).toEqual([{ a: 1 }, { a: 2 }]);
    expect(makeDecoder('cbor', { items: 'data.samples' }).decode(enc({ data: { samples: [{ v: 1 }] } }))).toEqual([{ v: 1 }]);
    expect(reason(makeDecoder('cbor', { items: 'data' }), enc({ data: 1 }), 'WEIR_WRONG_SHAPE')).toBe('expected an array at "data"');
  });

  it('rejects with a reason that names the byte offset', () => {
    const cases: Array<[string, string]> = [
      ['', 'invalid CBOR: empty payload'],
      ['a2616101', 'invalid CBOR: map at byte offset 0 declares 2 entries, 3 bytes left'],
      ['a26161016162', 'invalid CBOR: unexpected end of data at byte offset 6'],
      ['1b0000', 'invalid CBOR: unexpected end of data at byte offset 3 (the head at 0 needs 9 bytes)'],
      ['9b0000000100000000', 'invalid CBOR: array at byte offset 0 declares 4294967296 items, 0 bytes left'],
      ['a1 61 61 ba ffffffff 00', 'invalid CBOR: map at byte offset 3 declares 4294967295 entries, 1 byte left'],
      ['5bffffffffffffffff', 'invalid CBOR: byte string at byte offset 0 declares 18446744073709552000 bytes, 0 bytes left'],
      ['5f42010243030405ff', 'invalid CBOR: indefinite-length byte string at byte offset 0 is not supported'],
      ['a1616101ff', 'invalid CBOR: 1 byte after the data item (from byte offset 4)'],
      ['a161610102', 'invalid CBOR: 1 byte after the data item (from byte offset 4)'],
      ['ff', 'invalid CBOR: unexpected break at byte offset 0'],
      ['bf6161ff', 'invalid CBOR: map ending at byte offset 3 has a key without a value'],
      ['1c', 'invalid CBOR: reserved additional information 28 at byte offset 0'],
      ['3f', 'invalid CBOR: indefinite length is not allowed for major type 1 (byte offset 0)'],
      ['a16161f0', 'invalid CBOR: unassigned simple value at byte offset 3'],
      ['a16161f818', 'invalid CBOR: unassigned simple value at byte offset 3'],
      ['d81c81d81d00', 'invalid CBOR: unsupported tag 28 at byte offset 0'],
      ['a16161d81b8263526567406161', 'invalid CBOR: unsupported tag 27 at byte offset 3'],
      ['d9dfff8300a0a0', 'invalid CBOR: unsupported tag 57343 at byte offset 0'],
      ['c2590100' + 'ff'.repeat(256), 'invalid CBOR: bignum at byte offset 0 is longer than 32 bytes'],
      ['c201', 'invalid CBOR: tag 2 at byte offset 0 must enclose a byte string'],
      ['d8524401020304', 'invalid CBOR: typed array (tag 82) at byte offset 0 is not a whole number of 8-byte elements'],
      ['81'.repeat(33) + '00', 'invalid CBOR: nesting deeper than 32 levels at byte offset 32'],
    ];
    for (const [h, why] of cases) expect(reason(cbor, hex(h), 'WEIR_DECODE_FAILED'), h).toBe(why);
    expect(reason(cbor, hex('6474657374'), 'WEIR_WRONG_SHAPE')).toBe('expected a CBOR map or an array of maps, got a string');
    expect(reason(cbor, hex('f6'), 'WEIR_WRONG_SHAPE')).toBe('expected a CBOR map or an array of maps, got null');
  });

  it('stays cheap and bounded on hostile payloads (64 KiB each)', () => {
    const K64 = 65_536;
    const hostile = [
      Buffer.alloc(K64, 0x81), // 64 Ki nested arrays: would overflow cbor-x's recursive reader
      Buffer.alloc(K64, 0x9f), // the same, indefinite
      Buffer.concat([hex('c25a00010000'), Buffer.alloc(K64, 0xff)]), // a 64 KiB bignum: cbor-x takes ~1 s
      Buffer.concat([hex('9a00010000'), Buffer.alloc(K64, 0xf6)]), // an array of 64 Ki nulls: valid, decoded
      Buffer.concat([hex('9a0000ffff'), Buffer.alloc(K64 - 1, 0x80)]), // 64 Ki empty arrays
      Buffer.concat([hex('bf'), Buffer.alloc(K64, 0x00), hex('ff')]), // an indefinite map of 32 Ki entries {0: 0}
      Buffer.from(Array.from({ length: K64 }, (_, i) => (i * 7919 + 13) & 0xff)),
    ];
    for (const payload of hostile) checkContract(cbor, payload);
    expect(cbor.decode(hostile[3]!)).toHaveLength(K64);
  });

  it('does not touch the payload buffer (cbor-x caches a DataView on its input)', () => {
    const payload = Buffer.from(READING);
    cbor.decode(payload);
    expect(Object.getOwnPropertyNames(payload).filter((k) => !/^\d+$/.test(k))).toEqual([]);
  });

  it('property: random bytes and mutated goldens only ever yield documents or a decode/shape WeirError', () => {
    const goldens = [READING, hex('bf61610161629f0203ffff'), enc([{ a: 1, b: 'x', c: [1.5, null] }, { d: { e: true } }])];
    const items = fc.array(fc.oneof(fc.constantFrom(0x9f, 0xbf, 0xff, 0xc1, 0xd8, 0x5f, 0x7f, 0xf9, 0xfa, 0xfb, 0x1b), fc.integer({ min: 0, max: 255 })), { maxLength: 64 })
      .map((a) => Buffer.from(a));
    const counts = fuzz(cbor, goldens, items);
    expect(counts.ok).toBeGreaterThan(0);
    expect(counts.rejected).toBeGreaterThan(0);
  });

  it('property: any JSON value round-trips through cbor-x encoding', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      const payload = enc({ value });
      expect(checkContract(cbor, payload)).toBe('ok');
      expect(cbor.decode(payload)).toEqual([{ value: JSON.parse(JSON.stringify(value)) as unknown }]); // cbor-x encodes -0 as 0
    }), { numRuns: RUNS / 2 });
  });

  it('maps through a real profile', () => {
    const profile = compile({
      name: 'cbor-sensor',
      match: [{ protocol: 'coap', path: '/r/{device}' }],
      decoder: { type: 'cbor' },
      device: { field: 'id' },
      time: { field: 'ts', format: 'iso8601' },
      metrics: {
        temperature: { field: 't', unit: 'celsius', required: true },
        humidity: { field: 'rh', unit: 'percent', min: 0, max: 100 },
        battery: { field: 'bat', unit: 'volt' },
        ok: {},
      },
      samples: [{ topic: '/r/x', payloadHex: READING.toString('hex'), expect: [{ device: 't-17', ts: 1714557600000, metrics: { temperature: 21.5, humidity: 40, battery: Math.fround(3.01), ok: 1 } }] }],
    });
    const batch = enc([
      { id: 't-18', ts: new Tag(1714557660, 1), t: -3.25, rh: 41 },
      { id: 't-19', ts: new Tag('2024-05-01T10:01:00Z', 0), t: 19, rh: 250 },
    ]);
    expect(run(profile, batch)).toEqual({
      readings: [{ device: 't-18', ts: 1714557660000, tags: {}, metrics: { temperature: -3.25, humidity: 41 } }],
      rejects: [{ code: 'WEIR_OUT_OF_RANGE', reason: 'metric humidity=250 outside [0, 100]' }],
    });
  });
});
