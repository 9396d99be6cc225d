import { z } from 'zod';
import { WeirError } from '../core/errors.js';
import { getPath, parsePath, type FieldPath } from '../profiles/field-path.js';
import type { Decoder, DecoderFactory } from './decoder.js';
import { payloadText } from './util.js';

const options = z.strictObject({
  /** Dot path to an array of readings inside the document, e.g. `data.samples`. */
  items: z.string().min(1).optional(),
});

/**
 * JSON (RFC 8259). A top-level array is a batch: each element is one document.
 * With `items`, the documents are the elements of the array at that path.
 *
 * NDJSON (newline-delimited JSON, one JSON text per line): when the payload is not one
 * JSON value, has several non-empty lines and its first non-empty line is a JSON value
 * on its own, every non-empty line is decoded as if it were a payload by itself (so a
 * line holding an array is a batch, and `items` applies to each line) and the documents
 * are concatenated. A line that is not JSON fails the payload, naming the line (1-based,
 * counting blank lines). A pretty-printed JSON document whose first line is not a value
 * (`{`, `[`) is never mistaken for NDJSON, and keeps the plain "invalid JSON" reason.
 */
export const jsonDecoder: DecoderFactory<z.infer<typeof options>> = {
  type: 'json',
  options,
  create(opts): Decoder {
    const itemsPath = opts.items ? parsePath(opts.items) : undefined;
    const documents = (doc: unknown, where: string): unknown[] => {
      if (itemsPath) {
        const items = getPath(doc, itemsPath);
        if (!Array.isArray(items)) throw new WeirError('WEIR_WRONG_SHAPE', `${where}expected an array at "${opts.items}"`);
        return items;
      }
      return Array.isArray(doc) ? doc : [doc];
    };
    return {
      decode(payload: Buffer): unknown[] {
        // RFC 8259 §8.1: a parser MAY ignore a byte order mark; devices do send one.
        const text = payloadText(payload);
        let doc: unknown;
        try {
          doc = JSON.parse(text);
        } catch (err) {
          const lines = ndjsonLines(text);
          if (!lines) throw new WeirError('WEIR_DECODE_FAILED', `invalid JSON: ${(err as Error).message}`);
          return decodeLines(lines, documents, itemsPath);
        }
        return documents(doc, '');
      },
    };
  },
};

interface Line {
  n: number;
  text: string;
}

/** The non-empty lines, when the payload looks like NDJSON (see the decoder's doc comment). */
function ndjsonLines(text: string): Line[] | undefined {
  const lines: Line[] = [];
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    if (t !== '') lines.push({ n: i + 1, text: t });
  });
  if (lines.length < 2) return undefined;
  try {
    JSON.parse(lines[0]!.text);
  } catch {
    return undefined;
  }
  return lines;
}

function decodeLines(lines: Line[], documents: (doc: unknown, where: string) => unknown[], itemsPath: FieldPath | undefined): unknown[] {
  const docs: unknown[] = [];
  for (const { n, text } of lines) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new WeirError('WEIR_DECODE_FAILED', `invalid JSON on line ${n}: ${(err as Error).message}`);
    }
    for (const d of documents(doc, `line ${n}: `)) docs.push(d);
  }
  // A batch may be empty, but NDJSON lines that all hold empty batches are more likely a mistake.
  if (docs.length === 0) {
    throw new WeirError('WEIR_WRONG_SHAPE', `no documents in ${lines.length} NDJSON lines${itemsPath ? ' (every items array is empty)' : ' (every line is an empty array)'}`);
  }
  return docs;
}
