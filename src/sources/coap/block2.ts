import type { Option, ParsedPacket } from 'coap-packet';
import type { Context } from '../../core/context.js';
import { blockValue, newToken, optionValue, parseBlock, type BlockOption } from './message.js';
import type { Ack, ObserveLink } from './observe-link.js';

/**
 * The observe client's block-wise notifications (RFC 7959 §2.6): a notification larger
 * than one block carries only its first block (Block2 NUM 0, M=1); the others are
 * fetched here with plain GETs (no Observe) and the whole representation journaled.
 *
 * Why apart from the observation (observation.ts): a fetch runs over several request
 * exchanges of its own and may be superseded by a newer notification or registration
 * at any point; keeping its state here makes "superseded" a single check.
 *
 * Why the notification's ACK waits for the whole value: an ACK tells the device the
 * notification was delivered (RFC 7252 §4.2), and neither RFC 7959 §2.6 nor RFC 7641
 * §4.5 asks for it before the other blocks are fetched. Acknowledged at once, a fetch
 * that then failed (or a crash) lost the value for good: the device had no reason to
 * send it again. Holding it costs at most a few retransmissions of the notification,
 * which ObserveLink deduplicates (RFC 7252 §4.5: not processed again, acknowledged once
 * the commit is done); a device that gives up first (MAX_TRANSMIT_WAIT) drops the
 * observation (RFC 7641 §4.5), which the re-registration after a failure or silence
 * restores. The answers to our block GETs are acknowledged as they come: the
 * notification's ACK is what holds the value.
 *
 * Call order: start() when a notification's first block arrives, with its Ack (a newer
 * start() supersedes the fetch in progress); abandon() when a newer notification that
 * fits in one block arrives, or the registration is dropped.
 *
 * Guarantees: at most one fetch is current; a superseded or abandoned fetch delivers
 * nothing and is not acknowledged (a newer notification replaced it, RFC 7641 §4.5.2,
 * or a new registration fetches the current value). Delivered on completion instead,
 * the older value would be journaled after the newer one, against the notification
 * order (RFC 7641 §3.4) and a device's order in the journal. Not acknowledging it is the
 * delivery promise (nothing acknowledged is lost; none of it was committed) at a small
 * cost: a device following §4.5.2 stops retransmitting it once it sends the newer one
 * in its place; one that goes on retransmits it to ObserveLink, which neither takes
 * nor acknowledges it again (RFC 7252 §4.5), and once it gives up and forgets the
 * observer (RFC 7641 §4.5) the silence re-registers. Observe promises only the latest
 * state (RFC 7641 §1.3), and the newer one is journaled. The whole representation is
 * delivered with the notification's Ack, so the notification is acknowledged only once
 * it is committed; refused, its retransmission starts the fetch again. Fetching stops
 * past maxBytes and what was fetched is delivered anyway, so ingest dead-letters it
 * (WEIR_PAYLOAD_TOO_LARGE). Errors: a device error, an unexpected block, a changed ETag
 * or no answer ends the fetch through ctx.failed (a new registration, which fetches the
 * current value); none thrown.
 */

/** A Block2 representation being fetched after its first block came in a notification. */
interface BlockFetch {
  chunks: Buffer[];
  received: number;
  num: number;
  szx: number;
  etag?: Buffer;
  /** The notification's: sent once the whole representation is committed. */
  ack: Ack;
}

/** What the fetcher needs of its observation. */
export interface Block2Context {
  log: Context['log'];
  url: string;
  uriOptions: Option[];
  maxBytes: number;
  link: Pick<ObserveLink, 'request' | 'abandon'>;
  /** Journals the whole representation. */
  deliver(payload: Buffer, ack: Ack): void;
  /** The fetch failed: the value must be fetched again (a new registration). */
  failed(why: string): void;
}

export class Block2Fetcher {
  private fetch: BlockFetch | null = null;

  constructor(private readonly ctx: Block2Context) {}

  /**
   * Drops the fetch in progress, if any, with its outstanding block GET (while a fetch
   * runs, the link's one outstanding request is its GET): nothing of it is delivered,
   * and its notification is not acknowledged (see Guarantees above).
   */
  abandon(): void {
    if (!this.fetch) return;
    this.fetch = null;
    this.ctx.link.abandon();
  }

  /** RFC 7959 §2.6: the first block came in the notification; GET the others (no Observe). */
  start(first: ParsedPacket, block: BlockOption, ack: Ack): void {
    const etag = optionValue(first, 'ETag');
    const fetch: BlockFetch = { chunks: [first.payload], received: first.payload.length, num: 0, szx: block.szx, ack, ...(etag ? { etag } : {}) };
    this.fetch = fetch;
    const next = () => this.ctx.link.request(
      { code: 'GET', token: newToken(), options: [...this.ctx.uriOptions, { name: 'Block2', value: blockValue({ num: fetch.num + 1, more: false, szx: fetch.szx }) }] },
      {
        onResponse: (packet, blockAck) => {
          blockAck();
          if (this.fetch !== fetch) return; // superseded by a newer notification or registration
          const b = optionValue(packet, 'Block2');
          const got = b ? parseBlock(b) : null;
          const tag = optionValue(packet, 'ETag');
          const why = !packet.code.startsWith('2.') ? `device answered ${packet.code}`
            : !got || got.num !== fetch.num + 1 ? 'unexpected block'
              : fetch.etag && tag && !tag.equals(fetch.etag) ? 'the representation changed meanwhile' : null;
          if (why) return this.fail(fetch, why);
          fetch.chunks.push(packet.payload);
          fetch.received += packet.payload.length;
          fetch.num = got!.num;
          // Over the limit: stop fetching; ingest dead-letters it (WEIR_PAYLOAD_TOO_LARGE).
          if (got!.more && fetch.received <= this.ctx.maxBytes) return next();
          this.fetch = null;
          this.ctx.deliver(Buffer.concat(fetch.chunks, fetch.received), fetch.ack);
        },
        onFail: (why) => this.fail(fetch, why),
      },
    );
    next();
  }

  /** The current fetch cannot finish: its notification stays unacknowledged, and the observation registers again. */
  private fail(fetch: BlockFetch, why: string): void {
    if (this.fetch !== fetch) return; // superseded: nothing to do
    this.fetch = null;
    this.ctx.log.warn({ url: this.ctx.url, why }, 'CoAP observe: block-wise notification abandoned');
    this.ctx.failed(`block-wise notification: ${why}`);
  }
}
