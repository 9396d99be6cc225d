/**
 * The MQTT bridge source: start() makes the MQTT.js client and wires its hooks to the
 * two stages, stop() ends the session's use for this run, status() reports. The
 * stages share one BridgeCtx (mqtt-bridge-ctx.ts):
 * - BridgeLink (mqtt-bridge-link.ts): CONNACK, SUBACK, DISCONNECT, close; subscribing
 *   and reconnecting with backoff;
 * - BridgeAcks (mqtt-bridge-acks.ts): each PUBLISH into ingest, acknowledged after
 *   commit.
 *
 * Call order: start() once, then stop() (any time, also while start() is loading
 * MQTT.js); status() any time. Errors: start() rejects only for an unusable config.
 */
import type { IPublishPacket } from 'mqtt';
import type { BridgeConfig } from '../config/bridge-schema.js';
import type { Context } from '../core/context.js';
import type { Ingest } from '../ingest/ingest.js';
import { BridgeAcks, type AckCallback } from './mqtt-bridge-acks.js';
import { createBridgeCtx, type BridgeCtx } from './mqtt-bridge-ctx.js';
import { BridgeLink } from './mqtt-bridge-link.js';
import { clientOptions } from './mqtt-bridge-options.js';
import { SessionRecord } from './mqtt-bridge-session.js';
import type { Source } from './source.js';

/** stop(): the longest wait for in-flight commits, then for the DISCONNECT to go out. */
const STOP_WAIT_MS = 10_000;

/**
 * The bridge: Weir as a subscriber of a site MQTT broker (MQTT 5 or 3.1.1), feeding
 * what it delivers into ingest like a device's PUBLISH.
 *
 * Persistent session: clean start / clean session = false with a stable client id
 * (MQTT 5: plus a session expiry), so the site broker queues messages while the
 * gateway is away and redelivers the unacknowledged ones when it comes back.
 *
 * Acknowledge after commit: MQTT.js calls `options.customHandleAcks` for every QoS 1
 * and 2 PUBLISH and sends the PUBACK (PUBREC for QoS 2) only when its callback gets a
 * reason code. The readings are submitted to ingest right there and the callback is
 * called once the journal committed them. MQTT.js handles one incoming packet at a
 * time and takes the next only after that callback, so submissions follow arrival
 * order exactly (per-topic order, [MQTT-4.6.0]) and acknowledgements do too. That
 * also means one message in flight at a time: the journal's group commit cannot
 * batch across messages on this path. (Only customHandleAcks can delay the PUBREC of
 * QoS 2; handleMessage runs at PUBREL, after it. MQTT.js documents customHandleAcks
 * as MQTT 5 only and its constructor drops it for 3.1.1, but its publish handler
 * calls `client.options.customHandleAcks` for both, so it is set after construction.)
 *
 * A failed commit is never acknowledged. MQTT has no negative acknowledgement that
 * makes the broker send again (an MQTT 5 PUBACK with an error reason code completes
 * the delivery just the same), and a broker redelivers an unacknowledged message only
 * when the session is resumed on a new connection ([MQTT-4.4.0-1]). So the connection
 * is dropped and re-established with backoff; everything that arrived after the
 * failed message on that connection is withheld too, or it could be journaled ahead
 * of the failed one when that one comes back.
 */
export class MqttBridgeSource implements Source {
  readonly name = 'bridge';
  private readonly ctx: BridgeCtx;
  private readonly session: SessionRecord;
  private readonly link: BridgeLink;
  private readonly acks: BridgeAcks;

  constructor(ctx: Context, ingest: Ingest, options: BridgeConfig) {
    this.ctx = createBridgeCtx(ctx, options);
    this.session = new SessionRecord(ctx.config.dataDir, options.url, this.ctx.clientId, this.ctx.log);
    this.link = new BridgeLink(this.ctx, this.session);
    this.acks = new BridgeAcks(this.ctx, ingest);
  }

  /**
   * Connects and subscribes. Resolves once subscribed, or after the first attempt
   * failed: a site broker that is down must not keep the gateway from starting; the
   * bridge keeps trying in the background. Rejects only for an unusable config.
   */
  async start(): Promise<void> {
    const c = this.ctx;
    // MQTT.js is imported here, not at the top: a gateway without a bridge (the
    // default) need not load it (0.8 MB less heap at idle, measured).
    const { default: mqtt } = await import('mqtt');
    if (c.stopping) return; // stop() came while it loaded
    this.session.load();
    const client = mqtt.connect(c.options.url, clientOptions(c.options, c.clientId));
    c.client = client;
    // MQTT 5 topic aliases are not enabled (no Topic Alias Maximum), so packet.topic is the topic MQTT.js passes.
    client.options.customHandleAcks = (_topic: string, _payload: Buffer, packet: IPublishPacket, ack: AckCallback) =>
      this.acks.onAckable(packet, ack);
    client.handleMessage = (packet, callback) => {
      if (packet.qos === 0) this.acks.onQos0(packet);
      // QoS 1 and 2 were journaled in customHandleAcks; here only the PUBACK / PUBCOMP remains.
      callback();
    };
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'pubrel') this.acks.onPubrel(packet.messageId);
    });
    client.on('connect', (connack) => this.link.onConnect(client, connack));
    client.on('close', () => this.link.onClose(client));
    client.on('error', (err) => this.link.onError(err));
    client.on('disconnect', (packet) => this.link.onDisconnect(packet));
    c.accepting = true;
    const first = this.link.firstAttemptDone();
    client.connect();
    await first;
  }

  status(): Record<string, unknown> {
    const c = this.ctx;
    return {
      url: c.options.url,
      clientId: c.clientId,
      protocolVersion: c.options.protocolVersion,
      connected: c.connected,
      ...this.link.status(),
      received: c.counts.received,
      acked: c.counts.acked,
      withheld: c.counts.withheld,
      inflight: c.inflight.count,
      reconnects: c.counts.reconnects,
      lastError: c.lastError,
    };
  }

  /**
   * Stops taking messages (later ones are withheld: the site broker keeps them in the
   * session), lets in-flight commits finish and acknowledges them, then sends
   * DISCONNECT — which keeps the session (MQTT 5: no Session Expiry override).
   */
  async stop(): Promise<void> {
    const c = this.ctx;
    if (c.stopping) return;
    c.stopping = true;
    const client = c.client;
    if (!client) return; // never started, or start() is still loading MQTT.js and will see `stopping`
    c.accepting = false;
    this.link.cancelReconnect();
    this.link.settleStart();
    if (c.inflight.count > 0 && c.connected) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([c.inflight.drained(), new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => {
      // A broker that never closes its side after DISCONNECT: drop the socket.
      const timer = setTimeout(() => {
        client.stream?.destroy();
        resolve();
      }, STOP_WAIT_MS);
      client.end(!client.connected, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    c.connected = false;
    c.log.info({ received: c.counts.received, acked: c.counts.acked }, 'bridge stopped');
  }
}
