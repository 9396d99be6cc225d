import { observeTarget, type CoapConfig } from '../../config/coap-schema.js';
import type { Context } from '../../core/context.js';
import type { Ingest } from '../../ingest/ingest.js';
import type { Source } from '../source.js';
import { Observation } from './observation.js';

/**
 * The observe client (RFC 7641): for each `coap.observe` target, a GET with Observe=0
 * (§3.1), and every notification journaled through Ingest.submit() as protocol coap on
 * the target's profilePath. Weir is the client here, the device the server.
 *
 * - A Confirmable notification is acknowledged only once its records are committed
 *   (as every source does); if the journal refuses it, it is not acknowledged and the
 *   device retransmits it (RFC 7252 §4.2), journaled then unless a newer notification
 *   was taken meanwhile (superseded: neither journaled nor acknowledged, so the older
 *   value never follows the newer, §3.4). Retransmissions are recognised by Message ID
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
 *   fetched with plain GETs and the whole representation journaled; a Confirmable one
 *   is acknowledged only once the whole is committed. A fetch that fails (an error, a
 *   changed ETag, no answer) leaves it unacknowledged and starts a new registration
 *   after a backoff, which fetches the current value (block2.ts). A newer notification
 *   arriving meanwhile supersedes the fetch (§4.5.2): it is dropped, unacknowledged, so
 *   the older value is not journaled after the newer one (§3.4).
 * - Each re-registration uses a new token; a notification bearing an old or unknown
 *   token is answered with RST, which removes that observation on the device (§3.6).
 *   stop() deregisters (GET with Observe=1, §3.6).
 *
 * All timing (retransmission, silence, backoff, freshness) runs on ctx.clock.
 *
 * The stages: one Observation per target (observation.ts: registration, freshness,
 * failures, silence), over an ObserveLink (observe-link.ts: socket, retransmission,
 * deduplication, Reset of unknown tokens) and a Block2Fetcher (block2.ts). Call order,
 * guarantees and errors are Source's (source.ts); start() rejects when a target's
 * socket cannot be bound.
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
