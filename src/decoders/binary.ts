import { z } from 'zod';
import { WeirError } from '../core/errors.js';
import type { Decoder, DecoderFactory } from './decoder.js';
import { rescale, setField, type Doc } from './util.js';

/** Bytes per numeric type. */
const SIZES = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8, f32: 4, f64: 8 } as const;
type NumericType = keyof typeof SIZES;
const NUMERIC = Object.keys(SIZES) as NumericType[];

const endian = z.enum(['big', 'little']);

const field = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'must be a letter or _ then letters, digits, _ or -'),
  type: z.enum([...NUMERIC, 'string', 'hex']),
  /** Byte offset inside the frame; default: right after the previous field. */
  offset: z.int().min(0).max(65_535).optional(),
  /** Bytes, for `string` and `hex` fields. */
  length: z.int().min(1).max(1024).optional(),
  endian: endian.optional(),
  /** value = raw * scale + add (numeric fields). */
  scale: z.number().optional(),
  add: z.number().optional(),
  /** The raw value a valid frame carries here (a sync byte, a version): anything else is WEIR_WRONG_SHAPE. */
  expect: z.number().optional(),
});

type Field = z.infer<typeof field>;

interface Slot extends Field {
  at: number;
  size: number;
}

/** Where each field sits, and how many bytes a frame needs. */
function layout(fields: Field[]): { slots: Slot[]; end: number } {
  let next = 0;
  let end = 0;
  const slots = fields.map((f) => {
    const size = f.type === 'string' || f.type === 'hex' ? f.length ?? 0 : SIZES[f.type];
    const at = f.offset ?? next;
    next = at + size;
    end = Math.max(end, next);
    return { ...f, at, size };
  });
  return { slots, end };
}

const options = z.strictObject({
  /** Default byte order of multi-byte fields. */
  endian: endian.default('big'),
  fields: z.array(field).min(1).max(256),
  /** Frame size: a payload of N × frameBytes bytes is N frames, N documents. Default: one frame per payload. */
  frameBytes: z.int().min(1).max(65_536).optional(),
}).superRefine((o, ctx) => {
  const names = new Set<string>();
  o.fields.forEach((f, i) => {
    const size = f.type === 'string' || f.type === 'hex' ? undefined : SIZES[f.type];
    const text = size === undefined;
    if (text && f.length === undefined) ctx.addIssue({ code: 'custom', message: `a ${f.type} field needs a length (bytes)`, path: ['fields', i, 'length'] });
    if (!text && f.length !== undefined) ctx.addIssue({ code: 'custom', message: `length is for string and hex fields; ${f.type} is ${plural(size!, 'byte')}`, path: ['fields', i, 'length'] });
    for (const k of ['scale', 'add', 'expect', 'endian'] as const) {
      if (text && f[k] !== undefined) ctx.addIssue({ code: 'custom', message: `${k} is for numeric fields`, path: ['fields', i, k] });
    }
    if (names.has(f.name)) ctx.addIssue({ code: 'custom', message: `duplicate field name "${f.name}"`, path: ['fields', i, 'name'] });
    names.add(f.name);
  });
  const { end } = layout(o.fields);
  if (o.frameBytes !== undefined && end > o.frameBytes) {
    ctx.addIssue({ code: 'custom', message: `the fields end at byte ${end}, beyond frameBytes ${o.frameBytes}`, path: ['frameBytes'] });
  }
});

/**
 * Packed binary frames, as "proprietary binary" sensors send them (seed 004): a fixed
 * layout of fields, each an unsigned/signed integer of 8–64 bits, an IEEE 754 float
 * (f32, f64), a fixed-length text (`string`: UTF-8, cut at the first NUL, trailing
 * spaces trimmed) or fixed-length bytes as lower-case hex (`hex`: MAC addresses, ids).
 * A field sits at `offset` or right after the previous one, in the field's `endian` or
 * the decoder's (default big-endian, network order). Numeric fields may be rescaled at
 * decode (`raw * scale + add`, e.g. a centi-degree i16 with `scale: 0.01`) and may
 * `expect` a raw value (a sync byte, a version).
 *
 * One frame per payload, exactly as long as the fields need; with `frameBytes`, a payload
 * of N × frameBytes bytes is N frames (N documents, in order). 64-bit integers become
 * numbers when they fit in ±(2^53 − 1) exactly; a larger one fails the payload rather
 * than silently losing digits. Failures name the frame, field and byte offset.
 */
export const binaryDecoder: DecoderFactory<z.infer<typeof options>> = {
  type: 'binary',
  options,
  create(opts): Decoder {
    const { slots, end } = layout(opts.fields);
    const frame = opts.frameBytes ?? end;
    const read = (buf: Buffer, base: number, s: Slot, frameNo: number): unknown => {
      const at = base + s.at;
      if (s.type === 'string') return buf.toString('utf8', at, at + s.size).replace(/\0[\s\S]*$/, '').trimEnd();
      if (s.type === 'hex') return buf.toString('hex', at, at + s.size);
      const raw = readNumber(buf, at, s.type, (s.endian ?? opts.endian) === 'little');
      const where = () => `frame ${frameNo}, field "${s.name}" (${s.type} at byte ${at})`;
      if (typeof raw === 'bigint') {
        throw new WeirError('WEIR_DECODE_FAILED', `${where()}: ${raw} is beyond ±(2^53 - 1) and cannot be represented exactly`);
      }
      if (s.expect !== undefined && raw !== s.expect) {
        throw new WeirError('WEIR_WRONG_SHAPE', `${where()}: got ${hex(raw)}, expected ${hex(s.expect)}`);
      }
      if (s.scale === undefined && s.add === undefined) return raw;
      return rescale(raw, s.scale ?? 1, s.add ?? 0);
    };
    return {
      decode(payload: Buffer): unknown[] {
        const got = payload.length;
        if (got < frame) throw new WeirError('WEIR_DECODE_FAILED', `payload too short: expected ${frame} bytes, got ${got}`);
        if (opts.frameBytes === undefined && got > frame) {
          throw new WeirError('WEIR_DECODE_FAILED', `payload too long: expected ${frame} bytes, got ${got} (set frameBytes to decode several frames per payload)`);
        }
        if (got % frame !== 0) {
          throw new WeirError('WEIR_DECODE_FAILED', `payload of ${got} bytes is not a whole number of ${frame}-byte frames (${plural(Math.floor(got / frame), 'frame')} and ${plural(got % frame, 'byte')})`);
        }
        const docs: Doc[] = [];
        for (let base = 0, k = 0; base < got; base += frame, k++) {
          const doc: Doc = {};
          for (const s of slots) setField(doc, s.name, read(payload, base, s, k));
          docs.push(doc);
        }
        return docs;
      },
    };
  },
};

/** A number, or a bigint for a 64-bit integer outside the safe range. */
function readNumber(buf: Buffer, at: number, type: NumericType, le: boolean): number | bigint {
  switch (type) {
    case 'u8': return buf.readUInt8(at);
    case 'i8': return buf.readInt8(at);
    case 'u16': return le ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
    case 'i16': return le ? buf.readInt16LE(at) : buf.readInt16BE(at);
    case 'u32': return le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
    case 'i32': return le ? buf.readInt32LE(at) : buf.readInt32BE(at);
    case 'f32': return le ? buf.readFloatLE(at) : buf.readFloatBE(at);
    case 'f64': return le ? buf.readDoubleLE(at) : buf.readDoubleBE(at);
    case 'u64':
    case 'i64': {
      const v = type === 'u64' ? (le ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at)) : (le ? buf.readBigInt64LE(at) : buf.readBigInt64BE(at));
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
  }
}

function hex(n: number): string {
  return Number.isInteger(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
