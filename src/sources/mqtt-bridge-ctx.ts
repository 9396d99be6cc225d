/**
 * The bridge's shared state (`ctx`): what MqttBridgeSource (start, stop, status), its
 * connection stage (BridgeLink, mqtt-bridge-link.ts) and its acknowledgement stage
 * (BridgeAcks, mqtt-bridge-acks.ts) know about the one MQTT.js client. One object, so
 * each stage is built with it instead of a long list of arguments or accessors.
 *
 * Why the stages share a connection number (`link`) and not just `connected`: an
 * acknowledgement must never go out on a later connection than its message's, where
 * the packet identifier may already name another message (identifiers are reusable
 * once acknowledged: MQTT 3.1.1 §2.3.1, MQTT 5 §2.2.1).
 *
 * Call order: createBridgeCtx() once, in the bridge's constructor; the stages then read
 * and write the fields as each field's comment says. Guarantees: plain data, no I/O;
 * `log` is the bridge's one child logger ({ component: 'bridge' }). Errors: none.
 */
import type { MqttClient } from 'mqtt';
import { bridgeClientId, type BridgeConfig } from '../config/bridge-schema.js';
import type { Clock } from '../core/clock.js';
import { LogThrottle } from '../core/log-throttle.js';
import type { Context } from '../core/context.js';
import type { Logger } from '../core/logger.js';
import { InFlight } from './in-flight.js';

/** The counters status() shows; `reconnects` is the link's, the others the acknowledgement stage's. */
export interface BridgeCounts {
  received: number;
  acked: number;
  withheld: number;
  reconnects: number;
}

export interface BridgeCtx {
  readonly clock: Clock;
  readonly log: Logger;
  /** Warnings the site broker's traffic can set off at will, throttled (core/log-throttle.ts). */
  readonly warnings: LogThrottle;
  readonly options: BridgeConfig;
  readonly clientId: string;
  /** The MQTT.js client, once start() made it. */
  client: MqttClient | undefined;
  /** Messages are journaled (start() until stop()); otherwise QoS 1/2 are withheld and QoS 0 dropped. */
  accepting: boolean;
  /** stop() was called: no reconnects, no dropping of connections for a failed commit. */
  stopping: boolean;
  /** Between a CONNACK and the connection's close (BridgeLink; stop() clears it at the end). */
  connected: boolean;
  /** Bumped when a connection closes: acknowledgements never go to a later connection than their message's. */
  link: number;
  /** A commit failed on this connection: it is being dropped, everything else it delivers is withheld. */
  failedLink: number;
  /** The last commit failed (BridgeAcks); BridgeLink keeps the backoff growing while it does. */
  journalFailing: boolean;
  /** Why the current connection is going: logged by BridgeLink when it closes. */
  closeReason: string | null;
  /** The latest error of any stage, for status(). */
  lastError: string | null;
  readonly counts: BridgeCounts;
  /** QoS 1/2 messages submitted and not yet acknowledged or withheld. */
  readonly inflight: InFlight;
  /**
   * Packet identifiers of QoS 2 messages committed and PUBREC'd whose PUBREL has not come
   * (BridgeAcks). Session state (MQTT 3.1.1 / 5 §4.1): kept across reconnects, so a resend
   * after a PUBREC lost with its connection is not journaled again ([MQTT-4.3.3-9]);
   * BridgeLink clears it when the broker has no session for the bridge.
   */
  readonly qos2Received: Set<number>;
}

export function createBridgeCtx(ctx: Context, options: BridgeConfig): BridgeCtx {
  const log = ctx.log.child({ component: 'bridge' });
  return {
    clock: ctx.clock,
    log,
    warnings: new LogThrottle(log, ctx.clock),
    options,
    clientId: bridgeClientId(options, ctx.config.gateway.id),
    client: undefined,
    accepting: false,
    stopping: false,
    connected: false,
    link: 0,
    failedLink: -1,
    journalFailing: false,
    closeReason: null,
    lastError: null,
    counts: { received: 0, acked: 0, withheld: 0, reconnects: 0 },
    inflight: new InFlight(),
    qos2Received: new Set(),
  };
}
