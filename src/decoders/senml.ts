import { z } from 'zod';
import { WeirError } from '../core/errors.js';
import { decodeCbor } from './cbor.js';
import type { Decoder, DecoderFactory } from './decoder.js';
import { describeValue, excerpt, hasField, payloadText, setField, type Doc } from './util.js';

const options = z.strictObject({
  /** application/senml+json (RFC 8428 §5) or application/senml+cbor (§6). */
  format: z.enum(['json', 'cbor']).default('json'),
});

/** RFC 8428 §6, Table 6: CBOR labels. */
const CBOR_LABELS = new Map(Object.entries({
  '-1': 'bver', '-2': 'bn', '-3': 'bt', '-4': 'bu', '-5': 'bv', '-6': 'bs',
  0: 'n', 1: 'u', 2: 'v', 3: 'vs', 4: 'vb', 5: 's', 6: 't', 7: 'ut', 8: 'vd',
}));
const TYPES = new Map<string, 'string' | 'number' | 'boolean'>(Object.entries({
  bver: 'number', bn: 'string', bt: 'number', bu: 'string', bv: 'number', bs: 'number',
  n: 'string', u: 'string', v: 'number', vs: 'string', vb: 'boolean', s: 'number', t: 'number', ut: 'number', vd: 'string',
} as const));
const BASE = new Set(['bver', 'bn', 'bt', 'bu', 'bv', 'bs']);
const VALUES = ['v', 'vs', 'vb', 'vd'] as const;
/** §4.5.1: the characters a (resolved) name may use. */
const NAME = /^[A-Za-z0-9][-:./_A-Za-z0-9]*$/;
/** §4.5.3: resolved times below 2^28 are relative to "now". */
const RELATIVE_BELOW = 2 ** 28;
const VERSION = 10;

/**
 * SenML (RFC 8428), JSON (§5) or CBOR (§6, integer labels) by `format`. Each record is
 * resolved as §4.6 says: name = bn + n, time = bt + t, unit = u or bu, value = bv + v,
 * sum = bs + s, base fields applying to their record and every later one (§4.1). Checked:
 * field types, one value field per record, a value or sum in every record that has more
 * than base fields, §4.5.1 name syntax, a version (bver) of at most 10, and no unknown
 * must-understand labels (ending in "_", §4.4); a record with only base fields carries none.
 *
 * Documents: one per device and resolved time, in order of first appearance, so a
 * profile maps them as usual (`device: {field: device}`, `time: {field: time, format: s}`,
 * one metric per measurement):
 *   - device: the base name without one trailing ":" or "/" (`urn:dev:ow:10e2073a01080063:`
 *     → `urn:dev:ow:10e2073a01080063`); a record without a base name is its own device,
 *     named by its whole name (§5.1.1's `{"n":"urn:dev:ow:10e2073a01080063","u":"Cel",…}`).
 *   - the measurement's key: its own name `n` when there is a base name and `n` is not
 *     empty (`temp`); else its unit, as in §5.1.4 where `%RH`, `lon`, `lat` tell the
 *     measurements apart; else `value`.
 *   - `<key>`: the value (v a number, vs text, vb a boolean, vd base64url text);
 *     `<key>_sum`: the sum; `<key>_unit`: the unit, when the key is a name.
 *   - time: the resolved time in seconds since the epoch (a number; §4.5.3).
 * So `[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1.320067464e+09,"u":"%RH","v":20},
 * {"n":"temp","u":"Cel","v":23.1}]` is one document: `{device: "urn:dev:ow:10e2073a01080063",
 * time: 1320067464, "%RH": 20, temp: 23.1, temp_unit: "Cel"}`.
 *
 * Relative times (resolved time < 2^28 s, including records with no time at all, which
 * mean "now") are relative to the time of receipt, which a decoder does not know (it is
 * pure; the profile mapper applies the receipt time). Such documents carry
 * `relative_time` (seconds, ≤ 0 in practice) instead of `time`: a profile for devices
 * that send relative times declares no `time` and gets the receipt time (exact for "now",
 * off by |relative_time| otherwise); a profile that declares `time: {field: time}`
 * dead-letters them as missing their event time (WEIR_WRONG_SHAPE).
 *
 * A second value for the same key, device and time, or a key that is `device`, `time`
 * or `relative_time`, is WEIR_WRONG_SHAPE naming the record (0-based, in the pack).
 */
export const senmlDecoder: DecoderFactory<z.infer<typeof options>> = {
  type: 'senml',
  options,
  create(opts): Decoder {
    return {
      decode(payload: Buffer): unknown[] {
        let pack: unknown;
        if (opts.format === 'cbor') {
          pack = decodeCbor(payload, 'base64url');
        } else {
          try {
            pack = JSON.parse(payloadText(payload));
          } catch (err) {
            throw new WeirError('WEIR_DECODE_FAILED', `invalid JSON: ${(err as Error).message}`);
          }
        }
        if (!Array.isArray(pack)) throw new WeirError('WEIR_WRONG_SHAPE', `a SenML pack is an array of records, got ${describeValue(pack)}`);
        return resolvePack(pack, opts.format === 'cbor');
      },
    };
  },
};

interface Base {
  bn: string;
  bt: number;
  bu: string | undefined;
  bv: number;
  bs: number;
}

function resolvePack(pack: unknown[], cbor: boolean): Doc[] {
  const base: Base = { bn: '', bt: 0, bu: undefined, bv: 0, bs: 0 };
  const docs = new Map<string, Doc>();
  pack.forEach((raw, i) => {
    const wrong = (what: string) => new WeirError('WEIR_WRONG_SHAPE', `record ${i}: ${what}`);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw wrong(`expected ${cbor ? 'a map' : 'an object'}, got ${describeValue(raw)}`);
    const rec: Record<string, string | number | boolean> = {};
    for (const [key, value] of Object.entries(raw)) {
      const label = cbor ? CBOR_LABELS.get(key) ?? key : key;
      const type = TYPES.get(label);
      if (type === undefined) {
        if (label.endsWith('_')) throw wrong(`unsupported must-understand field ${excerpt(label)}`);
        continue;
      }
      if (typeof value !== type || (type === 'number' && !Number.isFinite(value))) {
        throw wrong(`"${label}" must be a ${type === 'number' ? 'finite number' : type}, got ${describeValue(value)}`);
      }
      rec[label] = value as string | number | boolean;
    }
    if (rec.bver !== undefined && (rec.bver as number) > VERSION) throw wrong(`SenML version ${rec.bver} is newer than the supported ${VERSION}`);
    if (rec.bn !== undefined) base.bn = rec.bn as string;
    if (rec.bt !== undefined) base.bt = rec.bt as number;
    if (rec.bu !== undefined) base.bu = rec.bu as string;
    if (rec.bv !== undefined) base.bv = rec.bv as number;
    if (rec.bs !== undefined) base.bs = rec.bs as number;

    const values = VALUES.filter((l) => rec[l] !== undefined);
    if (values.length > 1) throw wrong(`more than one value field (${values.join(', ')})`);
    if (values.length === 0 && rec.s === undefined) {
      if (Object.keys(rec).every((l) => BASE.has(l))) return; // only base fields: they apply to the records that follow
      throw wrong('no value (v, vs, vb or vd) and no sum (s)');
    }

    const n = (rec.n as string | undefined) ?? '';
    const name = base.bn + n;
    if (name === '') throw wrong('no name (neither bn nor n)');
    if (!NAME.test(name)) throw wrong(`name ${excerpt(name)} is not a valid SenML name (RFC 8428 §4.5.1)`);
    const time = base.bt + ((rec.t as number | undefined) ?? 0);
    if (!Number.isFinite(time)) throw wrong('time is not finite');
    const unit = (rec.u as string | undefined) ?? base.bu;
    const device = base.bn !== '' ? base.bn.replace(/[:/]$/, '') || base.bn : name;
    const named = base.bn !== '' && n !== '';
    const key = named ? n : unit ?? 'value';
    if (key === 'device' || key === 'time' || key === 'relative_time') throw wrong(`measurement "${key}" clashes with the document's own "${key}" field`);

    const relative = time < RELATIVE_BELOW;
    const groupKey = `${device}\u0000${relative ? 'r' : 'a'}${time}`;
    const doc = docs.get(groupKey) ?? { device, [relative ? 'relative_time' : 'time']: time };
    docs.set(groupKey, doc);
    const put = (k: string, v: unknown) => {
      if (hasField(doc, k)) throw wrong(`a second "${k}" for device ${excerpt(device)} at ${relative ? 'relative ' : ''}time ${time}`);
      setField(doc, k, v);
    };
    const [valueLabel] = values;
    if (valueLabel !== undefined) put(key, valueLabel === 'v' ? base.bv + (rec.v as number) : rec[valueLabel]);
    if (rec.s !== undefined) put(`${key}_sum`, base.bs + (rec.s as number));
    if (named && unit !== undefined) put(`${key}_unit`, unit);
  });
  if (docs.size === 0) throw new WeirError('WEIR_WRONG_SHAPE', `SenML pack has no measurements (${pack.length} records)`);
  return [...docs.values()];
}
