import { Decoder as CborX, Tag } from 'cbor-x';
import { z } from 'zod';
import { WeirError } from '../core/errors.js';
import { getPath, parsePath } from '../profiles/field-path.js';
import type { Decoder, DecoderFactory } from './decoder.js';
import { dayExists, describeValue, excerpt, setField, type Doc } from './util.js';

const options = z.strictObject({
  /** Dot path to an array of readings inside the document, e.g. `data.samples`. */
  items: z.string().min(1).optional(),
});

/**
 * CBOR (RFC 8949), for devices that send JSON's data model in fewer bytes (CoAP
 * sensors, LoRaWAN uplinks). Like the JSON decoder: a top-level array is a batch, a
 * top-level map one document, and `items` picks an array inside the document.
 *
 * The bytes are decoded by cbor-x, but only after a well-formedness pass of our own
 * (RFC 8949 §5.3.1 and Appendix C) that makes any input cheap and safe to reject: a
 * length beyond the bytes left, nesting deeper than 32, indefinite-length strings,
 * reserved or unassigned simple values, trailing bytes, and any tag outside a short
 * list. That list: 0/1 date-times (tag 0 around an RFC 3339 date-time with an offset
 * only), 2/3 bignums of at most 32 bytes, 4/5 decimal fractions and bigfloats, 21–24
 * encoding hints and embedded CBOR, 32–34 and 36 text forms, 258 sets, 259 maps, 55799
 * self-described CBOR, and the RFC 8746 typed arrays.
 * It leaves out cbor-x's own extensions — record structures, value sharing (28/29, which
 * can build cycles and exponential DAGs), packed values, tag 27 (which calls RegExp and
 * Error constructors) — and big bignums (cbor-x's conversion is quadratic: a 64 KiB one
 * takes a second).
 *
 * Values are then made plain and JSON-safe: maps become objects whose keys are strings
 * (text keys as they are; integer, boolean and null keys as text, `1` → `"1"`; byte-string
 * keys as hex; array and map keys as their JSON; a later duplicate key wins), byte strings
 * become lower-case hex text, dates ISO-8601 text, bignums and 64-bit integers numbers
 * when exact (else decimal text), sets and typed arrays arrays, `undefined` null, other
 * tags their content. Failures are WEIR_DECODE_FAILED with the byte offset.
 */
export const cborDecoder: DecoderFactory<z.infer<typeof options>> = {
  type: 'cbor',
  options,
  create(opts): Decoder {
    const itemsPath = opts.items ? parsePath(opts.items) : undefined;
    return {
      decode(payload: Buffer): unknown[] {
        const doc = decodeCbor(payload, 'hex');
        if (itemsPath) {
          const items = getPath(doc, itemsPath);
          if (!Array.isArray(items)) throw new WeirError('WEIR_WRONG_SHAPE', `expected an array at "${opts.items}"`);
          return items;
        }
        if (Array.isArray(doc)) return doc;
        if (doc !== null && typeof doc === 'object') return [doc];
        throw new WeirError('WEIR_WRONG_SHAPE', `expected a CBOR map or an array of maps, got ${describeValue(doc)}`);
      },
    };
  },
};

/** One CBOR data item as a plain, JSON-safe value (see cborDecoder); byte strings as `bytes` text. */
export function decodeCbor(payload: Buffer, bytes: 'hex' | 'base64url'): unknown {
  if (payload.length === 0) throw new WeirError('WEIR_DECODE_FAILED', 'invalid CBOR: empty payload');
  checkWellFormed(payload);
  let value: unknown;
  try {
    // A fresh view: cbor-x caches a DataView on the buffer object it is given.
    value = cborx.decode(new Uint8Array(payload.buffer, payload.byteOffset, payload.length));
  } catch (err) {
    throw new WeirError('WEIR_DECODE_FAILED', `invalid CBOR: ${(err as Error)?.message ?? String(err)}`);
  }
  return plain(value, bytes);
}

/** Maps as Map (so keys of any type survive), no records, no shared structures. */
const cborx = new CborX({ mapsAsObjects: false, useRecords: false });

const MAX_DEPTH = 32;
const MAX_BIGNUM_BYTES = 32;
const TYPED_ARRAY_TAGS = new Set([64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 77, 78, 79, 81, 82, 85, 86]);
const ALLOWED_TAGS = new Set([0, 1, 2, 3, 4, 5, 21, 22, 23, 24, 32, 33, 34, 36, 258, 259, 55799, ...TYPED_ARRAY_TAGS]);

interface Head {
  major: number;
  info: number;
  /** The argument: value, length or count (may be inexact beyond 2^53: then it exceeds any payload anyway). */
  arg: number;
  next: number;
}

function fail(message: string): never {
  throw new WeirError('WEIR_DECODE_FAILED', `invalid CBOR: ${message}`);
}

function readHead(buf: Uint8Array, at: number): Head {
  if (at >= buf.length) fail(`unexpected end of data at byte offset ${at}`);
  const ib = buf[at]!;
  const major = ib >> 5;
  const info = ib & 0x1f;
  if (info < 24 || info === 31) return { major, info, arg: info, next: at + 1 };
  if (info > 27) fail(`reserved additional information ${info} at byte offset ${at}`);
  const n = 1 << (info - 24);
  if (at + 1 + n > buf.length) fail(`unexpected end of data at byte offset ${buf.length} (the head at ${at} needs ${n + 1} bytes)`);
  let arg = 0;
  for (let k = 1; k <= n; k++) arg = arg * 256 + buf[at + k]!;
  return { major, info, arg, next: at + 1 + n };
}

interface Open {
  /** Items still expected; -1: indefinite length (ends at a break). */
  left: number;
  /** Items seen in an indefinite-length container. */
  seen: number;
  map: boolean;
}

/** Throws WEIR_DECODE_FAILED unless `buf` is exactly one well-formed data item we accept. Linear time. */
function checkWellFormed(buf: Uint8Array): void {
  const stack: Open[] = [];
  const done = () => {
    for (let top = stack.at(-1); top; top = stack.at(-1)) {
      if (top.left < 0) return void top.seen++;
      if (--top.left > 0) return;
      stack.pop();
    }
  };
  let at = 0;
  do {
    const start = at;
    const h = readHead(buf, at);
    at = h.next;
    const left = buf.length - at;
    if (h.info === 31) {
      if (h.major === 7) {
        const top = stack.at(-1);
        if (!top || top.left >= 0) fail(`unexpected break at byte offset ${start}`);
        if (top.map && top.seen % 2 === 1) fail(`map ending at byte offset ${start} has a key without a value`);
        stack.pop();
        done();
        continue;
      }
      if (h.major === 2 || h.major === 3) fail(`indefinite-length ${h.major === 2 ? 'byte' : 'text'} string at byte offset ${start} is not supported`);
      if (h.major !== 4 && h.major !== 5) fail(`indefinite length is not allowed for major type ${h.major} (byte offset ${start})`);
      if (stack.length >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels at byte offset ${start}`);
      stack.push({ left: -1, seen: 0, map: h.major === 5 });
      continue;
    }
    switch (h.major) {
      case 0:
      case 1:
        done();
        break;
      case 2:
      case 3:
        if (h.arg > left) fail(`${h.major === 2 ? 'byte' : 'text'} string at byte offset ${start} declares ${h.arg} bytes, ${plural(left, 'byte')} left`);
        at += h.arg;
        done();
        break;
      case 4:
      case 5: {
        const items = h.major === 5 ? h.arg * 2 : h.arg;
        if (items > left) fail(`${h.major === 5 ? 'map' : 'array'} at byte offset ${start} declares ${h.arg} ${h.major === 5 ? 'entries' : 'items'}, ${plural(left, 'byte')} left`);
        if (items === 0) {
          done();
          break;
        }
        if (stack.length >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels at byte offset ${start}`);
        stack.push({ left: items, seen: 0, map: h.major === 5 });
        break;
      }
      case 6: {
        if (!ALLOWED_TAGS.has(h.arg)) fail(`unsupported tag ${h.arg} at byte offset ${start}`);
        if (h.arg === 0) checkDateTime(buf, start, at);
        if (h.arg === 2 || h.arg === 3 || TYPED_ARRAY_TAGS.has(h.arg)) {
          const content = readHead(buf, at);
          if (content.major !== 2 || content.info === 31) fail(`tag ${h.arg} at byte offset ${start} must enclose a byte string`);
          if (h.arg <= 3 && content.arg > MAX_BIGNUM_BYTES) fail(`bignum at byte offset ${start} is longer than ${MAX_BIGNUM_BYTES} bytes`);
          // RFC 8746 §2.1: the tag's low bits give the element size (f: float flag, ll: log2 of the size).
          const size = h.arg & 16 ? 2 << (h.arg & 3) : 1 << (h.arg & 3);
          if (h.arg > 3 && content.arg % size !== 0) fail(`typed array (tag ${h.arg}) at byte offset ${start} is not a whole number of ${size}-byte elements`);
        }
        if (stack.length >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels at byte offset ${start}`);
        stack.push({ left: 1, seen: 0, map: false });
        break;
      }
      default: // 7: simple values and floats
        if (h.info < 20 || h.info === 24) fail(`unassigned simple value at byte offset ${start}`);
        done();
    }
  } while (stack.length > 0);
  if (at !== buf.length) fail(`${plural(buf.length - at, 'byte')} after the data item (from byte offset ${at})`);
}

/** RFC 3339 §5.6 date-time: full-date "T" full-time, where the time zone offset is not optional. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/**
 * RFC 8949 §3.4.1: tag 0 encloses an RFC 3339 date-time text. cbor-x hands any text to
 * `new Date()`, which reads one without an offset in the gateway's own time zone (and
 * guesses at free text, and rolls 30 February into March): the same bytes would be
 * different instants on two gateways. So invalid content is refused (§5.3.2).
 */
function checkDateTime(buf: Uint8Array, start: number, at: number): void {
  const content = readHead(buf, at);
  if (content.major !== 3 || content.info === 31) fail(`tag 0 at byte offset ${start} must enclose a text string`);
  if (content.arg > buf.length - content.next) return; // the main pass reports the short string
  const text = Buffer.from(buf.buffer, buf.byteOffset + content.next, content.arg).toString('utf8');
  const m = DATE_TIME.exec(text);
  if (!m || !dayExists(Number(m[1]), Number(m[2]), Number(m[3]))) {
    fail(`tag 0 at byte offset ${start} must enclose an RFC 3339 date-time with an offset, got ${excerpt(text)}`);
  }
}

/** A plain, JSON-safe copy of what cbor-x returned. Depth is bounded by checkWellFormed. */
function plain(v: unknown, bytes: 'hex' | 'base64url'): unknown {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return v;
    case 'bigint':
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    case 'undefined':
      return null;
    case 'object':
      break;
    default:
      return null;
  }
  if (v === null) return null;
  if (Array.isArray(v)) return v.map((x) => plain(x, bytes));
  if (v instanceof Map) {
    const doc: Doc = {};
    for (const [k, x] of v) setField(doc, keyText(k, bytes), plain(x, bytes));
    return doc;
  }
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString(bytes);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, (x) => plain(x, bytes));
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (v instanceof Set) return [...v].map((x) => plain(x, bytes));
  if (v instanceof Tag) return plain(v.value, bytes);
  // Not produced with the tags checkWellFormed lets through; keep own enumerable data only.
  const doc: Doc = {};
  for (const [k, x] of Object.entries(v)) setField(doc, k, plain(x, bytes));
  return doc;
}

function keyText(k: unknown, bytes: 'hex' | 'base64url'): string {
  if (typeof k === 'string') return k;
  const p = plain(k, bytes);
  return typeof p === 'string' ? p : p === null || typeof p !== 'object' ? String(p) : JSON.stringify(p);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
