import type { ParsedPacket } from 'coap-packet';
import type { ObserveTarget } from '../../config/coap-schema.js';
import type { Context } from '../../core/context.js';
import { describeError } from '../../core/errors.js';
import { backoffDelay } from '../../forwarder/backoff.js';
import type { Ingest } from '../../ingest/ingest.js';
import { InFlight } from '../in-flight.js';
import { Block2Fetcher } from './block2.js';
import { electiveUint, newToken, optionValue, parseBlock, uint } from './message.js';
import { ObserveLink, endpointOf, type Ack, type Endpoint } from './observe-link.js';

/**
 * One `coap.observe` target's observation (RFC 7641), as a small state machine:
 * idle → registering → observing | polling, → backoff after a failure, → stopped.
 * It decides when to register, what a notification means (fresh, stale, an error, not
 * observable, block-wise) and journals each one; the messaging (retransmission,
 * deduplication, Reset of unknown tokens) is ObserveLink's (observe-link.ts), the
 * fetching of further blocks Block2Fetcher's (block2.ts). The rules it implements are
 * listed on CoapObserveSource (observe.ts).
 *
 * Call order: open() once → register() (then it re-registers by itself) → close() once.
 * status() any time.
 *
 * Guarantees: a Confirmable notification is acknowledged only once its records are
 * committed; one the journal refused is left unacknowledged, so the device retransmits
 * it. close() deregisters (§3.6) if observing, and resolves only after every submitted
 * notification's commit callback ran. All timing runs on ctx.clock.
 * Errors: open() rejects when no socket can be bound; afterwards failures are logged,
 * counted and shown in status(), never thrown.
 */

/** Re-registration after a failure: full-jitter backoff from 1 s up to 1 min (backoff.ts). */
export const RETRY_INITIAL_MS = 1000;
export const RETRY_MAX_MS = 60_000;
/** RFC 7641 §3.4: a notification more than 128 s after the last one is fresh whatever its number. */
const FRESHNESS_WINDOW_MS = 128_000;

/**
 * RFC 7641 §3.4: is notification number v2 (arriving at t2) newer than v1 (at t1)?
 * Observe numbers are 24 bits and wrap around.
 */
export function isFresh(v1: number, t1: number, v2: number, t2: number): boolean {
  return (v1 < v2 && v2 - v1 < 2 ** 23) || (v1 > v2 && v1 - v2 > 2 ** 23) || t2 > t1 + FRESHNESS_WINDOW_MS;
}

type State = 'idle' | 'registering' | 'observing' | 'polling' | 'backoff' | 'stopped';

export class Observation {
  private readonly endpoint: Endpoint;
  private readonly link: ObserveLink;
  private readonly blocks: Block2Fetcher;
  private state: State = 'idle';
  private token: Buffer | null = null;
  private lastSeq: number | null = null;
  private lastAt = 0;
  private lastNotification: number | null = null;
  private attempt = 0;
  private cancelSilence = () => {};
  private cancelRetry = () => {};
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
    this.endpoint = endpointOf(target.url);
    this.link = new ObserveLink({ clock: ctx.clock, log, url: target.url, endpoint: this.endpoint }, {
      stopped: () => this.state === 'stopped',
      token: () => this.token,
      onNotification: (packet, ack) => this.onNotification(packet, ack),
      redeliver: (packet, ack) => this.retake(packet, ack),
    });
    this.blocks = new Block2Fetcher({
      log, url: target.url, uriOptions: this.endpoint.uriOptions, maxBytes, link: this.link,
      deliver: (payload, ack) => this.deliver(payload, ack),
      failed: (why) => this.failed(why),
    });
  }

  async open(): Promise<void> {
    await this.link.open();
  }

  /** A new registration (§3.1): new token, GET with Observe=0. */
  register(reason: string): void {
    if (this.state === 'stopped') return;
    this.abandon();
    this.token = newToken();
    this.lastSeq = null;
    this.state = 'registering';
    this.log.info({ url: this.target.url, reason }, 'CoAP observe: registering');
    this.link.request({ code: 'GET', token: this.token, options: [{ name: 'Observe', value: uint(0) }, ...this.endpoint.uriOptions] }, {
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
      this.link.sendOnce({ code: 'GET', token: this.token, options: [{ name: 'Observe', value: uint(1) }, ...this.endpoint.uriOptions] });
    }
    this.abandon();
    this.state = 'stopped';
    this.token = null;
    await this.inflight.drained();
    await this.link.close();
  }

  /** Drops timers and the outstanding request of the current registration. */
  private abandon(): void {
    this.cancelSilence();
    this.cancelRetry();
    this.link.abandon();
    this.blocks.abandon();
  }

  /** The registration's response or a later notification: same token, same handling (§3.2). */
  private onNotification(packet: ParsedPacket, ack: Ack): void {
    if (!packet.code.startsWith('2.')) {
      ack();
      const text = packet.payload.length ? `: ${packet.payload.toString('utf8').slice(0, 200)}` : '';
      return this.failed(`device answered ${packet.code}${text}`); // the observation is over (§3.2)
    }
    const first = this.state === 'registering'; // the registration's own response
    const now = this.ctx.clock.monotonic();
    // 0–3 bytes (RFC 7641 §2); a longer value is an unrecognized elective option, ignored (RFC 7252 §5.4.3).
    const seq = electiveUint(packet, 'Observe', 3);
    if (seq === undefined) {
      this.state = 'polling'; // not (or no longer) an observer (§3.1): fetched again after the silence
    } else {
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
    // A fresh notification supersedes a block-wise one still being fetched (RFC 7641 §4.5.2):
    // finished later, the older value would be journaled after this newer one (§3.4).
    this.blocks.abandon();
    this.take(packet, ack);
  }

  /**
   * A notification's value, journaled and then acknowledged: at once, or, when it is the
   * first block of a larger one (RFC 7959 §2.6), once the other blocks are fetched
   * (block2.ts says why the ACK waits for them).
   */
  private take(packet: ParsedPacket, ack: Ack): void {
    const block = optionValue(packet, 'Block2');
    const b = block ? parseBlock(block) : null;
    if (b?.more && b.num === 0) return this.blocks.start(packet, b, ack);
    this.deliver(packet.payload, ack);
  }

  /**
   * The retransmission of a notification the journal refused: taken again only while it
   * is the newest of the current registration. Once a newer one was taken (its Observe
   * number is no longer the last, RFC 7641 §3.4) or the registration changed (another
   * token), it is superseded as a block-wise fetch is (block2.ts says why): taken now, the
   * older value would be journaled after the newer one. Not acknowledged: none of it was
   * committed; ObserveLink ignores its further retransmissions (RFC 7252 §4.5).
   */
  private retake(packet: ParsedPacket, ack: Ack): void {
    const seq = electiveUint(packet, 'Observe', 3);
    if (!this.token?.equals(packet.token) || (seq !== undefined && seq !== this.lastSeq)) return;
    this.take(packet, ack);
  }

  private deliver(payload: Buffer, ack: Ack): void {
    this.counts.notifications++;
    this.inflight.begin();
    const delivery = { protocol: 'coap' as const, topic: this.target.profilePath, payload, client: `${this.endpoint.host}:${this.endpoint.port}`, maxBytes: this.maxBytes };
    this.ingest.submit(delivery, (err) => {
      if (err) this.log.warn({ url: this.target.url, err: describeError(err) }, 'CoAP observe: journal refused a notification; not acknowledged');
      ack(!err);
      this.inflight.end();
    });
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
}
