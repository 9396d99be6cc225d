import { z } from 'zod';
import { checkAlways } from './fields.js';

/**
 * The `bridge` config section: Weir as a client of a site MQTT broker (e.g. Mosquitto)
 * that devices publish to — the way in for MQTT 5 devices, since the embedded broker
 * speaks 3.1.1 only. Weir subscribes with a persistent session and acknowledges each
 * message to the site broker only after its readings are committed to the journal, so
 * what the site broker handed over survives a crash of the gateway.
 */

const MAX_UINT32 = 0xffff_ffff;

/**
 * An MQTT topic filter (MQTT 5 §4.7.1, 3.1.1 §4.7.1): non-empty, no NUL, `+` and `#`
 * only as a whole level, `#` only last. `$share/<group>/<filter>` is a shared subscription.
 */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'must not be empty';
  if (filter.includes('\u0000')) return 'must not contain NUL';
  if (Buffer.byteLength(filter) > 65535) return 'must be at most 65535 bytes';
  let levels = filter.split('/');
  if (levels[0] === '$share') {
    if (levels.length < 3 || !levels[1] || /[+#]/.test(levels[1])) return 'a shared subscription is $share/<group>/<filter>';
    levels = levels.slice(2);
  }
  for (const [i, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return '"#" must be a whole level, and the last one';
    if (level.includes('+') && level !== '+') return '"+" must be a whole level';
  }
  return undefined;
}

const topicFilter = z.string().superRefine((f, ctx) => {
  const problem = topicFilterProblem(f);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A site broker address: mqtt://host[:port] or mqtts://host[:port]; credentials belong in username/password, not in the URL (it is shown in status). */
function urlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'must be a URL such as mqtt://broker.local:1883';
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') return 'must start with mqtt:// or mqtts://';
  if (!u.hostname) return 'must name a host';
  if (u.username || u.password) return 'must not carry credentials (it is shown in status and logs): use bridge.username and bridge.password';
  if ((u.pathname && u.pathname !== '/') || u.search || u.hash) return 'must be just mqtt[s]://host[:port]';
  return undefined;
}

const subscription = z.strictObject({
  filter: topicFilter.describe('Topic filter to subscribe to on the site broker, e.g. site/+/temp or sensors/#.'),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1)
    .describe('Subscription QoS. 1 (default) or 2: each message is acknowledged to the site broker only after its commit, so none is lost. 0: the site broker forgets a message once sent, so one in flight at a crash is lost.'),
  topicPrefix: z.string().refine((p) => !/[+#]/.test(p) && !p.includes('\u0000'), 'must not contain "+", "#" or NUL').optional()
    .describe('Prepended to the topic of each message of this subscription before device profiles are matched, e.g. "site-a/" (include the "/" yourself).'),
});

const bridge = z.strictObject({
  enabled: z.boolean().default(false).describe('Subscribe to a site MQTT broker and ingest what it delivers.'),
  url: z.string().default('')
    .describe('The site broker: mqtt://host[:port] (default port 1883) or mqtts://host[:port] (8883). Required when enabled.'),
  protocolVersion: z.union([z.literal(5), z.literal(4)]).default(5)
    .describe('MQTT version to speak to the site broker: 5 (MQTT 5.0) or 4 (MQTT 3.1.1).'),
  clientId: z.string().max(256).default('')
    .describe('Client id at the site broker. The persistent session is keyed by it, so it must stay the same across restarts and be unique per gateway. Default (empty): weir-<gateway.id>.'),
  username: z.string().default('').describe('User name for the site broker (empty: none).'),
  password: z.string().default('').describe('Password for the site broker (empty: none). Never logged; prefer $WEIR_BRIDGE_PASSWORD to writing it here.'),
  subscriptions: z.array(subscription).default([])
    .describe('What to subscribe to. A message matching several filters is ingested once per copy the broker sends; the first listed filter that matches gives the topicPrefix. The persistent session keeps its subscriptions: at a start, filters removed from this list are unsubscribed and only new or changed ones are subscribed (recorded in <dataDir>/bridge-session.json).'),
  sessionExpirySeconds: z.number().int().min(1).max(MAX_UINT32).default(7 * 24 * 3600)
    .describe('MQTT 5: how long the site broker keeps the session (subscriptions and queued messages) while the gateway is away (4294967295: for ever). MQTT 3.1.1 sessions last until the broker drops them (mosquitto: persistent_client_expiration).'),
  keepaliveSeconds: z.number().int().min(0).max(65535).default(30)
    .describe('MQTT keep-alive: a dead link is noticed within 1.5x this (0: never).'),
  connectTimeoutMs: z.number().int().positive().default(10000).describe('How long a connection attempt may wait for the CONNACK.'),
  reconnectMinMs: z.number().int().positive().default(500)
    .describe('First reconnect delay after the link to the site broker is lost; doubles up to reconnectMaxMs, with full jitter.'),
  reconnectMaxMs: z.number().int().positive().default(30000).describe('Longest reconnect delay.'),
  maxPayloadBytes: z.number().int().positive().default(64 * 1024)
    .describe('Larger payloads are dead-lettered (WEIR_PAYLOAD_TOO_LARGE). MQTT 5: packets over 4x this plus 64 KiB are refused by Maximum Packet Size (the site broker drops them).'),
});

/** Cross-field rules of the bridge block. */
function checkBridge(b: { enabled: unknown; url: unknown; reconnectMinMs: unknown; reconnectMaxMs: unknown; subscriptions: unknown }, ctx: z.RefinementCtx): void {
  if (typeof b.reconnectMinMs === 'number' && typeof b.reconnectMaxMs === 'number' && b.reconnectMinMs > b.reconnectMaxMs) {
    ctx.addIssue({ code: 'custom', path: ['reconnectMinMs'], message: `must not exceed reconnectMaxMs (${b.reconnectMaxMs})` });
  }
  if (typeof b.url === 'string' && b.url !== '') {
    const problem = urlProblem(b.url);
    if (problem) ctx.addIssue({ code: 'custom', path: ['url'], message: problem });
  }
  if (b.enabled !== true) return;
  if (b.url === '') ctx.addIssue({ code: 'custom', path: ['url'], message: 'is required when the bridge is enabled' });
  if (Array.isArray(b.subscriptions) && b.subscriptions.length === 0) ctx.addIssue({ code: 'custom', path: ['subscriptions'], message: 'needs at least one subscription when the bridge is enabled' });
}

export const bridgeConfigSchema = bridge.superRefine(checkBridge, checkAlways);

export type BridgeConfig = z.infer<typeof bridgeConfigSchema>;
export type BridgeConfigInput = z.input<typeof bridgeConfigSchema>;
export type BridgeSubscription = z.infer<typeof subscription>;

/** The client id the bridge uses: the configured one, else weir-<gateway id> (stable across restarts). */
export function bridgeClientId(bridge: Pick<BridgeConfig, 'clientId'>, gatewayId: string): string {
  return bridge.clientId || `weir-${gatewayId}`;
}
