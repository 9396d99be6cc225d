import type { IncomingMessage, OutgoingMessage } from 'coap';
import type { Context } from '../../core/context.js';
import { describeError } from '../../core/errors.js';
import type { Ingest, IngestOutcome } from '../../ingest/ingest.js';
import type { InFlight } from '../in-flight.js';
import type { Admitted } from './admission.js';
import type { Exchange, Exchanges } from './exchanges.js';
import { blockValue, diagnostic } from './message.js';
import { outcomeReply } from './replies.js';
import type { SeparateResponses } from './separate.js';

/**
 * The CoAP server's commit stage: an admitted request's payload goes to the journal
 * through Ingest.submit(), and the library's response is sent only once the callback
 * reported its records committed (or refused) — piggybacked in the ACK if that takes
 * under PIGGYBACK_MS (RFC 7252 §5.2.1), else separately (§5.2.2; the `coap` package
 * sends the empty ACK and retransmits the CON response).
 *
 * Call order: accept() from the datagram hook for a request the library is about to
 * see (with its payload whole), then onRequest() from the library's 'request' event
 * for that same packet. The server's stop() waits on `ctx.inflight`.
 *
 * Guarantees: each accepted request is submitted once and answered once, with
 * outcomeReply()'s code (replies.ts); Block1 uploads echo the last block's Block1
 * (RFC 7959 §2.3); inflight.begin()/end() bracket every submit. Errors: a response that
 * cannot be sent is logged at debug, one that fails to build at warn; none thrown.
 */

/** What the datagram hook hands to the request handler with the packet. */
export interface Accepted extends Admitted {
  exchange: Exchange;
  path: string;
}

/** What the commit stage needs of the server. */
export interface ResponderContext {
  ingest: Ingest;
  log: Context['log'];
  inflight: InFlight;
  exchanges: Exchanges;
  /** Sends a separate response (§5.2.2) and retransmits it until acknowledged (separate.ts). */
  separate: Pick<SeparateResponses, 'send'>;
  maxPayloadBytes: number;
  /** Counts a response code for status(). */
  counted(code: string): void;
}

export class Responder {
  private readonly accepted = new WeakMap<object, Accepted>();

  constructor(private readonly ctx: ResponderContext) {}

  /** Marks `packet` (the object the library will hand back as req._packet) as admitted. */
  accept(packet: object, accepted: Accepted): void {
    this.accepted.set(packet, accepted);
  }

  /** The request handler: the library built the response; the payload goes to the journal. */
  onRequest(req: IncomingMessage, res: OutgoingMessage): void {
    const a = this.accepted.get(req._packet);
    res.on('error', (err: Error) => this.ctx.log.debug({ remote: req.rsinfo.address, err: describeError(err) }, 'CoAP response not delivered'));
    if (!a) {
      // Not through onDatagram: cannot happen while the hook is installed.
      res.code = '5.00';
      return void res.end(diagnostic('request bypassed the gateway'));
    }
    this.ctx.exchanges.watch(a.exchange, res, (packet) => this.ctx.separate.send(packet, req.rsinfo));
    this.ctx.inflight.begin();
    const delivery = { protocol: 'coap' as const, topic: a.path, payload: a.payload, client: req.rsinfo.address, maxBytes: this.ctx.maxPayloadBytes };
    this.ctx.ingest.submit(delivery, (err, outcome) => {
      try {
        this.respond(res, a, err, outcome);
      } catch (e) {
        this.ctx.log.warn({ err: describeError(e) }, 'CoAP response failed');
      } finally {
        this.ctx.inflight.end();
      }
    });
  }

  /** Maps the ingest outcome to a response code and diagnostic payload. */
  private respond(res: OutgoingMessage, a: Accepted, err: Error | null, outcome: IngestOutcome): void {
    const reply = outcomeReply(err, outcome, this.ctx.maxPayloadBytes);
    if (a.block1) res.setOption('Block1', blockValue({ ...a.block1, more: false }));
    for (const o of reply.options ?? []) res.setOption(String(o.name), o.value);
    res.code = reply.code;
    this.ctx.counted(reply.code);
    if (reply.text) res.end(diagnostic(reply.text));
    else res.end();
  }
}
