import type { IConnackPacket, IPublishPacket, MqttClient } from 'mqtt';
import { bridgeClientId, type BridgeConfig } from '../config/bridge-schema.js';
import type { Context } from '../core/context.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { backoffDelay } from '../forwarder/backoff.js';
import type { Delivery, Ingest } from '../ingest/ingest.js';
import { clientOptions, profileTopic, subscriptionMap } from './mqtt-bridge-options.js';
import type { Source } from './source.js';
import { InFlight } from './in-flight.js';

/** stop(): the longest wait for in-flight commits, then for the DISCONNECT to go out. */
const STOP_WAIT_MS = 10_000;

/** Given to MQTT.js instead of an acknowledgement: the message stays unacknowledged at the site broker. */
class AckWithheld extends Error {
  constructor() {
    super('acknowledgement withheld: not committed');
  }
}

/** MQTT.js's customHandleAcks callback: a reason code (0: success) sends PUBACK/PUBREC, an Error sends nothing. */
type AckCallback = (errorOrCode: Error | number) => void;

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
  private readonly log: Logger;
  private readonly clientId: string;
  /** Delivery.client: the site broker, as the publisher is not known through it. */
  private readonly sender: string;
  private client: MqttClient | undefined;
  private accepting = false;
  private stopping = false;
  private connected = false;
  private sessionPresent: boolean | null = null;
  /** A SUBACK granted the subscriptions during this run (a new filter in the config needs a new SUBSCRIBE). */
  private subscribed = false;
  /** Bumped when a connection closes: acknowledgements never go to a later connection than their message's. */
  private link = 0;
  /** A commit failed on this connection: it is being dropped, everything else it delivers is withheld. */
  private failedLink = -1;
  private journalFailing = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Since when the link is down (the one "down" log line), or null while up. */
  private downSince: number | null = null;
  private closeReason: string | null = null;
  private lastError: string | null = null;
  private readonly counts = { received: 0, acked: 0, withheld: 0, reconnects: 0 };
  /** QoS 1/2 messages submitted and not yet acknowledged or withheld. */
  private readonly inflight = new InFlight();
  private firstAttempt: (() => void) | null = null;
  private everConnected = false;

  constructor(private readonly ctx: Context, private readonly ingest: Ingest, private readonly options: BridgeConfig) {
    this.log = ctx.log.child({ component: 'bridge' });
    this.clientId = bridgeClientId(options, ctx.config.gateway.id);
    let host = options.url;
    try {
      host = new URL(options.url).host;
    } catch { /* the schema checked it; start() reports what MQTT.js makes of it */ }
    this.sender = `bridge:${host}`;
  }

  /**
   * Connects and subscribes. Resolves once subscribed, or after the first attempt
   * failed: a site broker that is down must not keep the gateway from starting; the
   * bridge keeps trying in the background. Rejects only for an unusable config.
   */
  async start(): Promise<void> {
    // MQTT.js is imported here, not at the top: a gateway without a bridge (the
    // default) need not load it (0.8 MB less heap at idle, measured).
    const { default: mqtt } = await import('mqtt');
    if (this.stopping) return; // stop() came while it loaded
    const client = mqtt.connect(this.options.url, clientOptions(this.options, this.clientId));
    this.client = client;
    client.options.customHandleAcks = (topic: string, payload: Buffer, _packet: IPublishPacket, ack: AckCallback) =>
      this.onAckable(topic, payload, ack);
    client.handleMessage = (packet, callback) => {
      if (packet.qos === 0) this.onQos0(packet);
      // QoS 1 and 2 were journaled in customHandleAcks; here only the PUBACK / PUBCOMP remains.
      callback();
    };
    client.on('connect', (connack) => this.onConnect(client, connack));
    client.on('close', () => this.onClose(client));
    client.on('error', (err) => {
      if (err instanceof AckWithheld) return;
      this.closeReason = this.lastError = describeError(err);
      this.log.debug({ err: this.lastError }, 'site broker connection error');
    });
    client.on('disconnect', (packet) => {
      this.closeReason = this.lastError = `site broker sent DISCONNECT (reason code ${packet.reasonCode ?? 0}${packet.properties?.reasonString ? `: ${packet.properties.reasonString}` : ''})`;
    });
    this.accepting = true;
    const first = new Promise<void>((resolve) => (this.firstAttempt = resolve));
    client.connect();
    await first;
  }

  private settleStart(): void {
    this.firstAttempt?.();
    this.firstAttempt = null;
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    this.connected = true;
    const resumed = connack.sessionPresent;
    this.sessionPresent = resumed;
    if (!this.journalFailing) this.attempt = 0;
    const now = this.ctx.clock.now();
    const wasDown = this.downSince !== null;
    if (wasDown) {
      this.log.info({ url: this.options.url, downMs: now - this.downSince!, attempts: this.counts.reconnects, sessionPresent: resumed }, 'site broker link back up');
    } else if (!this.everConnected) {
      this.log.info({ url: this.options.url, clientId: this.clientId, sessionPresent: resumed }, 'connected to the site broker');
    } else {
      this.log.debug({ sessionPresent: resumed }, 'reconnected to the site broker after a journal failure');
    }
    this.everConnected = true;
    this.downSince = null;
    this.closeReason = null;
    // No session: the broker lost or expired it (or this id is new), so it has no subscriptions and queued nothing.
    if (!resumed && this.subscribed) this.log.warn({ clientId: this.clientId }, 'site broker had no session for the bridge: messages published while the gateway was away may be lost; subscribing again');
    if (!resumed || !this.subscribed) this.subscribe(client);
    else this.settleStart();
  }

  private subscribe(client: MqttClient): void {
    const map = subscriptionMap(this.options);
    client.subscribe(map, (err, granted) => {
      if (err) {
        // The connection went before the SUBACK; the next one subscribes again.
        this.lastError = `subscribe failed: ${describeError(err)}`;
        this.log.warn({ err: this.lastError }, 'site broker subscription failed');
      } else {
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        const downgraded = (granted ?? []).filter((g) => g.qos !== 128 && g.qos < (map[g.topic]?.qos ?? 0)).map((g) => `${g.topic} (QoS ${g.qos})`);
        if (refused.length > 0) {
          this.lastError = `site broker refused subscriptions: ${refused.join(', ')}`;
          this.log.error({ refused }, this.lastError);
        }
        if (downgraded.length > 0) this.log.warn({ downgraded }, 'site broker granted a lower QoS than configured: QoS 0 messages are lost if the gateway crashes');
        this.subscribed = true;
      }
      this.settleStart();
    });
  }

  private onClose(client: MqttClient): void {
    const droppedByUs = this.link === this.failedLink;
    this.link++;
    this.connected = false;
    // Messages of this connection can no longer be acknowledged: stop() need not wait for them.
    if (this.stopping) this.inflight.release();
    if (this.stopping || client.disconnecting || client !== this.client) return;
    // Dropped after a journal failure: that was logged, and the site broker is fine.
    if (this.downSince === null && !droppedByUs) {
      this.downSince = this.ctx.clock.now();
      this.log.warn({ url: this.options.url, reason: this.closeReason ?? 'connection closed' }, 'site broker link down; reconnecting with backoff');
    }
    this.settleStart();
    if (this.reconnectTimer) return;
    const delay = backoffDelay(this.attempt++, this.options.reconnectMinMs, this.options.reconnectMaxMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stopping) return;
      this.counts.reconnects++;
      client.reconnect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private delivery(topic: string, payload: Buffer | string): Delivery {
    return {
      protocol: 'mqtt',
      topic: profileTopic(this.options.subscriptions, topic),
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      client: this.sender,
      maxBytes: this.options.maxPayloadBytes,
      // MQTT.js hands over the next message only once this one is acknowledged.
      eager: true,
    };
  }

  private onQos0(packet: IPublishPacket): void {
    this.counts.received++;
    if (!this.accepting) return; // nothing to withhold: the site broker has already forgotten it
    this.ingest.submit(this.delivery(packet.topic, packet.payload), (err) => {
      if (err) this.log.warn({ topic: packet.topic, err: describeError(err) }, 'QoS 0 message lost: journal refused it');
    });
  }

  /** A QoS 1 or 2 PUBLISH: journal it, and acknowledge only once committed. */
  private onAckable(topic: string, payload: Buffer, ack: AckCallback): void {
    this.counts.received++;
    const link = this.link;
    // Not acknowledged, so the site broker redelivers it: when stopping (to the next run),
    // after a failed commit on this connection, and for packets MQTT.js still had parsed
    // when the connection closed (an acknowledgement would wait for the next connection).
    if (!this.accepting || !this.connected || link === this.failedLink) return this.withhold(ack);
    this.inflight.begin();
    let called = false;
    const done = (err: Error | null) => {
      if (called) return;
      called = true;
      if (err) this.commitFailed(err, link);
      // A closed connection's acknowledgement would go out on the next one (MQTT.js
      // queues packets while offline), where the packet id may be another message's.
      if (err || link !== this.link) this.withhold(ack);
      else {
        if (this.journalFailing) this.log.info('journal commits again; bridged messages are acknowledged');
        this.journalFailing = false;
        this.counts.acked++;
        ack(0);
      }
      this.inflight.end();
    };
    try {
      this.ingest.submit(this.delivery(topic, payload), done);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private withhold(ack: AckCallback): void {
    this.counts.withheld++;
    ack(new AckWithheld());
  }

  private commitFailed(err: Error, link: number): void {
    this.lastError = `journal: ${describeError(err)}`;
    if (!this.journalFailing) this.log.warn({ err: this.lastError }, 'journal refused a bridged message: not acknowledged; reconnecting so the site broker redelivers it');
    this.journalFailing = true;
    if (link !== this.link || link === this.failedLink || this.stopping) return;
    this.failedLink = link;
    this.closeReason = this.lastError;
    this.client?.stream.destroy();
  }

  status(): Record<string, unknown> {
    return {
      url: this.options.url,
      clientId: this.clientId,
      protocolVersion: this.options.protocolVersion,
      connected: this.connected,
      sessionPresent: this.sessionPresent,
      subscribed: this.subscribed,
      received: this.counts.received,
      acked: this.counts.acked,
      withheld: this.counts.withheld,
      inflight: this.inflight.count,
      reconnects: this.counts.reconnects,
      lastError: this.lastError,
    };
  }

  /**
   * Stops taking messages (later ones are withheld: the site broker keeps them in the
   * session), lets in-flight commits finish and acknowledges them, then sends
   * DISCONNECT — which keeps the session (MQTT 5: no Session Expiry override).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const client = this.client;
    if (!client) return; // never started, or start() is still loading MQTT.js and will see `stopping`
    this.accepting = false;
    clearTimeout(this.reconnectTimer);
    this.settleStart();
    if (this.inflight.count > 0 && this.connected) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.inflight.drained(), new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
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
    this.connected = false;
    this.log.info({ received: this.counts.received, acked: this.counts.acked }, 'bridge stopped');
  }
}
