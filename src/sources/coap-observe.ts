import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { generate, parse, type Option, type Packet, type ParsedPacket } from 'coap-packet';
import { observeTarget, type CoapConfig, type ObserveTarget } from '../config/coap-schema.js';
import type { Context } from '../core/context.js';
import { describeError } from '../core/errors.js';
import { backoffDelay } from '../forwarder/backoff.js';
import type { Ingest } from '../ingest/ingest.js';
import {
  ACK_RANDOM_FACTOR, ACK_TIMEOUT_MS, EXCHANGE_LIFETIME_MS, MAX_RETRANSMIT, MessageIds, blockValue, emptyAck,
  newToken, optionValue, parseBlock, readUint, reset, uint, type BlockOption,
} from './coap-message.js';
import type { Source } from './source.js';
import { InFlight } from './in-flight.js';

/** Re-registration after a failure: full-jitter backoff from 1 s up to 1 min (backoff.ts). */
export const RETRY_INITIAL_MS = 1000;
export const RETRY_MAX_MS = 60_000;
/** RFC 7641 §3.4: a notification more than 128 s after the last one is fresh whatever its number. */
const FRESHNESS_WINDOW_MS = 128_000;
/** Notification Message IDs remembered for deduplication (§4.5 of RFC 7252). */
const MAX_SEEN = 1024;

/**
 * RFC 7641 §3.4: is notification number v2 (arriving at t2) newer than v1 (at t1)?
 * Observe numbers are 24 bits and wrap around.
 */
export function isFresh(v1: number, t1: number, v2: number, t2: number): boolean {
  return (v1 < v2 && v2 - v1 < 2 ** 23) || (v1 > v2 && v1 - v2 > 2 ** 23) || t2 > t1 + FRESHNESS_WINDOW_MS;
}

/**
 * The observe client (RFC 7641): for each `coap.observe` target, a GET with Observe=0
 * (§3.1), and every notification journaled through Ingest.submit() as protocol coap on
 * the target's profilePath. Weir is the client here, the device the server.
 *
 * - A Confirmable notification is acknowledged only once its records are committed
 *   (as every source does); if the journal refuses it, it is not acknowledged and the
 *   device retransmits it (RFC 7252 §4.2). Retransmissions are recognised by Message ID
 *   and acknowledged again without journaling (§4.5).
 * - Notifications older than the newest seen (§3.4's rule, on ctx.clock) are not
 *   journaled, and start a new registration: a device that rebooted and numbers its
 *   notifications from scratch is the usual cause.
 * - Silence longer than reregisterAfterSeconds → a new registration (§3.3.1: the client
 *   cannot tell whether it is still an observer; a rebooted device has forgotten it).
 * - An error notification (4.xx/5.xx, e.g. 4.04 when the device removes the resource,
 *   §3.2), a Reset, or a registration that gets no answer after MAX_RETRANSMIT
 *   retransmissions (RFC 7252 §4.2) → a new registration after a backoff with jitter.
 * - A 2.xx without Observe: the resource is not observable (§3.1); its value is
 *   journaled and it is fetched again after reregisterAfterSeconds (polling).
 * - A notification larger than one block (Block2, RFC 7959 §2.6): the other blocks are
 *   fetched with plain GETs and the whole representation journaled.
 * - Each re-registration uses a new token; a notification bearing an old or unknown
 *   token is answered with RST, which removes that observation on the device (§3.6).
 *   stop() deregisters (GET with Observe=1, §3.6).
 *
 * All timing (retransmission, silence, backoff, freshness) runs on ctx.clock.
 */
export class CoapObserveSource implements Source {
  readonly name = 'coap-observe';
  private readonly observations: Observation[];

  constructor(ctx: Context, ingest: Ingest, options: CoapConfig) {
    const log = ctx.log.child({ component: 'coap-observe' });
    this.observations = options.observe.map((entry) => new Observation(ctx, log, ingest, observeTarget(entry), options.maxPayloadBytes));
  }

  /** Binds a socket per target and sends the first registrations (it does not wait for the devices). */
  async start(): Promise<void> {
    for (const o of this.observations) await o.open();
    for (const o of this.observations) o.register('start');
  }

  async stop(): Promise<void> {
    await Promise.all(this.observations.map((o) => o.close()));
  }

  status(): Record<string, unknown> {
    return { observations: this.observations.map((o) => o.status()) };
  }
}

type State = 'idle' | 'registering' | 'observing' | 'polling' | 'backoff' | 'stopped';

/** An outstanding Confirmable request of ours (registration or block fetch). */
interface Pending {
  messageId: number;
  token: Buffer;
  cancel: () => void;
  onResponse: (packet: ParsedPacket, ack: (ok?: boolean) => void) => void;
  onFail: (why: string) => void;
}

/** A notification (or response) received: by token and Message ID, for deduplication (RFC 7252 §4.5). */
interface Seen {
  acked: boolean;
  /** The journal refused it, so it was not acknowledged: the device's retransmission is delivered again. */
  refused: boolean;
  expires: number;
}

/** A Block2 representation being fetched after its first block came in a notification. */
interface BlockFetch {
  chunks: Buffer[];
  received: number;
  num: number;
  szx: number;
  etag?: Buffer;
}

class Observation {
  private socket?: Socket;
  private readonly mids = new MessageIds();
  private readonly host: string;
  private readonly port: number;
  private readonly uriOptions: Option[] = [];
  private state: State = 'idle';
  private token: Buffer | null = null;
  private pending: Pending | null = null;
  private fetch: BlockFetch | null = null;
  private lastSeq: number | null = null;
  private lastAt = 0;
  private lastNotification: number | null = null;
  private attempt = 0;
  private cancelSilence = () => {};
  private cancelRetry = () => {};
  /** Notifications received, by token and Message ID: acknowledged yet? (§4.5) */
  private readonly seen = new Map<string, Seen>();
  private readonly inflight = new InFlight();
  private readonly counts = { registrations: 0, notifications: 0, stale: 0, failures: 0 };
  private lastError: string | null = null;

  constructor(
    private readonly ctx: Context,
    private readonly log: Context['log'],
    private readonly ingest: Ingest,
    private readonly target: ObserveTarget,
    private readonly maxBytes: number,
  ) {
    const url = new URL(target.url);
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port ? Number(url.port) : 5683;
    // RFC 7252 §6.4: Uri-Host only for a registered name; no Uri-Port (we send to that port);
    // each path segment and query parameter an option of its own, percent-decoded.
    if (isIP(this.host) === 0) this.uriOptions.push({ name: 'Uri-Host', value: Buffer.from(this.host) });
    for (const seg of url.pathname.split('/').slice(1)) {
      if (seg !== '') this.uriOptions.push({ name: 'Uri-Path', value: Buffer.from(decodeURIComponent(seg)) });
    }
    for (const q of url.search.slice(1).split('&')) {
      if (q !== '') this.uriOptions.push({ name: 'Uri-Query', value: Buffer.from(decodeURIComponent(q)) });
    }
  }

  async open(): Promise<void> {
    const socket = createSocket(isIP(this.host) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => this.log.warn({ url: this.target.url, err: describeError(err) }, 'CoAP observe socket error'));
    this.socket = socket;
  }

  /** A new registration (§3.1): new token, GET with Observe=0. */
  register(reason: string): void {
    if (this.state === 'stopped') return;
    this.abandon();
    this.token = newToken();
    this.lastSeq = null;
    this.state = 'registering';
    this.log.info({ url: this.target.url, reason }, 'CoAP observe: registering');
    this.request({ code: 'GET', token: this.token, options: [{ name: 'Observe', value: uint(0) }, ...this.uriOptions] }, {
      onResponse: (packet, ack) => this.onNotification(packet, ack),
      onFail: (why) => this.failed(why),
    });
    this.armSilence();
  }

  status(): Record<string, unknown> {
    const now = this.ctx.clock.monotonic();
    return {
      url: this.target.url,
      profilePath: this.target.profilePath,
      state: this.state,
      ...this.counts,
      lastSequence: this.lastSeq,
      lastNotificationSecondsAgo: this.lastNotification === null ? null : Math.round((now - this.lastNotification) / 1000),
      lastError: this.lastError,
    };
  }

  async close(): Promise<void> {
    if (this.state === 'observing' && this.token) {
      // §3.6: deregister explicitly — a GET with the observation's token and Observe=1.
      this.send(generate({ confirmable: true, code: 'GET', messageId: this.mids.take(), token: this.token, options: [{ name: 'Observe', value: uint(1) }, ...this.uriOptions] }));
    }
    this.abandon();
    this.state = 'stopped';
    this.token = null;
    await this.inflight.drained();
    await new Promise((resolve) => setImmediate(resolve)); // let the last ACKs leave
    await new Promise<void>((resolve) => (this.socket ? this.socket.close(() => resolve()) : resolve()));
    this.socket = undefined;
  }

  /** Drops timers and the outstanding request of the current registration. */
  private abandon(): void {
    this.cancelSilence();
    this.cancelRetry();
    this.pending?.cancel();
    this.pending = null;
    this.fetch = null;
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    let packet: ParsedPacket;
    try {
      packet = parse(msg);
    } catch {
      return; // a format error: silently ignored (RFC 7252 §4.2, §4.3)
    }
    if (this.state === 'stopped') return;
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
        return this.deliver(packet.payload, this.acker(seen, packet));
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
    if (this.token && packet.token.equals(this.token)) return this.onNotification(packet, ack);
    // An observation we ended or never made: Reset makes the device forget it (RFC 7641 §3.6).
    this.seen.delete(key);
    this.send(reset(packet.messageId));
  }

  /** Acknowledges a received message once its records are committed, or marks it refused (not acknowledged). */
  private acker(entry: Seen, packet: ParsedPacket): (ok?: boolean) => void {
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

  /** The registration's response or a later notification: same token, same handling (§3.2). */
  private onNotification(packet: ParsedPacket, ack: (ok?: boolean) => void): void {
    if (!packet.code.startsWith('2.')) {
      ack();
      const text = packet.payload.length ? `: ${packet.payload.toString('utf8').slice(0, 200)}` : '';
      return this.failed(`device answered ${packet.code}${text}`); // the observation is over (§3.2)
    }
    const first = this.state === 'registering'; // the registration's own response
    const now = this.ctx.clock.monotonic();
    const observe = optionValue(packet, 'Observe');
    if (observe === undefined) {
      this.state = 'polling'; // not (or no longer) an observer (§3.1): fetched again after the silence
    } else {
      const seq = readUint(observe);
      if (this.lastSeq !== null && !isFresh(this.lastSeq, this.lastAt, seq, now)) {
        ack();
        this.counts.stale++;
        this.log.info({ url: this.target.url, last: this.lastSeq, got: seq }, 'CoAP observe: outdated notification (device restarted?)');
        return this.register(`notification ${seq} is older than ${this.lastSeq} (RFC 7641 §3.4)`);
      }
      this.lastSeq = seq;
      this.lastAt = now;
      this.state = 'observing';
    }
    if (first) this.counts.registrations++;
    this.lastNotification = now;
    this.attempt = 0;
    this.lastError = null;
    this.armSilence();
    const block = optionValue(packet, 'Block2');
    const b = block ? parseBlock(block) : null;
    if (b?.more && b.num === 0) {
      ack(); // the rest is fetched by us; nothing to hold the device for
      return this.fetchRest(packet, b);
    }
    this.deliver(packet.payload, ack);
  }

  /** RFC 7959 §2.6: the first block came in the notification; GET the others (no Observe). */
  private fetchRest(first: ParsedPacket, block: BlockOption): void {
    const etag = optionValue(first, 'ETag');
    const fetch: BlockFetch = { chunks: [first.payload], received: first.payload.length, num: 0, szx: block.szx, ...(etag ? { etag } : {}) };
    this.fetch = fetch;
    const next = () => this.request(
      { code: 'GET', token: newToken(), options: [...this.uriOptions, { name: 'Block2', value: blockValue({ num: fetch.num + 1, more: false, szx: fetch.szx }) }] },
      {
        onResponse: (packet, ack) => {
          ack();
          if (this.fetch !== fetch) return; // superseded by a newer notification or registration
          const b = optionValue(packet, 'Block2');
          const got = b ? parseBlock(b) : null;
          const tag = optionValue(packet, 'ETag');
          const why = !packet.code.startsWith('2.') ? `device answered ${packet.code}`
            : !got || got.num !== fetch.num + 1 ? 'unexpected block'
              : fetch.etag && tag && !tag.equals(fetch.etag) ? 'the representation changed meanwhile' : null;
          if (why) {
            this.fetch = null;
            return void this.log.warn({ url: this.target.url, why }, 'CoAP observe: block-wise notification abandoned');
          }
          fetch.chunks.push(packet.payload);
          fetch.received += packet.payload.length;
          fetch.num = got!.num;
          // Over the limit: stop fetching; ingest dead-letters it (WEIR_PAYLOAD_TOO_LARGE).
          if (got!.more && fetch.received <= this.maxBytes) return next();
          this.fetch = null;
          this.deliver(Buffer.concat(fetch.chunks, fetch.received), () => {});
        },
        onFail: (why) => {
          if (this.fetch === fetch) this.fetch = null;
          this.log.warn({ url: this.target.url, why }, 'CoAP observe: block-wise notification abandoned');
        },
      },
    );
    next();
  }

  private deliver(payload: Buffer, ack: (ok?: boolean) => void): void {
    this.counts.notifications++;
    this.inflight.begin();
    const delivery = { protocol: 'coap' as const, topic: this.target.profilePath, payload, client: `${this.host}:${this.port}`, maxBytes: this.maxBytes };
    this.ingest.submit(delivery, (err) => {
      if (err) this.log.warn({ url: this.target.url, err: describeError(err) }, 'CoAP observe: journal refused a notification; not acknowledged');
      ack(!err);
      this.inflight.end();
    });
  }

  /** A CON request with RFC 7252 §4.2 retransmission: ACK_TIMEOUT × [1, ACK_RANDOM_FACTOR], doubling, MAX_RETRANSMIT times. */
  private request(fields: Packet & { token: Buffer }, handlers: Pick<Pending, 'onResponse' | 'onFail'>): void {
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

  /** Something ended the registration: a new one after a backoff with jitter. */
  private failed(why: string): void {
    if (this.state === 'stopped') return;
    this.abandon();
    this.counts.failures++;
    this.lastError = why;
    this.token = null; // later notifications of this observation get RST
    this.state = 'backoff';
    const delay = backoffDelay(this.attempt++, RETRY_INITIAL_MS, RETRY_MAX_MS);
    this.log.warn({ url: this.target.url, why, retryInMs: delay }, 'CoAP observe: registration lost');
    this.cancelRetry = this.ctx.clock.setTimer(delay, () => this.register(`retry after: ${why}`));
  }

  /** Silence → re-register: at once while observing (§3.3.1); as a failure while no answer came. */
  private armSilence(): void {
    this.cancelSilence();
    const seconds = this.target.reregisterAfterSeconds;
    this.cancelSilence = this.ctx.clock.setTimer(seconds * 1000, () => {
      if (this.state === 'observing' || this.state === 'polling') this.register(`no notification for ${seconds} s`);
      else this.failed(`no answer to the registration within ${seconds} s`);
    });
  }

  private send(message: Buffer): void {
    this.socket?.send(message, this.port, this.host, (err) => {
      if (err) this.log.debug({ url: this.target.url, err: describeError(err) }, 'CoAP observe: send failed');
    });
  }
}
