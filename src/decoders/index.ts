import type { DecoderFactory } from './decoder.js';
import { jsonDecoder } from './json.js';

/** Decoders by the `decoder.type` a profile names. */
export const decoders: ReadonlyMap<string, DecoderFactory> = new Map<string, DecoderFactory>(
  [jsonDecoder as DecoderFactory].map((d) => [d.type, d]),
);
