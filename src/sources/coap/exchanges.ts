import type { AddressInfo } from 'node:net';
import type { OutgoingMessage } from 'coap';
import type { Packet, ParsedPacket } from 'coap-packet';
import { EXCHANGE_LIFETIME_MS, NON_LIFETIME_MS, emptyAck, encode } from './message.js';

/**
 * The CoAP server's duplicate detection (RFC 7252 §4.5): every request message is
 * remembered by endpoint and Message ID for EXCHANGE_LIFETIME (NON_LIFETIME for NON,
 * §4.8.2), with what answered it, so a retransmission is answered with the same ACK,
 * an empty ACK, or (still within the piggyback window) not at all — never processed,
 * journaled, twice.
 *
 * Why our own table: the `coap` package (1.5.0) replays only a response already
 * piggybacked; a retransmission arriving while the commit is pending, or after a
 * separate response, would be processed again. Its own cache is kept tiny (server.ts).
 *
 * Call order: receive() for every request datagram (before anything else looks at it);
 * watch() once the library built the response of a new exchange; duplicateAnswer()
 * for a duplicate; clear() at stop.
 *
 * Guarantees: at most MAX_EXCHANGES are remembered, and MAX_EXCHANGES_PER_ENDPOINT of
 * one endpoint; the expired and then the oldest are forgotten first, an endpoint over
 * its share forgetting its own oldest. Errors: none thrown.
 */

/** Exchanges remembered for duplicate detection (§4.5); the oldest are forgotten first. */
export const MAX_EXCHANGES = 10_000;
/**
 * Exchanges remembered per endpoint (RFC 7252 §1.2: address and port). Beyond it, a new
 * message forgets that endpoint's own oldest, so one chatty or hostile endpoint cannot
 * push every other device's exchanges out of the table within EXCHANGE_LIFETIME (§4.5),
 * after which their retransmissions would be processed, and journaled, again. A device
 * keeping NSTART = 1 (§4.7) retransmits only its latest message, so the share leaves
 * ample room for clients with more outstanding.
 */
export const MAX_EXCHANGES_PER_ENDPOINT = 256;

export type AddressLike = Pick<AddressInfo, 'address' | 'port'>;

/** One received request message, by endpoint and Message ID (§4.5). */
export interface Exchange {
  messageId: number;
  confirmable: boolean;
  expires: number;
  /** The library's response while the request waits for its commit. */
  response?: OutgoingMessage;
  /** The ACK that answered it (piggybacked response): resent for each duplicate (§4.5). */
  replay?: Buffer;
  /** Answered with an empty ACK and a separate response (§5.2.2): duplicates get an empty ACK. */
  separate?: boolean;
}

export class Exchanges {
  /** By endpoint and Message ID, oldest first. */
  private readonly exchanges = new Map<string, Exchange>();
  /** Each endpoint's keys in `exchanges`, oldest first. */
  private readonly byEndpoint = new Map<string, Set<string>>();

  /**
   * The exchange of a request message: a remembered one still within its lifetime
   * (`duplicate`), or a new one, remembered from now on.
   */
  receive(packet: ParsedPacket, rinfo: AddressLike, now: number): { exchange: Exchange; duplicate: boolean } {
    const endpoint = `${rinfo.address}:${rinfo.port}`;
    const key = `${endpoint}#${packet.messageId}`;
    const known = this.exchanges.get(key);
    if (known && known.expires > now) return { exchange: known, duplicate: true };
    const exchange: Exchange = {
      messageId: packet.messageId,
      confirmable: packet.confirmable,
      expires: now + (packet.confirmable ? EXCHANGE_LIFETIME_MS : NON_LIFETIME_MS),
    };
    this.remember(endpoint, key, exchange, now);
    return { exchange, duplicate: false };
  }

  /**
   * Follows the library's response of `exchange` until the final response leaves:
   * piggybacked in the ACK (kept, to be replayed for duplicates) or separate (§5.2.2).
   * A separate CON response goes to `sendSeparate` (separate.ts), which retransmits it
   * until it is acknowledged; the library would stop once its tiny cache evicted it.
   */
  watch(exchange: Exchange, res: OutgoingMessage, sendSeparate: (packet: Packet) => void): void {
    exchange.response = res;
    const send = res._send;
    res._send = (message, packet) => {
      exchange.response = undefined;
      if (packet.ack) {
        exchange.replay = encode({ ...packet, options: [...(packet.options ?? [])] });
        return send(message, packet);
      }
      exchange.separate = true;
      if (packet.confirmable) return sendSeparate(packet);
      send(message, packet); // the NON response to a NON request (§5.2.3): nothing to retransmit
    };
  }

  clear(): void {
    this.exchanges.clear();
    this.byEndpoint.clear();
  }

  private remember(endpoint: string, key: string, exchange: Exchange, now: number): void {
    for (const [k, e] of this.exchanges) {
      if (e.expires > now && this.exchanges.size < MAX_EXCHANGES) break;
      this.forget(k);
    }
    this.forget(key);
    const own = this.byEndpoint.get(endpoint);
    if (own && own.size >= MAX_EXCHANGES_PER_ENDPOINT) this.forget(own.values().next().value!);
    this.exchanges.set(key, exchange);
    if (own?.size) own.add(key);
    else this.byEndpoint.set(endpoint, new Set([key]));
  }

  private forget(key: string): void {
    if (!this.exchanges.delete(key)) return;
    const endpoint = key.slice(0, key.lastIndexOf('#'));
    const own = this.byEndpoint.get(endpoint);
    own?.delete(key);
    if (own?.size === 0) this.byEndpoint.delete(endpoint);
  }
}

/**
 * §4.5: a duplicate is acknowledged like its original but processed only once. What to
 * send it: the original's ACK, an empty ACK, or nothing (undefined).
 */
export function duplicateAnswer(exchange: Exchange): Buffer | undefined {
  if (!exchange.confirmable) return undefined; // a NON duplicate: nothing to acknowledge
  if (exchange.replay) return exchange.replay;
  // The library flips its response to CON once it sent the empty ACK (separate response).
  if (exchange.separate || exchange.response?._packet.confirmable) return emptyAck(exchange.messageId);
  return undefined; // still within the piggyback window: the original's ACK is coming
}
