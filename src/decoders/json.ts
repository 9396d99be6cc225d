import { z } from 'zod';
import { WeirError } from '../core/errors.js';
import { getPath, parsePath } from '../profiles/field-path.js';
import type { Decoder, DecoderFactory } from './decoder.js';

const options = z.strictObject({
  /** Dot path to an array of readings inside the document, e.g. `data.samples`. */
  items: z.string().min(1).optional(),
});

/**
 * JSON (RFC 8259). A top-level array is a batch: each element is one document.
 * With `items`, the documents are the elements of the array at that path.
 */
export const jsonDecoder: DecoderFactory<z.infer<typeof options>> = {
  type: 'json',
  options,
  create(opts): Decoder {
    const itemsPath = opts.items ? parsePath(opts.items) : undefined;
    return {
      decode(payload: Buffer): unknown[] {
        let doc: unknown;
        try {
          doc = JSON.parse(payload.toString('utf8'));
        } catch (err) {
          throw new WeirError('WEIR_DECODE_FAILED', `invalid JSON: ${(err as Error).message}`);
        }
        if (itemsPath) {
          const items = getPath(doc, itemsPath);
          if (!Array.isArray(items)) throw new WeirError('WEIR_WRONG_SHAPE', `expected an array at "${opts.items}"`);
          return items;
        }
        return Array.isArray(doc) ? doc : [doc];
      },
    };
  },
};
