import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile, fuzz, makeDecoder, optionProblems, reason, run } from './helpers.js';

// Dragino LHT65 uplink, the example from its user manual: battery word (2 status bits
// + mV), temperature i16 /100 °C, humidity u16 /10 %, external sensor type, external
// temperature i16 /100 °C, and 0x7FFF (no illuminance).
const LHT65 = Buffer.from('CBF60B0D0376010ADD7FFF', 'hex');
const lht65 = makeDecoder('binary', {
  fields: [
    { name: 'bat_word', type: 'u16' },
    { name: 'temp', type: 'i16', scale: 0.01 },
    { name: 'hum', type: 'u16', scale: 0.1 },
    { name: 'ext_type', type: 'u8' },
    { name: 'temp_ext', type: 'i16', scale: 0.01 },
  ],
  frameBytes: 11,
});

// A made-up but typical "proprietary binary" frame: sync byte, MAC as hex, a name,
// little-endian fields, epoch seconds, a 64-bit counter.
const FRAME_FIELDS = [
  { name: 'sync', type: 'u8', expect: 0xa5 },
  { name: 'mac', type: 'hex', length: 6 },
  { name: 'label', type: 'string', length: 8 },
  { name: 'ts', type: 'u32' },
  { name: 'temp', type: 'i16', endian: 'little', scale: 0.1, add: -40 },
  { name: 'pressure', type: 'f32', endian: 'little' },
  { name: 'count', type: 'u64' },
  { name: 'flags', type: 'u8', offset: 0 }, // the sync byte again, read twice on purpose
];
const frame = makeDecoder('binary', { fields: FRAME_FIELDS });

function buildFrame(opts: { ts: number; temp10: number; pressure: number; count: bigint; label: string }): Buffer {
  const b = Buffer.alloc(33);
  b[0] = 0xa5;
  Buffer.from('b827eb0a1b2c', 'hex').copy(b, 1);
  b.write(opts.label, 7, 8, 'utf8');
  b.writeUInt32BE(opts.ts, 15);
  b.writeInt16LE(opts.temp10, 19);
  b.writeFloatLE(opts.pressure, 21);
  b.writeBigUInt64BE(opts.count, 25);
  return b;
}
const FRAME = buildFrame({ ts: 1714557600, temp10: 614, pressure: 1013.25, count: 123456789n, label: 'hall-2' });

describe('binary decoder', () => {
  it('decodes the Dragino LHT65 manual example', () => {
    expect(lht65.decode(LHT65)).toEqual([{ bat_word: 0xcbf6, temp: 28.29, hum: 88.6, ext_type: 1, temp_ext: 27.81 }]);
  });

  it('decodes hex, strings (cut at NUL), per-field endianness, scale+add, u64, explicit offsets', () => {
    expect(frame.decode(FRAME)).toEqual([{
      sync: 0xa5, mac: 'b827eb0a1b2c', label: 'hall-2', ts: 1714557600, temp: 21.4, pressure: 1013.25, count: 123456789, flags: 0xa5,
    }]);
  });

  it('rescales exactly: raw × 0.1 − 40 as (raw − 400) / 10, not with binary floating-point noise', () => {
    const tenths = makeDecoder('binary', { fields: [{ name: 'temp', type: 'u16', scale: 0.1, add: -40 }, { name: 'rh', type: 'u16', scale: 0.01 }] });
    expect(tenths.decode(Buffer.from('03760073', 'hex'))).toEqual([{ temp: 48.6, rh: 1.15 }]);
  });

  it('decodes N frames of frameBytes as N documents, in order', () => {
    const two = Buffer.concat([LHT65, Buffer.from('C0000A00015E000000FFFF', 'hex')]);
    expect(lht65.decode(two)).toEqual([
      { bat_word: 0xcbf6, temp: 28.29, hum: 88.6, ext_type: 1, temp_ext: 27.81 },
      { bat_word: 0xc000, temp: 25.6, hum: 35, ext_type: 0, temp_ext: 0 },
    ]);
    const le = makeDecoder('binary', { endian: 'little', fields: [{ name: 'a', type: 'i32' }, { name: 'b', type: 'f64' }] });
    const b = Buffer.alloc(12);
    b.writeInt32LE(-5);
    b.writeDoubleLE(Math.PI, 4);
    expect(le.decode(b)).toEqual([{ a: -5, b: Math.PI }]);
  });

  it('rejects with expected vs got bytes, frame, field and offset', () => {
    expect(reason(frame, FRAME.subarray(0, 20), 'WEIR_DECODE_FAILED')).toBe('payload too short: expected 33 bytes, got 20');
    expect(reason(frame, Buffer.alloc(0), 'WEIR_DECODE_FAILED')).toBe('payload too short: expected 33 bytes, got 0');
    expect(reason(frame, Buffer.concat([FRAME, Buffer.from([0])]), 'WEIR_DECODE_FAILED'))
      .toBe('payload too long: expected 33 bytes, got 34 (set frameBytes to decode several frames per payload)');
    expect(reason(lht65, Buffer.concat([LHT65, LHT65.subarray(0, 5)]), 'WEIR_DECODE_FAILED'))
      .toBe('payload of 16 bytes is not a whole number of 11-byte frames (1 frame and 5 bytes)');
    const badSync = Buffer.from(FRAME);
    badSync[0] = 0x12;
    expect(reason(frame, badSync, 'WEIR_WRONG_SHAPE')).toBe('frame 0, field "sync" (u8 at byte 0): got 0x12, expected 0xa5');
    const huge = buildFrame({ ts: 0, temp10: 0, pressure: 0, count: 2n ** 60n, label: '' });
    expect(reason(frame, huge, 'WEIR_DECODE_FAILED')).toBe('frame 0, field "count" (u64 at byte 25): 1152921504606846976 is beyond ±(2^53 - 1) and cannot be represented exactly');
  });

  it('validates its options', () => {
    expect(optionProblems('binary', { fields: [{ name: 'id', type: 'hex' }] })).toEqual(['fields.0.length: a hex field needs a length (bytes)']);
    expect(optionProblems('binary', { fields: [{ name: 'a', type: 'u8', length: 2 }] })).toEqual(['fields.0.length: length is for string and hex fields; u8 is 1 byte']);
    expect(optionProblems('binary', { fields: [{ name: 'a', type: 'string', length: 2, scale: 2 }] })).toEqual(['fields.0.scale: scale is for numeric fields']);
    expect(optionProblems('binary', { fields: [{ name: 'a', type: 'u8' }, { name: 'a', type: 'u8' }] })).toEqual(['fields.1.name: duplicate field name "a"']);
    expect(optionProblems('binary', { fields: [{ name: 'a', type: 'u32' }], frameBytes: 3 })).toEqual(['frameBytes: the fields end at byte 4, beyond frameBytes 3']);
    expect(optionProblems('binary', { fields: [{ name: 'a', type: 'u128' }] })).toHaveLength(1);
  });

  it('property: random bytes and mutated goldens only ever yield documents or a decode/shape WeirError', () => {
    const goldens = [LHT65, FRAME];
    const framesOf = (size: number) => fc.integer({ min: 1, max: 40 })
      .chain((k) => fc.uint8Array({ minLength: size * k, maxLength: size * k })).map((a) => Buffer.from(a));
    expect(fuzz(lht65, goldens, framesOf(11)).ok).toBeGreaterThan(0);
    // Random 64-bit integers are mostly beyond 2^53 (rejected); the small ones decode.
    const wide = makeDecoder('binary', { fields: [{ name: 'x', type: 'i64', endian: 'little' }, { name: 'y', type: 'f64' }, { name: 's', type: 'string', length: 3 }], frameBytes: 19 });
    const smallX = framesOf(19).map((b) => {
      for (let at = 0; at < b.length; at += 19) b.fill(b[at]! & 1 ? 0xff : 0, at + 4, at + 8);
      return b;
    });
    const counts = fuzz(wide, goldens, smallX);
    expect(counts.ok).toBeGreaterThan(0);
    expect(counts.rejected).toBeGreaterThan(0);
    expect(fuzz(frame, goldens).rejected).toBeGreaterThan(0);
  });

  it('maps through a real profile (device id from the frame, event time in epoch seconds)', () => {
    const profile = compile({
      name: 'packed-frame',
      match: [{ protocol: 'coap', path: '/b' }],
      decoder: { type: 'binary', fields: FRAME_FIELDS },
      device: { field: 'mac' },
      time: { field: 'ts', format: 's' },
      tags: { label: { field: 'label' } },
      metrics: {
        temperature: { field: 'temp', unit: 'celsius', min: -40, max: 85, required: true },
        pressure: { unit: 'hPa', min: 300, max: 1100 },
        count: {},
      },
      samples: [{ payloadHex: FRAME.toString('hex'), expect: [{ device: 'b827eb0a1b2c', ts: 1714557600000, tags: { label: 'hall-2' }, metrics: { temperature: 21.4, pressure: 1013.25, count: 123456789 } }] }],
    });
    const cold = buildFrame({ ts: 1714557660, temp10: 0, pressure: 990.5, count: 7n, label: 'x' });
    expect(run(profile, cold)).toEqual({
      readings: [{ device: 'b827eb0a1b2c', ts: 1714557660000, tags: { label: 'x' }, metrics: { temperature: -40, pressure: 990.5, count: 7 } }],
      rejects: [],
    });
    expect(run(profile, cold.subarray(1)).rejects).toEqual([{ code: 'WEIR_DECODE_FAILED', reason: 'payload too short: expected 33 bytes, got 32' }]);
  });
});
