import { z } from 'zod';
import { WeirError } from '../core/errors.js';
import type { Decoder, DecoderFactory } from './decoder.js';
import { excerpt, hasField, payloadText, setField, type Doc } from './util.js';

const options = z.strictObject({
  /** Reject sentences without a `*hh` checksum (NMEA 0183 makes it optional for some talkers). */
  requireChecksum: z.boolean().default(true),
  /** Merge the GGA and RMC sentences of one fix (same UTC time of day) into one document. */
  merge: z.boolean().default(true),
});

const KNOT_KMH = 1.852;

/**
 * NMEA 0183 position sentences, as GNSS receivers print them on a serial line: GGA
 * (fix data) and RMC (recommended minimum), from any talker (GP, GN, GL, GA, BD, …).
 * One sentence per line (`$` … `*hh`, CR LF or LF); the checksum, the XOR of the
 * characters between `$` and `*` as two hex digits, is checked (and required unless
 * `requireChecksum: false`). Other sentence types (GSV, GSA, VTG, proprietary `$P…`,
 * AIS `!…`) are skipped: a payload of only those yields no document and no dead letter.
 *
 * Document fields (empty NMEA fields are left out):
 *   - both: `sentence` (`GPGGA`), `utc_time` (`12:35:19`, time of day), `lat`, `lon`
 *     (signed decimal degrees from ddmm.mmmm + N/S/E/W, 7 decimals);
 *   - GGA: `fix_quality` (0 none, 1 GPS, 2 DGPS, …), `satellites`, `hdop`,
 *     `altitude_m` (above mean sea level), `geoid_separation_m`;
 *   - RMC: `valid` (1 for status A, 0 for V: decoded anyway, so a profile can filter),
 *     `time` (ISO-8601 UTC from the date and time; two-digit years 80–99 are 19xx),
 *     `speed_knots`, `speed_kmh`, `course` (degrees true), `magnetic_variation`
 *     (degrees, west negative), `mode` (A, D, E, N, … when present).
 * With `merge` (default), a GGA and an RMC of the same UTC time of day become one
 * document (`sentence: "GPGGA,GPRMC"`), so a fix's altitude and its date-time travel
 * together; otherwise, and for sentences without a time, one document per sentence.
 *
 * A bad checksum or a line that is not a sentence is WEIR_DECODE_FAILED; a field that
 * does not parse (a latitude of "48x7", month 13) is WEIR_WRONG_SHAPE. Both name the
 * line (1-based).
 */
export const nmeaDecoder: DecoderFactory<z.infer<typeof options>> = {
  type: 'nmea',
  options,
  create(opts): Decoder {
    return {
      decode(payload: Buffer): unknown[] {
        const docs: Doc[] = [];
        const byTime = new Map<string, Doc>();
        const skipped = new Set<string>();
        let sentences = 0;
        payloadText(payload).split('\n').forEach((raw, index) => {
          const line = raw.trim();
          if (line === '') return;
          sentences++;
          const doc = parseSentence(line, index + 1, opts.requireChecksum, skipped);
          if (!doc) return;
          const t = doc.utc_time;
          const same = opts.merge && typeof t === 'string' ? byTime.get(t) : undefined;
          if (same && !String(same.sentence).includes(String(doc.sentence).slice(2))) {
            same.sentence = `${same.sentence},${doc.sentence}`;
            for (const [k, v] of Object.entries(doc)) if (!hasField(same, k)) setField(same, k, v);
            return;
          }
          if (typeof t === 'string') byTime.set(t, doc);
          docs.push(doc);
        });
        if (sentences === 0) throw new WeirError('WEIR_DECODE_FAILED', 'empty payload: no NMEA sentences');
        // Only well-formed sentences of other types (a receiver's GSV, GSA, VTG, TXT at
        // several per second): nothing to store, and nothing wrong — not a dead letter.
        return docs;
      },
    };
  },
};

function parseSentence(line: string, n: number, requireChecksum: boolean, skipped: Set<string>): Doc | undefined {
  if (line[0] === '!') return void skipped.add(excerpt(line.slice(0, 6)));
  if (line[0] !== '$') throw new WeirError('WEIR_DECODE_FAILED', `line ${n}: not an NMEA sentence (no leading "$"): ${excerpt(line)}`);
  const star = line.lastIndexOf('*');
  const body = star < 0 ? line.slice(1) : line.slice(1, star);
  if (star >= 0) {
    const given = line.slice(star + 1);
    if (!/^[0-9A-Fa-f]{2}$/.test(given)) throw new WeirError('WEIR_DECODE_FAILED', `line ${n}: malformed checksum ${excerpt(`*${given}`)}`);
    let sum = 0;
    for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i) & 0xff;
    const expected = sum.toString(16).toUpperCase().padStart(2, '0');
    if (expected !== given.toUpperCase()) throw new WeirError('WEIR_DECODE_FAILED', `line ${n}: checksum mismatch: expected ${expected} got ${given.toUpperCase()}`);
  } else if (requireChecksum) {
    throw new WeirError('WEIR_DECODE_FAILED', `line ${n}: no checksum ("*hh" after the sentence)`);
  }
  const f = body.split(',');
  const address = f[0]!;
  const type = /^[A-Z][A-Z0-9](GGA|RMC)$/.exec(address)?.[1];
  if (!type) return void skipped.add(excerpt(address.slice(0, 8)));

  const wrong = (what: string) => new WeirError('WEIR_WRONG_SHAPE', `line ${n} (${address}): ${what}`);
  const get = (i: number) => (f[i] ?? '').trim();
  const num = (i: number, what: string): number | undefined => {
    const s = get(i);
    if (s === '') return undefined;
    if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(s)) throw wrong(`${what} ${excerpt(s)} is not a number`);
    return Number(s);
  };
  const doc: Doc = { sentence: address };
  const put = (k: string, v: unknown) => v !== undefined && setField(doc, k, v);

  const tod = parseTime(get(1));
  if (tod === null) throw wrong(`time ${excerpt(get(1))} is not hhmmss(.ss)`);
  put('utc_time', tod?.text);
  const pos = type === 'GGA' ? 2 : 3;
  put('lat', coordinate(get(pos), get(pos + 1), 'NS', wrong));
  put('lon', coordinate(get(pos + 2), get(pos + 3), 'EW', wrong));

  if (type === 'GGA') {
    put('fix_quality', num(6, 'fix quality'));
    put('satellites', num(7, 'satellite count'));
    put('hdop', num(8, 'HDOP'));
    put('altitude_m', num(9, 'altitude'));
    put('geoid_separation_m', num(11, 'geoid separation'));
    return doc;
  }
  const status = get(2);
  if (status !== 'A' && status !== 'V') throw wrong(`status ${excerpt(status)} is neither A (valid) nor V (void)`);
  put('valid', status === 'A' ? 1 : 0);
  const date = get(9);
  if (date !== '') {
    const m = /^(\d{2})(\d{2})(\d{2})$/.exec(date);
    const [dd, mm, yy] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
    const year = yy >= 80 ? 1900 + yy : 2000 + yy;
    if (!m || mm < 1 || mm > 12 || dd < 1 || dd > new Date(Date.UTC(year, mm, 0)).getUTCDate()) throw wrong(`date ${excerpt(date)} is not a valid ddmmyy`);
    if (tod) put('time', `${year}-${m[2]}-${m[1]}T${tod.text}Z`);
  }
  const knots = num(7, 'speed');
  put('speed_knots', knots);
  put('speed_kmh', knots === undefined ? undefined : Math.round(knots * KNOT_KMH * 1e4) / 1e4);
  put('course', num(8, 'course'));
  const variation = num(10, 'magnetic variation');
  if (variation !== undefined) {
    const dir = get(11);
    if (dir !== 'E' && dir !== 'W') throw wrong(`magnetic variation direction ${excerpt(dir)} is neither E nor W`);
    put('magnetic_variation', dir === 'W' ? 0 - variation : variation); // 0 - x: never -0
  }
  if (/^[A-Z]$/.test(get(12))) put('mode', get(12));
  return doc;
}

/** hhmmss(.sss) as `hh:mm:ss(.sss)`; undefined when empty, null when malformed. */
function parseTime(s: string): { text: string } | undefined | null {
  if (s === '') return undefined;
  const m = /^(\d{2})(\d{2})(\d{2})(\.\d+)?$/.exec(s);
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3]) > 60) return null;
  return { text: `${m[1]}:${m[2]}:${m[3]}${m[4] ?? ''}` };
}

/** ddmm.mmmm / dddmm.mmmm + hemisphere → signed decimal degrees (7 decimals); undefined when both empty. */
function coordinate(value: string, hemi: string, hemis: 'NS' | 'EW', wrong: (what: string) => WeirError): number | undefined {
  if (value === '' && hemi === '') return undefined;
  const what = hemis === 'NS' ? 'latitude' : 'longitude';
  const degDigits = hemis === 'NS' ? 2 : 3;
  const m = new RegExp(`^(\\d{${degDigits}})(\\d{2}(?:\\.\\d+)?)$`).exec(value);
  if (!m) throw wrong(`${what} ${excerpt(value)} is not ${hemis === 'NS' ? 'ddmm.mmmm' : 'dddmm.mmmm'}`);
  const deg = Number(m[1]);
  const min = Number(m[2]);
  if (min >= 60 || deg + min / 60 > (hemis === 'NS' ? 90 : 180)) throw wrong(`${what} ${excerpt(value)} is out of range`);
  if (hemi.length !== 1 || !hemis.includes(hemi)) throw wrong(`${what} hemisphere ${excerpt(hemi)} is not ${hemis[0]} or ${hemis[1]}`);
  const decimal = Math.round((deg + min / 60) * 1e7) / 1e7;
  return hemi === 'S' || hemi === 'W' ? 0 - decimal : decimal;
}
