/**
 * The bridge's acknowledgement stage: each PUBLISH the site broker delivers becomes an
 * ingest Delivery, and for QoS 1 and 2 the acknowledgement (PUBACK, MQTT 3.1.1 / 5
 * §3.4; PUBREC for QoS 2, §3.5 and §4.3.3) goes out only once the journal committed
 * it. Why: a gateway that crashes between acknowledging and committing would lose the
 * message, as the site broker forgets what it got an acknowledgement for.
 *
 * Call order: onQos0() from MQTT.js's handleMessage, onAckable() from its
 * customHandleAcks, one packet at a time (MQTT.js takes the next one only after the
 * callback), so submissions and acknowledgements follow arrival order.
 *
 * Guarantees: every `ack` is called exactly once — with 0 after a commit on the same
 * connection (or at once for a resent QoS 2 message already committed: ctx.qos2Received),
 * otherwise with an AckWithheld (nothing is sent, the broker redelivers);
 * inflight.begin() and end() are paired; counts.received/acked/withheld are kept.
 *
 * Errors: none thrown. A commit that fails (callback error, or submit() throwing) is
 * logged once per run of failures, kept in lastError, and its connection is dropped:
 * MQTT has no negative acknowledgement, and a broker redelivers an unacknowledged
 * message only when the session resumes on a new connection ([MQTT-4.4.0-1]).
 */
import type { IPublishPacket } from 'mqtt';
import { describeError } from '../core/errors.js';
import type { Delivery, Ingest } from '../ingest/ingest.js';
import type { BridgeCtx } from './mqtt-bridge-ctx.js';
import { profileTopic } from './mqtt-bridge-options.js';

/** Given to MQTT.js instead of an acknowledgement: the message stays unacknowledged at the site broker. */
export class AckWithheld extends Error {
  constructor() {
    super('acknowledgement withheld: not committed');
  }
}

/** MQTT.js's customHandleAcks callback: a reason code (0: success) sends PUBACK/PUBREC, an Error sends nothing. */
export type AckCallback = (errorOrCode: Error | number) => void;

export class BridgeAcks {
  /** Delivery.client: the site broker, as the publisher is not known through it. */
  private readonly sender: string;

  constructor(private readonly ctx: BridgeCtx, private readonly ingest: Ingest) {
    let host = ctx.options.url;
    try {
      host = new URL(ctx.options.url).host;
    } catch { /* the schema checked it; start() reports what MQTT.js makes of it */ }
    this.sender = `bridge:${host}`;
  }

  private delivery(topic: string, payload: Buffer | string): Delivery {
    return {
      protocol: 'mqtt',
      topic: profileTopic(this.ctx.options.subscriptions, topic),
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      client: this.sender,
      maxBytes: this.ctx.options.maxPayloadBytes,
      // MQTT.js hands over the next message only once this one is acknowledged.
      eager: true,
    };
  }

  /** A QoS 0 PUBLISH: journaled if accepting, and lost (logged) if the journal refuses it. */
  onQos0(packet: IPublishPacket): void {
    const c = this.ctx;
    c.counts.received++;
    if (!c.accepting) return; // nothing to withhold: the site broker has already forgotten it
    this.ingest.submit(this.delivery(packet.topic, packet.payload), (err) => {
      if (err) c.warnings.warn('qos0-lost', { topic: packet.topic, err: describeError(err) }, 'QoS 0 message lost: journal refused it');
    });
  }

  /** A QoS 1 or 2 PUBLISH: journal it, and acknowledge only once committed. */
  onAckable(packet: Pick<IPublishPacket, 'topic' | 'payload' | 'qos' | 'messageId'>, ack: AckCallback): void {
    const c = this.ctx;
    c.counts.received++;
    const link = c.link;
    // Not acknowledged, so the site broker redelivers it: when stopping (to the next run),
    // after a failed commit on this connection, and for packets MQTT.js still had parsed
    // when the connection closed (an acknowledgement would wait for the next connection).
    if (!c.accepting || !c.connected || link === c.failedLink) return this.withhold(ack);
    const qos2Id = packet.qos === 2 ? packet.messageId : undefined;
    // A QoS 2 message already committed and PUBREC'd, sent again before its PUBREL (its
    // PUBREC went down with a connection): PUBREC again, without journaling it twice
    // ([MQTT-4.3.3-9]). MQTT.js cannot tell: its reconnect() forgets the identifiers.
    if (qos2Id !== undefined && c.qos2Received.has(qos2Id)) {
      c.counts.acked++;
      return ack(0);
    }
    c.inflight.begin();
    let called = false;
    const done = (err: Error | null) => {
      if (called) return;
      called = true;
      if (err) this.commitFailed(err, link);
      // A closed connection's acknowledgement would go out on the next one (MQTT.js
      // queues packets while offline), where the packet id may be another message's.
      if (err || link !== c.link) this.withhold(ack);
      else {
        if (c.journalFailing) c.log.info('journal commits again; bridged messages are acknowledged');
        c.journalFailing = false;
        c.counts.acked++;
        if (qos2Id !== undefined) c.qos2Received.add(qos2Id);
        ack(0);
      }
      c.inflight.end();
    };
    try {
      this.ingest.submit(this.delivery(packet.topic, packet.payload), done);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** A PUBREL from the site broker: the QoS 2 exchange is over, its identifier may name a new message. */
  onPubrel(messageId: number | undefined): void {
    if (messageId !== undefined) this.ctx.qos2Received.delete(messageId);
  }

  private withhold(ack: AckCallback): void {
    this.ctx.counts.withheld++;
    ack(new AckWithheld());
  }

  private commitFailed(err: Error, link: number): void {
    const c = this.ctx;
    c.lastError = `journal: ${describeError(err)}`;
    if (!c.journalFailing) c.log.warn({ err: c.lastError }, 'journal refused a bridged message: not acknowledged; reconnecting so the site broker redelivers it');
    c.journalFailing = true;
    if (link !== c.link || link === c.failedLink || c.stopping) return;
    c.failedLink = link;
    c.closeReason = c.lastError;
    c.client?.stream.destroy();
  }
}
