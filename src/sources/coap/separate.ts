import type { Packet } from 'coap-packet';
import type { Clock } from '../../core/clock.js';
import type { AddressLike } from './exchanges.js';
import { ACK_RANDOM_FACTOR, ACK_TIMEOUT_MS, MAX_RETRANSMIT, MessageIds, encode } from './message.js';

/**
 * The CoAP server's separate responses (RFC 7252 §5.2.2): a response that missed the
 * piggyback window goes out as a Confirmable message of its own, and is retransmitted
 * (§4.2: ACK_TIMEOUT × [1, ACK_RANDOM_FACTOR], doubling, MAX_RETRANSMIT times) until the
 * device acknowledges or rejects it.
 *
 * Why here and not in the `coap` package: the package keeps a separate response's
 * retransmission state in its response cache and stops retransmitting when the cache
 * evicts it; that cache is kept tiny for memory (server.ts), so under load a separate
 * response was sent once and never again. Lost, it left the device — already told by
 * the empty ACK to stop retransmitting its request — without its 2.04, though the
 * reading was committed.
 *
 * Call order: send() for each separate response; settle() for every ACK or Reset the
 * server receives; clear() at stop. Guarantees: each response is retransmitted until
 * settled or MAX_RETRANSMIT retransmissions were sent, then forgotten; timers run on the
 * injected clock. Errors: none thrown (send failures are the server's to log).
 */
export class SeparateResponses {
  private readonly mids = new MessageIds();
  /** Responses awaiting their ACK, by endpoint and Message ID: the cancel of the next retransmission. */
  private readonly pending = new Map<string, () => void>();

  constructor(private readonly clock: Clock, private readonly transmit: (message: Buffer, rinfo: AddressLike) => void) {}

  /** Responses still awaiting their ACK (status). */
  get awaitingAck(): number {
    return this.pending.size;
  }

  /** Sends `packet` (the library's response, code, token, options and payload set) as a CON with a new Message ID (§4.4). */
  send(packet: Packet, rinfo: AddressLike): void {
    const messageId = this.mids.take();
    const message = encode({ ...packet, options: [...(packet.options ?? [])], messageId, confirmable: true, ack: false, reset: false });
    const key = keyOf(rinfo, messageId);
    let timeout = ACK_TIMEOUT_MS * (1 + Math.random() * (ACK_RANDOM_FACTOR - 1));
    let retransmissions = 0;
    const attempt = (): void => {
      this.transmit(message, rinfo);
      this.pending.set(key, this.clock.setTimer(timeout, () => {
        // After the last retransmission, its timeout too has passed: give up (§4.2).
        if (retransmissions++ >= MAX_RETRANSMIT) return void this.pending.delete(key);
        timeout *= 2;
        attempt();
      }));
    };
    attempt();
  }

  /** An ACK or Reset from `rinfo` (§4.2): ends the retransmission of the response it matches, if any. */
  settle(rinfo: AddressLike, messageId: number): void {
    const key = keyOf(rinfo, messageId);
    this.pending.get(key)?.();
    this.pending.delete(key);
  }

  clear(): void {
    for (const cancel of this.pending.values()) cancel();
    this.pending.clear();
  }
}

function keyOf(rinfo: AddressLike, messageId: number): string {
  return `${rinfo.address}:${rinfo.port}#${messageId}`;
}
