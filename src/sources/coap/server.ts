import { createSocket, type Socket } from 'node:dgram';
import { isIPv6, type AddressInfo } from 'node:net';
import { createServer, type CoapPacket, type IncomingMessage, type OutgoingMessage, type Server } from 'coap';
import type { ParsedPacket } from 'coap-packet';
import type { CoapConfig } from '../../config/coap-schema.js';
import type { Context } from '../../core/context.js';
import { describeError } from '../../core/errors.js';
import { LogThrottle } from '../../core/log-throttle.js';
import type { Ingest } from '../../ingest/ingest.js';
import { InFlight } from '../in-flight.js';
import type { Source } from '../source.js';
import { bindUdp } from '../udp-bind.js';
import { Admission } from './admission.js';
import { Exchanges, duplicateAnswer, type AddressLike, type Exchange } from './exchanges.js';
import { optionValues, reset } from './message.js';
import { answer, type Reply } from './replies.js';
import { Responder } from './responder.js';
import { SeparateResponses } from './separate.js';

/**
 * How long a response may wait for its commit inside the ACK (piggybacked, RFC 7252
 * §5.2.1) before the server sends an empty ACK and answers separately (§5.2.2). Well
 * under ACK_TIMEOUT (2 s, §4.8), after which the device would retransmit; long enough
 * that a group commit with fsync on an SD card still fits (the library's 50 ms does not).
 */
export const PIGGYBACK_MS = 500;
/** SO_RCVBUF asked of the kernel (see start()). */
const RECV_BUFFER_BYTES = 1024 * 1024;
/** Bytes of responses the coap package caches: a few hundred empty 2.04s. */
const LIBRARY_CACHE_BYTES = 4096;

/**
 * The CoAP server (RFC 7252 over UDP, `coap` package): devices POST or PUT a payload to
 * a path (`/iot-data-input`), profiles match the path (protocol coap), and the response
 * goes only after the payload's records are committed:
 *
 *   2.04 Changed — committed (dead letters of a partly bad batch are listed in the payload);
 *   4.00 Bad Request — decode/shape/range failure, or a malformed block-wise upload;
 *   4.02 Bad Option — a critical option the server does not understand (§5.4.1);
 *   4.04 Not Found — no profile matches the path (WEIR_NO_PROFILE);
 *   4.05 Method Not Allowed — anything but POST and PUT;
 *   4.08 Request Entity Incomplete — a Block1 block without the ones before it (RFC 7959 §2.9.2);
 *   4.13 Request Entity Too Large — over coap.maxPayloadBytes, with Size1 (§5.9.2.9, RFC 7959 §2.9.3/§4);
 *   4.15 Unsupported Content-Format — a Content-Format no decoder takes;
 *   5.03 Service Unavailable — the journal cannot take it now, with Max-Age (§5.9.3.4);
 *   5.05 Proxying Not Supported — Proxy-Uri/Proxy-Scheme (§5.7.2).
 * Errors carry a diagnostic payload (§5.5.2: UTF-8, no Content-Format). Payloads that
 * reach the ingest path and are refused (4.00/4.04/4.13) are dead-lettered there too;
 * refusals decided before it (4.02/4.05/4.08/4.15, a Block1 upload cut off at the limit)
 * store nothing.
 *
 * What this adds to the `coap` package, which parses and answers requests but (1.5.0)
 * gets three things wrong for a gateway, so every datagram passes through `onDatagram`
 * first:
 * - Duplicates (§4.5): the package replays only a response already piggybacked, so a
 *   retransmission arriving while the commit is pending, or after a separate response,
 *   would be journaled again; here none is ever processed twice (exchanges.ts).
 * - Block1 (RFC 7959): the package reassembles by token, which breaks when a client
 *   uses a new token per block (libcoap does); here blocks are matched by endpoint,
 *   method, path and Request-Tag (RFC 9175 §3.3) and limited as they arrive (admission.ts).
 * - Separate responses (§5.2.2): the package stops retransmitting one (§4.2) when its
 *   response cache, kept tiny for memory, evicts it; here each is retransmitted until
 *   the device acknowledges it (separate.ts).
 *
 * The stages, in the order a request datagram meets them: onDatagram (here) →
 * Exchanges.receive (duplicates) → Admission.check (refusals, Block1) → the library →
 * Responder (journal, then the response). Call order, guarantees and errors of the
 * whole are Source's (source.ts).
 */
export class CoapServerSource implements Source {
  readonly name = 'coap';
  private server?: Server;
  private socket?: Socket;
  private accepting = false;
  private address = '';
  private readonly exchanges = new Exchanges();
  private readonly admission: Admission;
  private readonly inflight = new InFlight();
  private readonly separate: SeparateResponses;
  private readonly responder: Responder;
  private readonly counts = { datagrams: 0, requests: 0, duplicates: 0, responses: {} as Record<string, number> };
  private readonly log: Context['log'];

  constructor(private readonly ctx: Context, ingest: Ingest, private readonly options: CoapConfig) {
    this.log = ctx.log.child({ component: 'coap' });
    this.admission = new Admission({ metrics: ctx.metrics, warnings: new LogThrottle(this.log, ctx.clock), maxPayloadBytes: options.maxPayloadBytes, accepting: () => this.accepting });
    this.separate = new SeparateResponses(ctx.clock, (message, rinfo) => this.send(message, rinfo));
    this.responder = new Responder({
      ingest, log: this.log, inflight: this.inflight, exchanges: this.exchanges, separate: this.separate, maxPayloadBytes: options.maxPayloadBytes,
      counted: (code) => this.counted(code),
    });
  }

  async start(): Promise<void> {
    const { host, port } = this.options;
    // Our own socket, bound without SO_REUSEADDR: the package binds with it by default,
    // and then a second gateway on the same port would silently share the traffic
    // instead of failing to start.
    // A 1 MiB receive buffer (the kernel's default, ~208 KB, holds only ~256 requests):
    // a burst from many devices is queued, not dropped to cost each a 2–3 s
    // retransmission. Linux caps it at net.core.rmem_max.
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false, recvBufferSize: RECV_BUFFER_BYTES });
    await bindUdp(socket, port, host);
    socket.on('error', (err) => this.log.warn({ err: describeError(err) }, 'CoAP socket error'));
    this.socket = socket;
    const server = createServer({
      piggybackReplyMs: PIGGYBACK_MS,
      // The package keeps every response (with its exchange's objects and a 202 s
      // timer, ~6 KB) for EXCHANGE_LIFETIME, bounded only by response bytes: memory grew
      // with the request rate (0.9 GB at 6,000/s in bench/coap.ts). Duplicates are
      // answered by our own exchange table (onDatagram), and a resend past it is still
      // recognised by ingest's resend detection, so the package's cache is kept tiny.
      cacheSize: LIBRARY_CACHE_BYTES,
      sendAcksForNonConfirmablePackets: true,
      clientIdentifier: (req: IncomingMessage) => `${req.rsinfo.address}:${req.rsinfo.port}`,
    });
    const handle = server._handle.bind(server);
    server._handle = (packet, rinfo) => this.onDatagram(packet as unknown as ParsedPacket, rinfo, handle);
    // The package sends these to rinfo.port on *localhost* (no address): answer the real peer.
    server._sendError = (payload, rinfo, packet, code = '5.00') => {
      if (packet?.messageId === undefined) return; // unparseable: silently ignored (§4.2, §3)
      this.log.debug({ remote: rinfo.address, error: payload.toString() }, 'CoAP request failed inside the library');
      this.send(answer(packet as unknown as ParsedPacket, { code, text: payload.toString() }), rinfo);
    };
    server.on('request', (req: IncomingMessage, res: OutgoingMessage) => this.responder.onRequest(req, res));
    server.on('error', (err: Error) => this.log.warn({ err: describeError(err) }, 'CoAP server error'));
    await new Promise<void>((resolve, reject) => server.listen(socket, (err?: Error) => (err ? reject(err) : resolve())));
    this.server = server;
    const addr = socket.address();
    this.address = `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    this.accepting = true;
    this.log.info({ address: this.address }, 'CoAP server listening');
  }

  /** The port actually bound (config may say 0). */
  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  status(): Record<string, unknown> {
    return {
      listening: this.accepting,
      address: this.address,
      datagrams: this.counts.datagrams,
      requests: this.counts.requests,
      duplicates: this.counts.duplicates,
      responses: { ...this.counts.responses },
      inflight: this.inflight.count,
      awaitingAck: this.separate.awaitingAck,
      blockTransfers: this.admission.transfersInProgress,
    };
  }

  async stop(): Promise<void> {
    if (!this.server || !this.socket) return;
    // New requests get 5.03 from here on; those already handed to the journal are
    // answered once committed, before the socket closes.
    this.accepting = false;
    await this.inflight.drained();
    await new Promise((resolve) => setImmediate(resolve)); // let the last responses leave
    this.server.close();
    this.separate.clear();
    await new Promise<void>((resolve) => this.socket!.close(() => resolve()));
    this.server = undefined;
    this.socket = undefined;
    this.exchanges.clear();
    this.admission.clear();
  }

  /**
   * Every datagram, parsed, before the library sees it: duplicates, refusals and Block1
   * are settled here; a request whose payload goes to the journal continues into the
   * library (which then emits 'request') with that payload whole.
   */
  private onDatagram(packet: ParsedPacket, rinfo: AddressInfo, next: (packet: CoapPacket, rinfo: AddressInfo) => void): void {
    this.counts.datagrams++;
    // ACK/RST of a separate (CON) response: ends its retransmission (separate.ts).
    if (packet.ack || packet.reset) return this.separate.settle(rinfo, packet.messageId);
    if (packet.code === '0.00') {
      // An empty CON is a CoAP ping, answered with RST (§4.3); an empty NON means nothing.
      if (packet.confirmable) this.send(reset(packet.messageId), rinfo);
      return;
    }
    if (!packet.code.startsWith('0.')) {
      // A response (we send no requests from this socket) or a reserved class (1, 6, 7): a
      // CON the server has no context for MUST be rejected with RST (§4.2), so the device
      // does not retransmit it for MAX_TRANSMIT_SPAN; a NON is silently ignored (§4.3).
      if (packet.confirmable) this.send(reset(packet.messageId), rinfo);
      return;
    }
    const now = this.ctx.clock.monotonic();
    const { exchange, duplicate } = this.exchanges.receive(packet, rinfo, now);
    if (duplicate) return this.duplicate(exchange, rinfo);
    this.counts.requests++;

    const path = '/' + optionValues(packet, 'Uri-Path').map((v) => v.toString('utf8')).join('/');
    const refusal = this.admission.check(packet, rinfo, path, now);
    if ('code' in refusal) return this.reply(exchange, packet, rinfo, refusal);
    this.responder.accept(packet, { exchange, path, ...refusal });
    // Options whose handling in the library would interfere: Block1 is done here, our
    // responses are far below a block (Block2), and Observe is for GET only.
    packet.options = packet.options.filter((o) => o.name !== 'Block1' && o.name !== 'Block2' && o.name !== 'Observe');
    packet.payload = refusal.payload;
    next(packet as unknown as CoapPacket, rinfo);
  }

  /** Answers a request here, without the library: piggybacked for CON (§5.2.1), NON for NON (§5.2.3). */
  private reply(exchange: Exchange, packet: ParsedPacket, rinfo: AddressLike, reply: Reply): void {
    const message = answer(packet, reply);
    if (packet.confirmable) exchange.replay = message;
    this.counted(reply.code);
    this.send(message, rinfo);
  }

  /** §4.5: a duplicate is acknowledged like its original (duplicateAnswer) but processed only once. */
  private duplicate(exchange: Exchange, rinfo: AddressLike): void {
    this.counts.duplicates++;
    const message = duplicateAnswer(exchange);
    if (message) this.send(message, rinfo);
  }

  private counted(code: string): void {
    this.counts.responses[code] = (this.counts.responses[code] ?? 0) + 1;
  }

  private send(message: Buffer, rinfo: AddressLike): void {
    this.socket?.send(message, rinfo.port, rinfo.address, (err) => {
      if (err) this.log.debug({ remote: rinfo.address, err: describeError(err) }, 'CoAP send failed');
    });
  }
}
