import { z } from 'zod';
import { hostPortProblem } from '../core/host-port.js';

/** Field types the config sections share (schema.ts and the per-source schemas). */

export const port = z.number().int().min(0).max(65535);
/**
 * An address to bind to, as the socket API takes it: an IPv6 one without brackets (::,
 * ::1). Brackets belong to URLs and host:port (RFC 3986 §3.2.2); listen() looks
 * "[::1]" up as a name and fails at start (ENOTFOUND), so `weir check` says it first.
 */
export const host = z.string().min(1).refine((h) => !h.startsWith('['), 'an IPv6 address is written here without brackets, e.g. :: or ::1');

/** A `host:port` to connect to; an IPv6 host in brackets, [::1]:9092 (host-port.ts). */
export const hostPort = z.string().superRefine((s, ctx) => {
  const problem = hostPortProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A name that is safe as a Kafka header value and one MQTT topic level: gateway ids, serial port names. */
export const shortName = z.string().regex(/^[a-zA-Z0-9._-]{1,64}$/, 'must be 1–64 characters of a-z A-Z 0-9 . _ -');

/**
 * For the cross-field checks (superRefine) of a block: zod skips them once any key of
 * the block has the wrong type, so `weir check` would show their problems only on the
 * next run, after that fix. With this they run whenever the block is an object or a
 * list; any key may then hold a value of the wrong type, so a check tests the types
 * of the keys it compares.
 */
export const checkAlways = { when: (payload: { value: unknown }) => payload.value !== null && typeof payload.value === 'object' };

/** A key of a block that may not have parsed (see checkAlways). */
export function keyOf(block: unknown, key: string): unknown {
  return block !== null && typeof block === 'object' ? (block as Record<string, unknown>)[key] : undefined;
}
