/**
 * Small helpers the text and binary decoders share. Documents are plain objects whose
 * keys may come from the payload itself (a CSV header, a key=value line, a CBOR map), so
 * every key is written as an own data property: a key "__proto__" must neither change the
 * document's prototype nor be lost (src/profiles/field-path.ts reads own properties only).
 */

export type Doc = Record<string, unknown>;

/** Sets `doc[key] = value` as an own, enumerable data property, whatever the key. */
export function setField(doc: Doc, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(doc, key, { value, enumerable: true, writable: true, configurable: true });
  else doc[key] = value;
}

export function hasField(doc: Doc, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(doc, key);
}

/** Decimal numbers as text sensors write them: `21.5`, `-3`, `+.5`, `1e-3` (not hex, not `Infinity`). */
const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The number a text field denotes when it looks numeric, else undefined. */
export function parseNumeric(text: string): number | undefined {
  if (!NUMERIC.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * RFC 3339 §5.7: whether the day exists in its month (1–12) and year. Date.parse does
 * not check it and rolls over: "2024-02-30" would be read as 1 March.
 */
export function dayExists(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * raw × scale + add, exact for the fixed-point scales sensors use. A scale such as 0.1
 * (not exact in binary floating point) divides by 10 instead, and an add that is a whole
 * number of such steps joins the numerator: 886 × 0.1 is 88.60000000000001 and that
 * minus 40 is 48.599999999999994, while (886 − 400) / 10 is 48.6, the value the device
 * meant. Any other scale is a plain multiplication.
 */
export function rescale(raw: number, scale: number, add: number): number {
  const inverse = scale !== 0 && Math.abs(scale) < 1 ? 1 / scale : NaN;
  const divisor = Math.round(inverse);
  if (!(Math.abs(inverse - divisor) < 1e-9)) return raw * scale + add;
  const steps = add * divisor;
  return Math.abs(steps - Math.round(steps)) < 1e-9 ? (raw + Math.round(steps)) / divisor : raw / divisor + add;
}

/** The payload as text, without a leading UTF-8 byte-order mark. */
export function payloadText(payload: Buffer): string {
  const text = payload.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A short, quoted excerpt of untrusted text for a dead-letter reason. */
export function excerpt(text: string, max = 40): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/** "a string", "an array", "null", … for messages that say what was found instead. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return /^[aeiou]/.test(typeof v) ? `an ${typeof v}` : `a ${typeof v}`;
}
