import { z } from 'zod';

/** Field types the config sections share (schema.ts and the per-source schemas). */

export const port = z.number().int().min(0).max(65535);
export const host = z.string().min(1);

/** A name that is safe as a Kafka header value and one MQTT topic level: gateway ids, serial port names. */
export const shortName = z.string().regex(/^[a-zA-Z0-9._-]{1,64}$/, 'must be 1–64 characters of a-z A-Z 0-9 . _ -');
