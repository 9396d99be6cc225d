import type { z } from 'zod';

/**
 * A decoder turns payload bytes into documents: plain objects whose fields a device
 * profile's mapping reads (device, time, tags, metrics). A payload may hold many
 * documents (a JSON array, a SenML pack, several frames).
 *
 * Call order: the factory's `create(options)` once per profile at load, after its
 * `options` schema accepted them; then `decode(payload)` any number of times.
 *
 * Guarantees a decoder must keep: decode() is synchronous and pure; for ANY input
 * bytes it returns documents or throws a WeirError (WEIR_DECODE_FAILED or
 * WEIR_WRONG_SHAPE) whose message is the dead-letter reason — nothing else escapes.
 */
export interface Decoder {
  decode(payload: Buffer): unknown[];
}

export interface DecoderFactory<Options = unknown> {
  /** The `decoder.type` a profile names. */
  type: string;
  /** Validates the profile's `decoder` block (without `type`). */
  options: z.ZodType<Options>;
  create(options: Options): Decoder;
}
