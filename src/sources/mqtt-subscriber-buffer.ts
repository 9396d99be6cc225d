import type { Client } from 'aedes';

/** The part of an aedes Client this file changes: its two delivery functions (aedes 1.x, lib/client.js). */
interface Deliveries {
  deliver0(packet: { qos: number }, cb: () => void): void;
  deliverQoS(packet: { qos: number }, cb: () => void): void;
  conn: { writableLength: number; destroyed: boolean; destroy(err?: Error): void };
}

export interface SubscriberBufferOptions {
  /** Bytes a subscriber's connection may hold unsent before its messages are dropped (QoS 0) or it is cut (QoS 1/2). */
  maxBytes: number;
  /** A QoS 0 message was not delivered to this subscriber: its buffer was full. */
  dropped(client: Client): void;
  /** This subscriber, behind on QoS 1/2 messages, is being disconnected. */
  cut(client: Client): void;
}

const noop = (): void => undefined;

/**
 * Keeps a slow subscriber from holding up the devices that publish to it.
 *
 * aedes hands each PUBLISH to every matching subscriber and handles the publishing
 * client's next packet only once every subscriber's delivery called back — and a
 * delivery to a socket past its high-water mark (16 KiB) calls back only at 'drain'.
 * So one subscriber on a weak link held up every device publishing to its topics, up
 * to aedes' drain timeout (mqtt.slowSubscriberTimeoutMs), again and again.
 *
 * Here each delivery calls back to aedes at once; the socket buffers what its peer has
 * not taken yet, up to `maxBytes` (mqtt.subscriberBufferBytes). Beyond that a QoS 0
 * message is dropped for that subscriber, as "at most once" allows (MQTT 3.1.1
 * §4.3.1), and a subscriber to QoS 1 or 2 is disconnected rather than lose a message
 * it was promised: aedes queued the message in a persistent session before delivering
 * it, and sends the queue again when the subscriber returns (§4.4). A
 * subscriber that takes nothing at all is still disconnected by aedes' drain timeout.
 * Order to one subscriber is unchanged: aedes writes to it in the order it delivers.
 *
 * Call once per client, before it subscribes (at broker.handle(), which returns it).
 */
export function bufferDeliveries(client: Client, opts: SubscriberBufferOptions): void {
  const c = client as unknown as Deliveries;
  const deliver0 = c.deliver0;
  const deliverQoS = c.deliverQoS;
  // A destroyed connection gets nothing more (a persistent session has QoS 1/2 messages queued already).
  c.deliver0 = (packet, cb) => {
    if (!c.conn.destroyed) {
      if (c.conn.writableLength <= opts.maxBytes) deliver0(packet, noop);
      else opts.dropped(client);
    }
    setImmediate(cb);
  };
  c.deliverQoS = (packet, cb) => {
    // aedes downgrades to QoS 0 inside deliverQoS when the message itself is QoS 0.
    if (packet.qos === 0) return c.deliver0(packet, cb);
    if (!c.conn.destroyed) {
      if (c.conn.writableLength <= opts.maxBytes) {
        deliverQoS(packet, noop);
      } else {
        opts.cut(client);
        c.conn.destroy(new Error('subscriber buffer full'));
      }
    }
    setImmediate(cb);
  };
}
