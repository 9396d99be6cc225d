import type { IClientOptions, ISubscriptionMap } from 'mqtt';
import type { BridgeConfig, BridgeSubscription } from '../config/bridge-schema.js';
import { packetCap } from './mqtt-packet-guard.js';

/**
 * The largest packet MQTT can carry: 1 byte of fixed header, 4 of Remaining Length and
 * at most 268,435,455 after them (MQTT 5 §2.1.4, 3.1.1 §2.2.3). A larger Maximum Packet
 * Size means nothing, and from 4 GiB on it does not fit its four-byte integer (MQTT 5
 * §2.2.2.2): mqtt-packet then refuses the CONNECT and the bridge could never connect.
 */
export const MQTT_MAX_PACKET = 268_435_460;

/**
 * MQTT.js options for the bridge's persistent session: clean start / clean session
 * off with a stable client id (MQTT 5: plus a Session Expiry Interval), so the site
 * broker keeps the subscriptions and queues messages while the gateway is away.
 * Reconnecting and resubscribing are the bridge's own (backoff with jitter; a 3.1.1
 * session the broker lost is resubscribed too, which MQTT.js would not do).
 */
export function clientOptions(o: BridgeConfig, clientId: string): IClientOptions {
  return {
    clientId,
    protocolVersion: o.protocolVersion,
    clean: false,
    keepalive: o.keepaliveSeconds,
    connectTimeout: o.connectTimeoutMs,
    reconnectPeriod: 0,
    resubscribe: false,
    manualConnect: true,
    username: o.username || undefined,
    password: o.password || undefined,
    properties: o.protocolVersion === 5
      ? { sessionExpiryInterval: o.sessionExpirySeconds, maximumPacketSize: Math.min(packetCap(o.maxPayloadBytes), MQTT_MAX_PACKET) }
      : undefined,
  };
}

/** The SUBSCRIBE of `subs` (default: every configured filter). MQTT 5 rh=1: retained messages only for a new subscription, not again at each start (§3.8.3.1). */
export function subscriptionMap(o: BridgeConfig, subs: readonly BridgeSubscription[] = o.subscriptions): ISubscriptionMap {
  const map: ISubscriptionMap = {};
  for (const s of subs) map[s.filter] = o.protocolVersion === 5 ? { qos: s.qos, rh: 1 } : { qos: s.qos };
  return map;
}

/**
 * Whether `topic` matches the MQTT topic filter `filter` (MQTT 5 §4.7): `+` is one
 * level, a final `#` is any number of levels (zero included: `a/#` matches `a`), and
 * a filter starting with a wildcard does not match a topic starting with `$`
 * ([MQTT-4.7.2-1]). A shared subscription's `$share/<group>/` is skipped.
 */
export function topicMatches(filter: string, topic: string): boolean {
  let f = filter.split('/');
  if (f[0] === '$share') f = f.slice(2);
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

/**
 * The topic device profiles see for a message the site broker delivered on `topic`:
 * the topicPrefix of the first subscription whose filter matches, prepended.
 */
export function profileTopic(subscriptions: readonly BridgeSubscription[], topic: string): string {
  for (const s of subscriptions) {
    if (topicMatches(s.filter, topic)) return s.topicPrefix ? s.topicPrefix + topic : topic;
  }
  return topic;
}
