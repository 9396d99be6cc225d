import { WeirError } from '../core/errors.js';
import { dayExists, parseNumeric, rescale } from '../decoders/util.js';
import { getPath, parsePath, type FieldPath } from './field-path.js';
import type { Reading } from './profile.js';
import type { ProfileSpec } from './schema.js';

type Source = { kind: 'field'; path: FieldPath; text: string } | { kind: 'segment'; name: string } | { kind: 'value'; value: string };

function compileSource(src: ProfileSpec['device']): Source {
  if ('field' in src) return { kind: 'field', path: parsePath(src.field), text: src.field };
  if ('segment' in src) return { kind: 'segment', name: src.segment };
  return { kind: 'value', value: String(src.value) };
}

function describe(src: Source): string {
  return src.kind === 'field' ? `field "${src.text}"` : src.kind === 'segment' ? `segment {${src.name}}` : 'constant';
}

function resolve(src: Source, doc: unknown, params: Record<string, string>): unknown {
  if (src.kind === 'field') return getPath(doc, src.path);
  if (src.kind === 'segment') return params[src.name];
  return src.value;
}

function asText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

/**
 * Numbers as sensors send them: numbers, decimal numeric strings, booleans (1/0).
 * Strings go through the decoders' parseNumeric, not Number(): Number() also reads
 * "0x1F", "0b11" and "0o7" (a hex dump would become a plausible metric or event time)
 * and "Infinity". A non-finite number (a binary f32/CBOR NaN, a sensor's fault marker)
 * is kept as it is, for the range check to refuse (see the metrics loop).
 */
function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return parseNumeric(v.trim());
  return undefined;
}

/** ISO-8601 date-time (RFC 3339 §5.6 profile), with or without offset. */
// RFC 3339 §5.6 (NOTE): "T" and "Z" may also be written in lower case.
const ISO = /^(\d{4})-(\d{2})-(\d{2})([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

/**
 * ECMA-262 §21.4.1.22: a time value lies within ±8.64e15 ms of the epoch. Beyond it
 * (1e300 s, or garbage read as a time) no Date, no BIGINT column, no window can hold
 * it: such an event time is refused, like text that is not a time. NaN fails too.
 */
const MAX_EVENT_TIME = 8.64e15;

function parseTime(v: unknown, format: 'ms' | 's' | 'iso8601' | 'auto'): number | undefined {
  if (format === 'iso8601' || (format === 'auto' && typeof v === 'string' && !/^\s*-?\d+(\.\d+)?\s*$/.test(v))) {
    const m = typeof v === 'string' ? ISO.exec(v) : null;
    // RFC 3339 §5.7: Date.parse would roll a day that does not exist (30 Feb) into the next month.
    if (typeof v !== 'string' || !m || !dayExists(Number(m[1]), Number(m[2]), Number(m[3]))) return undefined;
    const text = v.toUpperCase(); // Date.parse reads only the upper-case T and Z
    // A date-time without an offset would be read in the gateway's own time zone
    // (ECMA-262 §21.4.3.2): the same payload would mean different instants on two
    // gateways. RFC 3339 requires the offset; absent, it is taken as UTC.
    const t = Date.parse(/[T ]\d/.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? `${text.replace(' ', 'T')}Z` : text);
    return Number.isFinite(t) ? t : undefined;
  }
  const n = asNumber(v);
  if (n === undefined || typeof v === 'boolean') return undefined; // NaN fails the range check below
  const ms = format === 'ms' ? n : format === 's' ? n * 1000 : Math.abs(n) >= 1e11 ? n : n * 1000;
  return Math.abs(ms) <= MAX_EVENT_TIME ? Math.round(ms) : undefined;
}

const DEVICE_ID_MAX = 128;

/**
 * Compiles a profile's mapping into a function document → reading. The function
 * throws WeirError (WEIR_WRONG_SHAPE, WEIR_OUT_OF_RANGE) with the dead-letter reason.
 */
export function compileMapper(spec: ProfileSpec): (doc: unknown, params: Record<string, string>, received: number) => Reading {
  const device = compileSource(spec.device);
  const time = spec.time ? { path: parsePath(spec.time.field), field: spec.time.field, format: spec.time.format } : undefined;
  const tags = Object.entries(spec.tags).map(([tag, src]) => ({ tag, src: compileSource(src) }));
  const metrics = Object.entries(spec.metrics).map(([metric, m]) => ({
    metric, ...m, path: parsePath(m.field ?? metric), fieldText: m.field ?? metric,
  }));
  const dropOutOfRange = spec.outOfRange === 'drop-metric';

  return (doc, params, received) => {
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new WeirError('WEIR_WRONG_SHAPE', `expected an object, got ${Array.isArray(doc) ? 'an array' : doc === null ? 'null' : typeof doc}`);
    }
    const id = asText(resolve(device, doc, params));
    if (id === undefined || id === '') throw new WeirError('WEIR_WRONG_SHAPE', `missing device id (${describe(device)})`);
    if (id.length > DEVICE_ID_MAX) throw new WeirError('WEIR_WRONG_SHAPE', `device id longer than ${DEVICE_ID_MAX} characters`);

    let ts = received;
    if (time) {
      const raw = getPath(doc, time.path);
      if (raw === undefined) throw new WeirError('WEIR_WRONG_SHAPE', `missing event time field "${time.field}"`);
      const parsed = parseTime(raw, time.format);
      if (parsed === undefined) throw new WeirError('WEIR_WRONG_SHAPE', `event time field "${time.field}" is not a valid ${time.format} time: ${JSON.stringify(raw)?.slice(0, 64)}`);
      ts = parsed;
    }

    const tagValues: Record<string, string> = {};
    for (const { tag, src } of tags) {
      const v = asText(resolve(src, doc, params));
      if (v !== undefined) tagValues[tag] = v;
    }

    const values: Record<string, number> = {};
    let count = 0;
    for (const m of metrics) {
      const raw = getPath(doc, m.path);
      if (raw === undefined || raw === null) {
        if (m.required) throw new WeirError('WEIR_WRONG_SHAPE', `missing required metric field "${m.fieldText}"`);
        continue;
      }
      const n = asNumber(raw);
      if (n === undefined) throw new WeirError('WEIR_WRONG_SHAPE', `metric field "${m.fieldText}" is not a number: ${JSON.stringify(raw)?.slice(0, 64)}`);
      // A NaN or infinite value is a number the sensor could not measure: out of range, so
      // outOfRange: drop-metric drops just this metric, as for any other bad value.
      const value = rescale(n, m.scale, m.offset);
      if (!Number.isFinite(value) || (m.min !== undefined && value < m.min) || (m.max !== undefined && value > m.max)) {
        // A required metric is the reading's reason to exist: out of range, the document goes.
        if (dropOutOfRange && !m.required) continue;
        throw new WeirError('WEIR_OUT_OF_RANGE', Number.isFinite(value)
          ? `metric ${m.metric}=${value} outside [${m.min ?? '-inf'}, ${m.max ?? 'inf'}]`
          : `metric ${m.metric} is not a finite number (${value})`);
      }
      values[m.metric] = value;
      count++;
    }
    if (count === 0) throw new WeirError('WEIR_WRONG_SHAPE', `no metric present (expected ${metrics.map((m) => `"${m.fieldText}"`).join(', ')})`);
    return { device: id, profile: spec.name, ts, tags: tagValues, metrics: values };
  };
}
