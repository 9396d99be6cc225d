/**
 * The bridge's connection stage: what happens at each CONNACK, SUBACK, UNSUBACK,
 * DISCONNECT, error and close of the connection to the site broker. It brings the
 * session's subscriptions in line with the config — subscribes the configured filters
 * the session lacks, unsubscribes those it holds and the config no longer names (both
 * known from the session record, mqtt-bridge-session.ts) —, reconnects with
 * exponential backoff and full jitter (reset once a connection held for
 * reconnectMaxMs; MQTT.js's own reconnect and resubscribe are off: see
 * clientOptions()), logs once when the link goes down and once when it is back, and
 * settles start()'s wait for the first attempt.
 *
 * Why subscribe by Session Present and the record, not at every start: a resumed
 * session keeps its subscriptions (MQTT 3.1.1 §3.2.2.2, MQTT 5 §3.2.2.1.1), and a
 * SUBSCRIBE replacing one makes an MQTT 3.1.1 broker send the filter's retained
 * messages again (§3.8.4), which would be journaled and forwarded once per restart.
 * (MQTT 5 asks for Retain Handling 1 instead, §3.8.3.1: retained messages only for a
 * new subscription.) So a SUBSCRIBE goes out only for filters the broker lost with its
 * session, new in the config, with a changed QoS, or not recorded (a record lost, or
 * one written by another client id or for another broker).
 *
 * Call order: firstAttemptDone() before client.connect(); then onConnect(),
 * onClose(), onError() and onDisconnect() from the client's events; settleStart() and
 * cancelReconnect() from stop(). Guarantees: at most one reconnect timer; none is
 * armed while or after stopping, or for a connection the bridge closed itself
 * (client.disconnecting) or a client other than ctx.client; the first-attempt promise
 * resolves exactly once. Errors: none thrown; connection and subscription errors go
 * to ctx.lastError and the log; a filter the SUBACK refuses (0x80 and up) is logged as
 * an error naming it, once per SUBSCRIBE.
 */
import type { IConnackPacket, IDisconnectPacket, MqttClient } from 'mqtt';
import type { BridgeSubscription } from '../config/bridge-schema.js';
import { describeError } from '../core/errors.js';
import { backoffDelay } from '../forwarder/backoff.js';
import { AckWithheld } from './mqtt-bridge-acks.js';
import type { BridgeCtx } from './mqtt-bridge-ctx.js';
import { subscriptionMap } from './mqtt-bridge-options.js';
import type { SessionRecord } from './mqtt-bridge-session.js';

export class BridgeLink {
  private sessionPresent: boolean | null = null;
  /** The session holds the configured subscriptions (a SUBACK granted them, or the record says it already did). */
  private subscribed = false;
  /** Filters the site broker refused during this run: a broker setting (an ACL) to fix, not retried until the session is lost. */
  private readonly refused = new Set<string>();
  private attempt = 0;
  /** Since when (monotonic) the current connection is up, or null while down. */
  private upSince: number | null = null;
  /** Cancels the armed reconnect (the context's clock), or null when none is armed. */
  private cancelTimer: (() => void) | null = null;
  /** Since when the link is down (the one "down" log line), or null while up. */
  private downSince: number | null = null;
  private firstAttempt: (() => void) | null = null;
  private everConnected = false;

  constructor(private readonly ctx: BridgeCtx, private readonly session: SessionRecord) {}

  /** Resolves at settleStart(): once subscribed, or after the first attempt failed, or at stop(). */
  firstAttemptDone(): Promise<void> {
    return new Promise<void>((resolve) => (this.firstAttempt = resolve));
  }

  settleStart(): void {
    this.firstAttempt?.();
    this.firstAttempt = null;
  }

  /** stop(): no reconnect after this. */
  cancelReconnect(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
  }

  status(): { sessionPresent: boolean | null; subscribed: boolean } {
    return { sessionPresent: this.sessionPresent, subscribed: this.subscribed };
  }

  onError(err: Error): void {
    if (err instanceof AckWithheld) return;
    const c = this.ctx;
    c.closeReason = c.lastError = describeError(err);
    c.log.debug({ err: c.lastError }, 'site broker connection error');
  }

  onDisconnect(packet: IDisconnectPacket): void {
    this.ctx.closeReason = this.ctx.lastError = `site broker sent DISCONNECT (reason code ${packet.reasonCode ?? 0}${packet.properties?.reasonString ? `: ${packet.properties.reasonString}` : ''})`;
  }

  onConnect(client: MqttClient, connack: IConnackPacket): void {
    const c = this.ctx;
    c.connected = true;
    const resumed = connack.sessionPresent;
    this.sessionPresent = resumed;
    this.upSince = c.clock.monotonic();
    const now = c.clock.now();
    const wasDown = this.downSince !== null;
    if (wasDown) {
      c.log.info({ url: c.options.url, downMs: now - this.downSince!, attempts: c.counts.reconnects, sessionPresent: resumed }, 'site broker link back up');
    } else if (!this.everConnected) {
      c.log.info({ url: c.options.url, clientId: c.clientId, sessionPresent: resumed }, 'connected to the site broker');
    } else {
      c.log.debug({ sessionPresent: resumed }, 'reconnected to the site broker after a journal failure');
    }
    this.everConnected = true;
    this.downSince = null;
    c.closeReason = null;
    // No session: the broker lost or expired it (or this id is new), so it has no subscriptions and queued nothing.
    // Our session state goes too ([MQTT-3.2.2-5]): its packet identifiers now name new messages.
    if (!resumed) {
      c.qos2Received.clear();
      this.refused.clear();
      const hadFilters = this.session.clear();
      if (hadFilters || this.subscribed) c.log.warn({ clientId: c.clientId }, 'site broker had no session for the bridge: messages published while the gateway was away may be lost; subscribing again');
    }
    const configured = c.options.subscriptions;
    const removed = this.session.removed(configured);
    const wanted = this.session.missing(configured).filter((s) => !this.refused.has(s.filter));
    if (removed.length === 0 && wanted.length === 0) {
      this.subscribed = true;
      return this.settleStart();
    }
    const done = this.afterAll(2);
    this.unsubscribe(client, removed, done);
    this.subscribe(client, wanted, done);
  }

  /** A callback that settles start()'s wait on its `n`th call: once the SUBSCRIBE and the UNSUBSCRIBE are answered (or failed). */
  private afterAll(n: number): () => void {
    return () => {
      if (--n === 0) this.settleStart();
    };
  }

  /**
   * Filters of the session that the config no longer names: unsubscribed (MQTT 3.1.1 /
   * 5 §3.10), or the site broker keeps delivering them for as long as the session lives.
   * Only those the session record (mqtt-bridge-session.ts) knows were subscribed.
   */
  private unsubscribe(client: MqttClient, removed: string[], done: () => void): void {
    const c = this.ctx;
    if (removed.length === 0) return done();
    client.unsubscribe(removed, (err, packet) => {
      // MQTT 5 UNSUBACK: a code per filter; 0x11 (no subscription existed) is gone as well (§3.11.3).
      const codes = (packet as { granted?: unknown } | undefined)?.granted;
      if (err || !packet) {
        c.log.warn({ err: describeError(err), filters: removed }, 'site broker unsubscribe failed: trying again at the next connection');
      } else {
        const failed = Array.isArray(codes) ? removed.filter((_, i) => Number(codes[i]) >= 0x80) : [];
        if (failed.length > 0) c.log.warn({ filters: failed }, 'site broker refused to unsubscribe filters removed from the config: their messages keep coming');
        const gone = removed.filter((f) => !failed.includes(f));
        this.session.unsubscribed(gone);
        c.log.info({ filters: gone }, 'unsubscribed filters removed from the config');
      }
      done();
    });
  }

  private subscribe(client: MqttClient, wanted: BridgeSubscription[], done: () => void): void {
    const c = this.ctx;
    if (wanted.length === 0) return done();
    const map = subscriptionMap(c.options, wanted);
    client.subscribe(map, (err, granted) => {
      // MQTT.js fails the whole SUBSCRIBE when its SUBACK refuses any filter (a code of 0x80
      // or more: MQTT 3.1.1 §3.9.3, MQTT 5 §3.9.3), and hands that SUBACK over on the error.
      const codes = err ? (err as { packet?: { granted?: unknown } }).packet?.granted : (granted ?? []).map((g) => g.qos);
      if (!Array.isArray(codes)) {
        // No SUBACK: the connection went before it; the next one subscribes again.
        c.lastError = `subscribe failed: ${describeError(err)}`;
        c.log.warn({ err: c.lastError }, 'site broker subscription failed');
      } else {
        const refused: string[] = [];
        const downgraded: string[] = [];
        (granted ?? []).forEach(({ topic }, i) => {
          const code = Number(codes[i]);
          if (code >= 0x80) refused.push(topic);
          else if (code < (map[topic]?.qos ?? 0)) downgraded.push(`${topic} (QoS ${code})`);
        });
        if (refused.length > 0) {
          c.lastError = `site broker refused subscriptions: ${refused.join(', ')}`;
          c.log.error({ refused }, c.lastError);
        }
        if (downgraded.length > 0) c.log.warn({ downgraded }, 'site broker granted a lower QoS than configured: QoS 0 messages are lost if the gateway crashes');
        // The granted filters are in the session now; a refused one is a broker setting (an ACL) to fix, not retried.
        for (const f of refused) this.refused.add(f);
        this.subscribed = true;
        this.session.granted((granted ?? []).filter(({ topic }) => !refused.includes(topic)).map(({ topic }) => [topic, map[topic]?.qos ?? 0] as const));
      }
      done();
    });
  }

  onClose(client: MqttClient): void {
    const c = this.ctx;
    const droppedByUs = c.link === c.failedLink;
    // The backoff starts afresh only after a connection that held for reconnectMaxMs, not at
    // each CONNACK: a broker that drops the bridge right after accepting it (a twin gateway
    // with the same client id taking the session over, a broker shedding load) would
    // otherwise be reconnected to every reconnectMinMs for ever. Not while the journal fails.
    if (this.upSince !== null && c.clock.monotonic() - this.upSince >= c.options.reconnectMaxMs && !c.journalFailing) this.attempt = 0;
    this.upSince = null;
    c.link++;
    c.connected = false;
    // Messages of this connection can no longer be acknowledged: stop() need not wait for them.
    if (c.stopping) c.inflight.release();
    if (c.stopping || client.disconnecting || client !== c.client) return;
    // Dropped after a journal failure: that was logged, and the site broker is fine.
    if (this.downSince === null && !droppedByUs) {
      this.downSince = c.clock.now();
      c.log.warn({ url: c.options.url, reason: c.closeReason ?? 'connection closed' }, 'site broker link down; reconnecting with backoff');
    }
    this.settleStart();
    if (this.cancelTimer) return;
    const delay = backoffDelay(this.attempt++, c.options.reconnectMinMs, c.options.reconnectMaxMs);
    this.cancelTimer = c.clock.setTimer(delay, () => {
      this.cancelTimer = null;
      if (c.stopping) return;
      c.counts.reconnects++;
      client.reconnect();
    });
  }
}
