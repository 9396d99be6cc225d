import { binaryDecoder } from './binary.js';
import { cborDecoder } from './cbor.js';
import { csvDecoder } from './csv.js';
import type { DecoderFactory } from './decoder.js';
import { jsonDecoder } from './json.js';
import { kvDecoder } from './kv.js';
import { nmeaDecoder } from './nmea.js';
import { senmlDecoder } from './senml.js';

/** Decoders by the `decoder.type` a profile names. */
export const decoders: ReadonlyMap<string, DecoderFactory> = new Map<string, DecoderFactory>(
  [jsonDecoder, csvDecoder, kvDecoder, binaryDecoder, cborDecoder, senmlDecoder, nmeaDecoder]
    .map((d) => [d.type, d as DecoderFactory]),
);
