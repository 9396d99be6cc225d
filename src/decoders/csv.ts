import { z } from 'zod';
import { WeirError } from '../core/errors.js';
import type { Decoder, DecoderFactory } from './decoder.js';
import { excerpt, parseNumeric, payloadText, setField, type Doc } from './util.js';

const options = z.strictObject({
  /** Column names, in order. */
  columns: z.array(z.string().min(1)).min(1).optional(),
  /** The first line names the columns (a header line in every payload). */
  header: z.boolean().default(false),
  /** One character between fields: `,` (default), `;`, `\t`, `|`, … */
  delimiter: z.string().length(1).refine((d) => !'"\r\n'.includes(d), 'must not be a quote or a line break').default(','),
  /** Columns kept as text even when they look numeric (e.g. device ids like `007`). */
  textColumns: z.array(z.string().min(1)).default([]),
}).superRefine((o, ctx) => {
  if ((o.columns === undefined) === !o.header) {
    ctx.addIssue({ code: 'custom', message: 'give either columns (names in order) or header: true', path: ['columns'] });
  }
  const dup = o.columns?.find((c, i) => o.columns!.indexOf(c) !== i);
  if (dup !== undefined) ctx.addIssue({ code: 'custom', message: `duplicate column "${dup}"`, path: ['columns'] });
});

interface Field {
  text: string;
  quoted: boolean;
}

interface Row {
  line: number;
  fields: Field[];
}

/**
 * CSV (RFC 4180, with the common relaxations): one document per record (line), its
 * keys the column names, from `columns` or, with `header: true`, from the payload's
 * first line. Fields may be double-quoted (`""` is a literal quote; a quoted field may
 * span lines). Unquoted fields are trimmed, and become numbers when they look like
 * decimal numbers (`21.5`, `-3`, `1e3`) unless their column is in `textColumns`;
 * quoted fields stay text. An empty unquoted field leaves the key out, so the profile
 * sees the metric as missing. Blank lines are skipped; CRLF and LF both end a record.
 *
 * A record with more non-empty fields than there are columns, or fewer fields, fails the
 * payload (WEIR_WRONG_SHAPE, naming the line): a column shift would otherwise put
 * values under the wrong names. Keys are the column names as written: a name with a
 * `.` cannot be reached by a profile's dot path, so name columns without dots.
 */
export const csvDecoder: DecoderFactory<z.infer<typeof options>> = {
  type: 'csv',
  options,
  create(opts): Decoder {
    const text = new Set(opts.textColumns);
    return {
      decode(payload: Buffer): unknown[] {
        const rows = parseCsv(payloadText(payload), opts.delimiter);
        if (rows.length === 0) throw new WeirError('WEIR_DECODE_FAILED', 'empty payload: no CSV lines');
        let columns: Array<string | undefined>;
        if (opts.columns) {
          columns = opts.columns;
        } else {
          const head = rows.shift()!;
          columns = head.fields.map((f) => f.text.trim() || undefined);
          const seen = new Set<string>();
          for (const c of columns) {
            if (c === undefined) continue;
            if (seen.has(c)) throw new WeirError('WEIR_WRONG_SHAPE', `header line ${head.line}: duplicate column name ${excerpt(c)}`);
            seen.add(c);
          }
          if (seen.size === 0) throw new WeirError('WEIR_WRONG_SHAPE', `header line ${head.line}: no column names`);
          if (rows.length === 0) throw new WeirError('WEIR_WRONG_SHAPE', `header line ${head.line} but no data lines`);
        }
        return rows.map((row) => toDocument(row, columns, text));
      },
    };
  },
};

function toDocument(row: Row, columns: Array<string | undefined>, text: Set<string>): Doc {
  const { fields, line } = row;
  const extra = fields.slice(columns.length).some((f) => f.quoted || f.text.trim() !== '');
  if (fields.length < columns.length || extra) {
    throw new WeirError('WEIR_WRONG_SHAPE', `line ${line}: ${fields.length} fields, expected ${columns.length}`);
  }
  const doc: Doc = {};
  columns.forEach((name, i) => {
    const field = fields[i]!;
    if (name === undefined) return;
    if (field.quoted) return setField(doc, name, field.text);
    const value = field.text.trim();
    if (value === '') return;
    const n = text.has(name) ? undefined : parseNumeric(value);
    setField(doc, name, n ?? value);
  });
  if (Object.keys(doc).length === 0) {
    throw new WeirError('WEIR_WRONG_SHAPE', `line ${line}: every field is empty`);
  }
  return doc;
}

/** Splits CSV text into records of fields, with the line each record starts on. */
function parseCsv(text: string, delimiter: string): Row[] {
  const rows: Row[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const start = line;
    const fields: Field[] = [];
    for (;;) {
      let field: Field;
      if (text[i] === '"') {
        let value = '';
        let from = ++i;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) throw new WeirError('WEIR_DECODE_FAILED', `line ${start}: unterminated quoted field (field ${fields.length + 1})`);
          value += text.slice(from, q);
          if (text[q + 1] === '"') {
            value += '"';
            i = from = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        line += countNewlines(value);
        const next = text[i];
        if (next !== undefined && next !== delimiter && next !== '\n' && next !== '\r') {
          throw new WeirError('WEIR_DECODE_FAILED', `line ${line}: unexpected ${excerpt(next)} after the closing quote of field ${fields.length + 1}`);
        }
        field = { text: value, quoted: true };
      } else {
        let j = i;
        while (j < n && text[j] !== delimiter && text[j] !== '\n' && text[j] !== '\r') j++;
        field = { text: text.slice(i, j), quoted: false };
        i = j;
      }
      fields.push(field);
      if (text[i] === delimiter) {
        i++;
        continue;
      }
      // End of record: CRLF, LF, a lone CR, or the end of the text.
      if (text[i] === '\r') i++;
      if (text[i] === '\n') i++;
      line++;
      break;
    }
    const blank = fields.length === 1 && !fields[0]!.quoted && fields[0]!.text.trim() === '';
    if (!blank) rows.push({ line: start, fields });
  }
  return rows;
}

function countNewlines(s: string): number {
  let k = 0;
  for (let p = s.indexOf('\n'); p >= 0; p = s.indexOf('\n', p + 1)) k++;
  return k;
}
