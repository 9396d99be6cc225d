import { z } from 'zod';
import { host, port } from './fields.js';

/**
 * The `coap` config section: the CoAP server devices POST/PUT readings to (RFC 7252,
 * block-wise per RFC 7959), and the observable devices Weir subscribes to (RFC 7641).
 * Same style as schema.ts: every key described, every leaf defaulted.
 */

/** Silence after which an observation is registered again. */
export const DEFAULT_REREGISTER_SECONDS = 120;

/** A `coap://host[:port]/path[?query]` URL (RFC 7252 §6.1); no fragment (§6.1 forbids one). */
const coapUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return u.protocol === 'coap:' && u.hostname !== '' && u.hash === '';
  } catch {
    return false;
  }
}, 'must be a coap://host[:port]/path URL (coaps is not supported)');

const observeTargetSchema = z.strictObject({
  url: coapUrl.describe('The observable resource, e.g. coap://10.0.0.7/sensors/temp (port defaults to 5683).'),
  profilePath: z.string().min(1).optional()
    .describe("The path device profiles match its notifications on (protocol coap). Default: the URL's path."),
  reregisterAfterSeconds: z.number().int().positive().default(DEFAULT_REREGISTER_SECONDS)
    .describe('Re-register (new GET with Observe=0) after this long without a notification: the device may have rebooted and forgotten Weir (RFC 7641 §3.3.1).'),
});

export const coapConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the CoAP server (UDP).'),
  host: host.default('0.0.0.0').describe('Address the CoAP server binds to (an IPv6 address binds a udp6 socket).'),
  port: port.default(5683).describe('CoAP port (UDP), RFC 7252 §6.1 default 5683.'),
  maxPayloadBytes: z.number().int().positive().default(64 * 1024)
    .describe('Largest request payload, whole or reassembled from Block1 blocks; larger ones are answered 4.13 with Size1 (RFC 7959 §2.9.3).'),
  observe: z.array(z.union([coapUrl, observeTargetSchema])).default([])
    .describe('Observable device resources to subscribe to (RFC 7641): a URL, or {url, profilePath, reregisterAfterSeconds}. From the environment: comma-separated URLs.'),
});

export type CoapConfig = z.infer<typeof coapConfigSchema>;
export type CoapConfigInput = z.input<typeof coapConfigSchema>;

/** One observe target with every default filled in. */
export interface ObserveTarget {
  url: string;
  profilePath: string;
  reregisterAfterSeconds: number;
}

/** A config entry (URL string or object) as a complete target; profilePath defaults to the URL's path. */
export function observeTarget(entry: CoapConfig['observe'][number]): ObserveTarget {
  const t = typeof entry === 'string' ? { url: entry, reregisterAfterSeconds: DEFAULT_REREGISTER_SECONDS } : entry;
  const path = decodeURIComponent(new URL(t.url).pathname) || '/';
  return { url: t.url, profilePath: t.profilePath ?? path, reregisterAfterSeconds: t.reregisterAfterSeconds };
}
