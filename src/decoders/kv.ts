import { z } from 'zod';
import { WeirError } from '../core/errors.js';
import type { Decoder, DecoderFactory } from './decoder.js';
import { excerpt, parseNumeric, payloadText, setField, type Doc } from './util.js';

const options = z.strictObject({
  /** Between pairs; default: any run of whitespace, `,` or `;`. */
  separator: z.string().min(1).max(8).refine((s) => !/[\r\n"]/.test(s), 'must not contain a line break or a quote').optional(),
  /** Between a key and its value. */
  assign: z.string().min(1).max(8).refine((s) => !/[\r\n"\s]/.test(s), 'must not contain whitespace or a quote').default('='),
  /** Keys kept as text even when their value looks numeric. */
  textKeys: z.array(z.string().min(1)).default([]),
}).refine((o) => o.separator === undefined || !o.separator.includes(o.assign) && !o.assign.includes(o.separator),
  { message: 'separator and assign must differ', path: ['separator'] });

/**
 * Key=value lines, as many sensors and loggers print them (`dev=t1 temp=21.5 hum=40`,
 * `id:t1;temp:21.5` with `assign: ':'`): one document per non-empty line, with a key for
 * every pair. Pairs are separated by `separator` (default: any run of whitespace, `,` or
 * `;`); spaces around the `assign` string are allowed (with the default separators,
 * `a= b=1` is an empty `a` and then `b`, not `a` = "b=1"). A value may be double-quoted to
 * hold separators (`site="hall 2"`, with `\"` and `\\` escapes) and then stays text;
 * an unquoted value that looks like a decimal number becomes a number (unless its key is
 * in `textKeys`); an empty value leaves the key out.
 *
 * Errors (WEIR_DECODE_FAILED) name the line and column (both 1-based): a word without
 * `=`, an empty key, an unterminated quote. A key given twice on one line is
 * WEIR_WRONG_SHAPE. Keys are taken as written: a key with a `.` cannot be reached by a
 * profile's dot path.
 */
export const kvDecoder: DecoderFactory<z.infer<typeof options>> = {
  type: 'kv',
  options,
  create(opts): Decoder {
    const textKeys = new Set(opts.textKeys);
    const sep = opts.separator;
    /** Length of the separator at i (0 if none): the configured string, or one default separator char. */
    const sepAt = sep === undefined
      ? (s: string, i: number) => (/[\s,;]/.test(s[i] ?? '') ? 1 : 0)
      : (s: string, i: number) => (s.startsWith(sep, i) ? sep.length : /[ \t]/.test(s[i] ?? '') ? 1 : 0);
    /** Where an unquoted value starting at i ends. */
    const nextSep = (s: string, i: number) => {
      while (i < s.length && (sep === undefined ? sepAt(s, i) === 0 : !s.startsWith(sep, i))) i++;
      return i;
    };
    return {
      decode(payload: Buffer): unknown[] {
        const docs: Doc[] = [];
        payloadText(payload).split('\n').forEach((raw, index) => {
          const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
          if (line.trim() !== '') docs.push(parseLine(line, index + 1));
        });
        if (docs.length === 0) throw new WeirError('WEIR_DECODE_FAILED', 'empty payload: no key=value lines');
        return docs;
      },
    };

    function parseLine(s: string, lineNo: number): Doc {
      const doc: Doc = {};
      const seen = new Set<string>();
      const fail = (i: number, what: string) => new WeirError('WEIR_DECODE_FAILED', `line ${lineNo}, column ${i + 1}: ${what}`);
      const n = s.length;
      let i = 0;
      for (;;) {
        for (let k = sepAt(s, i); k > 0; k = sepAt(s, i)) i += k;
        if (i >= n) break;
        const keyStart = i;
        while (i < n && !s.startsWith(opts.assign, i) && sepAt(s, i) === 0 && s[i] !== '"') i++;
        const key = s.slice(keyStart, i);
        if (key === '') throw fail(keyStart, s[i] === '"' ? 'unexpected quote where a key should be' : `empty key before ${excerpt(opts.assign)}`);
        while (s[i] === ' ' || s[i] === '\t') i++;
        if (!s.startsWith(opts.assign, i)) throw fail(keyStart, `expected ${excerpt(opts.assign)} after ${excerpt(key)}`);
        i += opts.assign.length;
        const afterAssign = i;
        while (s[i] === ' ' || s[i] === '\t') i++;
        // `a= b=1`: the blank after "=" ended an empty value; "b=1" is the next pair, not a's value.
        if (sep === undefined && i > afterAssign) {
          const token = s.slice(i, nextSep(s, i));
          if (token.includes(opts.assign) && !token.includes('"')) i = afterAssign;
        }
        let value: string | number | undefined;
        if (s[i] === '"') {
          const open = i++;
          let text = '';
          for (;;) {
            if (i >= n) throw fail(open, `unterminated quoted value for ${excerpt(key)}`);
            const c = s[i++]!;
            if (c === '"') break;
            text += c === '\\' && (s[i] === '"' || s[i] === '\\') ? s[i++]! : c;
          }
          if (i < n && sepAt(s, i) === 0) throw fail(i, `expected a separator after the quoted value of ${excerpt(key)}`);
          value = text;
        } else {
          const valueStart = i;
          i = nextSep(s, i);
          const text = s.slice(valueStart, i).trim();
          if (text !== '') value = textKeys.has(key) ? text : parseNumeric(text) ?? text;
        }
        if (seen.has(key)) throw new WeirError('WEIR_WRONG_SHAPE', `line ${lineNo}: duplicate key ${excerpt(key)}`);
        seen.add(key);
        if (value !== undefined) setField(doc, key, value);
      }
      if (Object.keys(doc).length === 0) {
        throw new WeirError('WEIR_WRONG_SHAPE', `line ${lineNo}: ${seen.size} key${seen.size === 1 ? '' : 's'} but no values`);
      }
      return doc;
    }
  },
};
