import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { generate, parse, type Option, type Packet, type ParsedPacket } from 'coap-packet';
import type { Context } from '../../core/context.js';
import { describeError } from '../../core/errors.js';
import { bindUdp } from '../udp-bind.js';
import { ACK_RANDOM_FACTOR, ACK_TIMEOUT_MS, EXCHANGE_LIFETIME_MS, MAX_RETRANSMIT, MessageIds, emptyAck, reset } from './message.js';

/**
 * The observe client's messaging layer (RFC 7252 §4) for one target: its own UDP
 * socket, Message IDs, one outstanding Confirmable request with retransmission (§4.2),
 * deduplication of what the device sends (§4.5), and sorting each received message to
 * the outstanding request, the current observation, or a Reset.
 *
 * Why apart from the observation (observation.ts): that one decides what to ask and
 * what a notification means (RFC 7641); this one only makes sure each message is sent
 * reliably and each received one is handled once.
 *
 * Call order: open() once → request()/sendOnce() any number of times, abandon() to drop
 * the outstanding request → close() once. Received messages reach the owner
 * (LinkOwner) from the socket's 'message' events.
 *
 * Guarantees: at most one outstanding request (a new one replaces it); at most one of
 * its handlers runs, once; a Confirmable response or notification is acknowledged only
 * through the Ack it was handed with (its retransmissions then again, §4.5) — with
 * ok=false it is not acknowledged and its retransmission is delivered again. Errors: socket errors and
 * failed sends are logged; malformed datagrams are ignored (§4.2, §4.3); none thrown
 * after open(), which rejects if the socket cannot be bound.
 */

/** Notification Message IDs remembered for deduplication (§4.5 of RFC 7252). */
const MAX_SEEN = 1024;

/** Acknowledges a received message once its records are committed; ok=false: refused, not acknowledged. */
export type Ack = (ok?: boolean) => void;

/** An outstanding Confirmable request of ours (registration or block fetch). */
interface Pending {
  messageId: number;
  token: Buffer;
  cancel: () => void;
  onResponse: (packet: ParsedPacket, ack: Ack) => void;
  onFail: (why: string) => void;
}

export type RequestHandlers = Pick<Pending, 'onResponse' | 'onFail'>;

/** A notification (or response) received: by token and Message ID, for deduplication (RFC 7252 §4.5). */
interface Seen {
  acked: boolean;
  /** The journal refused it, so it was not acknowledged: the device's retransmission is delivered again. */
  refused: boolean;
  expires: number;
}

/** Where the device is, from the target's coap:// URL. */
export interface Endpoint {
  host: string;
  port: number;
  /** Uri-Host, Uri-Path and Uri-Query options of every request to it. */
  uriOptions: Option[];
}

export function endpointOf(targetUrl: string): Endpoint {
  const url = new URL(targetUrl);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : 5683;
  const uriOptions: Option[] = [];
  // RFC 7252 §6.4: Uri-Host only for a registered name; no Uri-Port (we send to that port);
  // each path segment and query parameter an option of its own, percent-decoded.
  if (isIP(host) === 0) uriOptions.push({ name: 'Uri-Host', value: Buffer.from(host) });
  for (const seg of url.pathname.split('/').slice(1)) {
    if (seg !== '') uriOptions.push({ name: 'Uri-Path', value: Buffer.from(decodeURIComponent(seg)) });
  }
  for (const q of url.search.slice(1).split('&')) {
    if (q !== '') uriOptions.push({ name: 'Uri-Query', value: Buffer.from(decodeURIComponent(q)) });
  }
  return { host, port, uriOptions };
}

/** What the link needs: the clock and log, and the target. */
export interface LinkContext {
  clock: Context['clock'];
  log: Context['log'];
  url: string;
  endpoint: Endpoint;
}

/** The observation the link serves. */
export interface LinkOwner {
  /** stop() ran: whatever arrives is ignored. */
  stopped(): boolean;
  /** The current registration's token; a notification bearing another gets RST (RFC 7641 §3.6). */
  token(): Buffer | null;
  /** A notification of the current registration (not a response to the outstanding request). */
  onNotification(packet: ParsedPacket, ack: Ack): void;
  /** A retransmission of a notification the journal refused: to journal again (all its blocks, if block-wise) unless a newer one superseded it. */
  redeliver(packet: ParsedPacket, ack: Ack): void;
}

export class ObserveLink {
  private socket?: Socket;
  private readonly mids = new MessageIds();
  private pending: Pending | null = null;
  /** Notifications received, by token and Message ID: acknowledged yet? (§4.5) */
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly ctx: LinkContext, private readonly owner: LinkOwner) {}

  async open(): Promise<void> {
    const socket = createSocket(isIP(this.ctx.endpoint.host) === 6 ? 'udp6' : 'udp4');
    await bindUdp(socket, 0);
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => this.ctx.log.warn({ url: this.ctx.url, err: describeError(err) }, 'CoAP observe socket error'));
    this.socket = socket;
  }

  /** Lets the last ACKs leave, then closes the socket. */
  async close(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // let the last ACKs leave
    await new Promise<void>((resolve) => (this.socket ? this.socket.close(() => resolve()) : resolve()));
    this.socket = undefined;
  }

  /** Drops the outstanding request: its handlers will not run. */
  abandon(): void {
    this.pending?.cancel();
    this.pending = null;
  }

  /** A CON request with RFC 7252 §4.2 retransmission: ACK_TIMEOUT × [1, ACK_RANDOM_FACTOR], doubling, MAX_RETRANSMIT times. */
  request(fields: Packet & { token: Buffer }, handlers: RequestHandlers): void {
    const messageId = this.mids.take();
    const message = generate({ ...fields, confirmable: true, messageId });
    let timeout = ACK_TIMEOUT_MS * (1 + Math.random() * (ACK_RANDOM_FACTOR - 1));
    let retransmissions = 0;
    const p: Pending = { messageId, token: fields.token, cancel: () => {}, ...handlers };
    const transmit = () => {
      this.send(message);
      p.cancel = this.ctx.clock.setTimer(timeout, () => {
        if (this.pending !== p) return;
        if (retransmissions++ >= MAX_RETRANSMIT) return this.settle(p).onFail(`no answer after ${MAX_RETRANSMIT} retransmissions`);
        timeout *= 2;
        transmit();
      });
    };
    this.pending?.cancel();
    this.pending = p;
    transmit();
  }

  /** A CON sent once, neither retransmitted nor awaited (the deregistration, RFC 7641 §3.6). */
  sendOnce(fields: Packet & { token: Buffer }): void {
    this.send(generate({ ...fields, confirmable: true, messageId: this.mids.take() }));
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    let packet: ParsedPacket;
    try {
      packet = parse(msg);
    } catch {
      return; // a format error: silently ignored (RFC 7252 §4.2, §4.3)
    }
    if (this.owner.stopped()) return;
    const p = this.pending;
    if (packet.ack || packet.reset) {
      if (!p || packet.messageId !== p.messageId) return; // unrelated: ignored
      p.cancel();
      if (packet.reset) return this.settle(p).onFail(`${rinfo.address}:${rinfo.port} answered with a Reset`);
      if (packet.code === '0.00') return; // empty ACK: a separate response follows (§5.2.2)
      return this.settle(p).onResponse(packet, () => {}); // piggybacked response
    }
    if (packet.code === '0.00') {
      if (packet.confirmable) this.send(reset(packet.messageId)); // CoAP ping (§4.3)
      return;
    }
    if (!/^[2-5]\./.test(packet.code)) {
      if (packet.confirmable) this.send(reset(packet.messageId)); // a request: we serve nothing
      return;
    }
    const key = `${packet.token.toString('hex')}/${packet.messageId}`;
    const now = this.ctx.clock.monotonic();
    const seen = this.seen.get(key);
    if (seen && seen.expires > now) {
      // §4.5: a retransmission — acknowledged again once its original was, never processed twice;
      // but one the journal refused (not acknowledged) is delivered again now.
      if (seen.refused) {
        seen.refused = false;
        return this.owner.redeliver(packet, this.acker(seen, packet));
      }
      if (packet.confirmable && seen.acked) this.send(emptyAck(packet.messageId));
      return;
    }
    const entry: Seen = { acked: false, refused: false, expires: now + EXCHANGE_LIFETIME_MS };
    for (const [k, e] of this.seen) {
      if (e.expires > now && this.seen.size < MAX_SEEN) break;
      this.seen.delete(k);
    }
    this.seen.set(key, entry);
    const ack = this.acker(entry, packet);
    if (p && packet.token.equals(p.token)) {
      p.cancel();
      return this.settle(p).onResponse(packet, ack); // a separate response (§5.2.2)
    }
    const token = this.owner.token();
    if (token && packet.token.equals(token)) return this.owner.onNotification(packet, ack);
    // An observation we ended or never made: Reset makes the device forget it (RFC 7641 §3.6).
    this.seen.delete(key);
    this.send(reset(packet.messageId));
  }

  /** Acknowledges a received message once its records are committed, or marks it refused (not acknowledged). */
  private acker(entry: Seen, packet: ParsedPacket): Ack {
    return (ok = true) => {
      if (!ok) return void (entry.refused = true);
      entry.acked = true;
      if (packet.confirmable) this.send(emptyAck(packet.messageId));
    };
  }

  private settle(p: Pending): Pending {
    if (this.pending === p) this.pending = null;
    return p;
  }

  private send(message: Buffer): void {
    this.socket?.send(message, this.ctx.endpoint.port, this.ctx.endpoint.host, (err) => {
      if (err) this.ctx.log.debug({ url: this.ctx.url, err: describeError(err) }, 'CoAP observe: send failed');
    });
  }
}
