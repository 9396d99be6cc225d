import { createSocket, type Socket } from 'node:dgram';
import { isIPv6, type AddressInfo } from 'node:net';
import { createServer, type CoapPacket, type IncomingMessage, type OutgoingMessage, type Server } from 'coap';
import type { Option, ParsedPacket } from 'coap-packet';
import type { CoapConfig } from '../config/coap-schema.js';
import type { Context } from '../core/context.js';
import { describeError, isWeirError, type ErrorCode } from '../core/errors.js';
import type { Ingest, IngestOutcome } from '../ingest/ingest.js';
import {
  CONTENT_FORMATS, EXCHANGE_LIFETIME_MS, NON_LIFETIME_MS, REQUEST_TAG, blockValue, diagnostic, emptyAck, encode,
  isCritical, methodName, optionNumber, optionValue, optionValues, parseBlock, readUint, reset, uint, type BlockOption,
} from './coap-message.js';
import type { Source } from './source.js';
import { InFlight } from './in-flight.js';

/**
 * How long a response may wait for its commit inside the ACK (piggybacked, RFC 7252
 * §5.2.1) before the server sends an empty ACK and answers separately (§5.2.2). Well
 * under ACK_TIMEOUT (2 s, §4.8), after which the device would retransmit; long enough
 * that a group commit with fsync on an SD card still fits (the library's 50 ms does not).
 */
export const PIGGYBACK_MS = 500;
/** Max-Age of a 5.03: when the device may try again (§5.9.3.4). */
export const RETRY_AFTER_SECONDS = 2;
const RECV_BUFFER_BYTES = 1024 * 1024;
/** Bytes of responses the coap package caches: a few hundred empty 2.04s. */
const LIBRARY_CACHE_BYTES = 4096;
/** Exchanges remembered for duplicate detection (§4.5); the oldest are forgotten first. */
const MAX_EXCHANGES = 10_000;
/** Block-wise uploads in progress at once; the least recently active is dropped beyond it. */
const MAX_TRANSFERS = 64;
/** Content-Formats a request may declare (none at all is fine too); anything else is 4.15. */
const ACCEPTED_FORMATS = new Set(Object.keys(CONTENT_FORMATS).map(Number));
/** Critical options (§5.4.1) this server processes; any other critical option is 4.02. */
const UNDERSTOOD_CRITICAL = new Set([3 /* Uri-Host */, 7 /* Uri-Port */, 11 /* Uri-Path */, 15 /* Uri-Query */, 17 /* Accept */, 23 /* Block2 */, 27 /* Block1 */]);

type AddressLike = Pick<AddressInfo, 'address' | 'port'>;

/** One received request message, by endpoint and Message ID (§4.5). */
interface Exchange {
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

/** A Block1 upload being reassembled (RFC 7959 §2.5). */
interface Transfer {
  chunks: Buffer[];
  received: number;
  touched: number;
}

/** What the datagram hook hands to the request handler with the packet. */
interface Accepted {
  exchange: Exchange;
  path: string;
  payload: Buffer;
  /** Block1 of the last block, echoed in the final response (RFC 7959 §2.3). */
  block1?: BlockOption;
}

interface Reply {
  code: string;
  text?: string;
  options?: Option[];
}

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
 * What this adds to the `coap` package, which parses, answers and retransmits separate
 * responses but (1.5.0) gets two things wrong for a gateway, so every datagram passes
 * through `onDatagram` first:
 * - Duplicates (§4.5): the package replays only a response already piggybacked; a
 *   retransmission arriving while the commit is pending, or after a separate response,
 *   would be processed — journaled — again. Here every request's Message ID is
 *   remembered for EXCHANGE_LIFETIME (NON_LIFETIME for NON, §4.8.2) and a duplicate is
 *   answered with the same ACK, an empty ACK, or (still within the piggyback window)
 *   not at all — never processed twice.
 * - Block1 (RFC 7959): the package reassembles by token, but clients may use a new
 *   token per block (RFC 7959 §2: "the client is free to choose tokens for each
 *   exchange"; libcoap does), which breaks its reassembly. Here blocks are matched by
 *   endpoint, method, path and Request-Tag (RFC 9175 §3.3), limited to maxPayloadBytes
 *   as they arrive (not after), and answered 2.31 Continue (§2.3).
 */
export class CoapServerSource implements Source {
  readonly name = 'coap';
  private server?: Server;
  private socket?: Socket;
  private accepting = false;
  private address = '';
  private readonly exchanges = new Map<string, Exchange>();
  private readonly transfers = new Map<string, Transfer>();
  private readonly accepted = new WeakMap<object, Accepted>();
  private readonly inflight = new InFlight();
  private readonly counts = { datagrams: 0, requests: 0, duplicates: 0, responses: {} as Record<string, number> };
  private readonly log: Context['log'];

  constructor(private readonly ctx: Context, private readonly ingest: Ingest, private readonly options: CoapConfig) {
    this.log = ctx.log.child({ component: 'coap' });
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
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
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
      this.send(this.answer(packet as unknown as ParsedPacket, { code, text: payload.toString() }), rinfo);
    };
    server.on('request', (req: IncomingMessage, res: OutgoingMessage) => this.onRequest(req, res));
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
      blockTransfers: this.transfers.size,
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
    await new Promise<void>((resolve) => this.socket!.close(() => resolve()));
    this.server = undefined;
    this.socket = undefined;
    this.exchanges.clear();
    this.transfers.clear();
  }

  /**
   * Every datagram, parsed, before the library sees it: duplicates, refusals and Block1
   * are settled here; a request whose payload goes to the journal continues into the
   * library (which then emits 'request') with that payload whole.
   */
  private onDatagram(packet: ParsedPacket, rinfo: AddressInfo, next: (packet: CoapPacket, rinfo: AddressInfo) => void): void {
    this.counts.datagrams++;
    // ACK/RST of the separate (CON) responses the library sent: its retransmission state.
    if (packet.ack || packet.reset) return next(packet as unknown as CoapPacket, rinfo);
    if (packet.code === '0.00') {
      // An empty CON is a CoAP ping, answered with RST (§4.3); an empty NON means nothing.
      if (packet.confirmable) this.send(reset(packet.messageId), rinfo);
      return;
    }
    if (!packet.code.startsWith('0.')) return; // a response sent to a server: ignored
    const now = this.ctx.clock.monotonic();
    const key = `${rinfo.address}:${rinfo.port}#${packet.messageId}`;
    const known = this.exchanges.get(key);
    if (known && known.expires > now) return this.duplicate(known, rinfo);
    const exchange: Exchange = {
      messageId: packet.messageId,
      confirmable: packet.confirmable,
      expires: now + (packet.confirmable ? EXCHANGE_LIFETIME_MS : NON_LIFETIME_MS),
    };
    this.remember(key, exchange, now);
    this.counts.requests++;

    const path = '/' + optionValues(packet, 'Uri-Path').map((v) => v.toString('utf8')).join('/');
    const refusal = this.refusal(packet, rinfo, path, now);
    if ('code' in refusal) return this.reply(exchange, packet, rinfo, refusal);
    this.accepted.set(packet, { exchange, path, ...refusal });
    // Options whose handling in the library would interfere: Block1 is done here, our
    // responses are far below a block (Block2), and Observe is for GET only.
    packet.options = packet.options.filter((o) => o.name !== 'Block1' && o.name !== 'Block2' && o.name !== 'Observe');
    packet.payload = refusal.payload;
    next(packet as unknown as CoapPacket, rinfo);
  }

  /** What to answer right away, or the payload (whole, after Block1) to journal. */
  private refusal(packet: ParsedPacket, rinfo: AddressLike, path: string, now: number): Reply | { payload: Buffer; block1?: BlockOption } {
    const max = this.options.maxPayloadBytes;
    if (!this.accepting) return this.unavailable('WEIR_JOURNAL_CLOSED: the gateway is stopping');
    for (const o of packet.options) {
      const n = optionNumber(o.name);
      if (n === 35 || n === 39) return { code: '5.05', text: 'this gateway is not a proxy' };
      if (isCritical(n) && !UNDERSTOOD_CRITICAL.has(n)) return { code: '4.02', text: `critical option ${n} is not supported` };
    }
    if (packet.code !== '0.02' && packet.code !== '0.03') {
      return { code: '4.05', text: `${methodName(packet.code)} is not allowed: POST or PUT the payload` };
    }
    const format = optionValue(packet, 'Content-Format');
    if (format !== undefined && !ACCEPTED_FORMATS.has(readUint(format))) {
      return { code: '4.15', text: `WEIR_UNSUPPORTED_FORMAT: Content-Format ${readUint(format)} is not accepted; use ${[...ACCEPTED_FORMATS].join(', ')} or none` };
    }
    // Size1 announces the whole body (RFC 7959 §4): refuse before any block is stored.
    const size1 = optionValue(packet, 'Size1');
    if (size1 !== undefined && readUint(size1) > max) return this.tooLarge(readUint(size1));
    const block1Value = optionValue(packet, 'Block1');
    if (block1Value !== undefined) return this.block1(packet, rinfo, path, block1Value, now);
    if (packet.payload.length === 0) return { code: '4.00', text: `${methodName(packet.code)} without a payload` };
    return { payload: packet.payload };
  }

  /** RFC 7959 §2.5: one block of a Block1 upload. */
  private block1(packet: ParsedPacket, rinfo: AddressLike, path: string, value: Buffer, now: number): Reply | { payload: Buffer; block1: BlockOption } {
    const block = parseBlock(value);
    if (!block) return { code: '4.00', text: 'malformed Block1 option' };
    if (block.szx === 7) return { code: '4.00', text: 'Block1 SZX 7 (BERT) is defined for CoAP over TCP only' };
    const len = packet.payload.length;
    // §2.2: every block but the last carries exactly the block size.
    if (block.more && len !== block.size) return { code: '4.00', text: `Block1 ${block.num} with M=1 carries ${len} bytes, not ${block.size}` };
    const tag = optionValue(packet, REQUEST_TAG)?.toString('hex') ?? '';
    const key = `${rinfo.address}:${rinfo.port} ${packet.code} ${path} ${tag}`;
    const offset = block.num * block.size;
    for (const [k, t] of this.transfers) {
      if (now - t.touched < EXCHANGE_LIFETIME_MS && this.transfers.size < MAX_TRANSFERS) break;
      this.transfers.delete(k); // expired, or the least recently active beyond the cap
    }
    if (offset + len > this.options.maxPayloadBytes) {
      this.transfers.delete(key);
      this.ctx.metrics.deadLetters.labels('WEIR_PAYLOAD_TOO_LARGE').inc();
      this.log.warn({ remote: rinfo.address, path, bytes: offset + len }, 'CoAP block-wise upload over coap.maxPayloadBytes; refused');
      return this.tooLarge(offset + len, true);
    }
    let t = this.transfers.get(key);
    if (block.num === 0) {
      t = { chunks: [], received: 0, touched: now };
    } else if (!t || offset > t.received) {
      return { code: '4.08', text: `Block1 ${block.num} arrived without the blocks before it` };
    }
    this.transfers.delete(key); // re-inserted below: Map order is least recently active first
    if (offset === t.received) {
      t.chunks.push(packet.payload);
      t.received += len;
    } else if (!(block.more && offset + len <= t.received)) {
      return { code: '4.08', text: `Block1 ${block.num} does not line up with the ${t.received} bytes received` };
    } // else: an earlier block sent again under a new Message ID: already stored
    t.touched = now;
    if (block.more) {
      this.transfers.set(key, t);
      // §2.3: 2.31 Continue, echoing the block (number, M=1, size).
      return { code: '2.31', options: [{ name: 'Block1', value: blockValue(block) }] };
    }
    return { payload: Buffer.concat(t.chunks, t.received), block1: block };
  }

  /** The request handler: the library built the response; the payload goes to the journal. */
  private onRequest(req: IncomingMessage, res: OutgoingMessage): void {
    const a = this.accepted.get(req._packet);
    res.on('error', (err: Error) => this.log.debug({ remote: req.rsinfo.address, err: describeError(err) }, 'CoAP response not delivered'));
    if (!a) {
      // Not through onDatagram: cannot happen while the hook is installed.
      res.code = '5.00';
      return void res.end(diagnostic('request bypassed the gateway'));
    }
    const { exchange } = a;
    exchange.response = res;
    const send = res._send;
    res._send = (message, packet) => {
      // The final response: piggybacked in the ACK (kept for duplicates) or separate.
      if (packet.ack) exchange.replay = encode({ ...packet, options: [...(packet.options ?? [])] });
      else exchange.separate = true;
      exchange.response = undefined;
      send(message, packet);
    };
    this.inflight.begin();
    const delivery = { protocol: 'coap' as const, topic: a.path, payload: a.payload, client: req.rsinfo.address, maxBytes: this.options.maxPayloadBytes };
    this.ingest.submit(delivery, (err, outcome) => {
      try {
        this.respond(res, a, err, outcome);
      } catch (e) {
        this.log.warn({ err: describeError(e) }, 'CoAP response failed');
      } finally {
        this.inflight.end();
      }
    });
  }

  /** Maps the ingest outcome to a response code and diagnostic payload. */
  private respond(res: OutgoingMessage, a: Accepted, err: Error | null, outcome: IngestOutcome): void {
    const reply = this.outcomeReply(err, outcome);
    if (a.block1) res.setOption('Block1', blockValue({ ...a.block1, more: false }));
    for (const o of reply.options ?? []) res.setOption(String(o.name), o.value);
    res.code = reply.code;
    this.counted(reply.code);
    if (reply.text) res.end(diagnostic(reply.text));
    else res.end();
  }

  private outcomeReply(err: Error | null, outcome: IngestOutcome): Reply {
    if (err) {
      const code: ErrorCode = isWeirError(err) ? err.code : 'WEIR_JOURNAL_FAILED';
      return this.unavailable(`${code}: ${err.message}`);
    }
    const first = outcome.rejects[0];
    const text = (r: { code: string; reason: string }) => `${r.code}: ${r.reason}`;
    if (outcome.readings === 0 && first) {
      if (outcome.rejects.every((r) => r.code === 'WEIR_NO_PROFILE')) return { code: '4.04', text: text(first) };
      const large = outcome.rejects.find((r) => r.code === 'WEIR_PAYLOAD_TOO_LARGE');
      if (large) return { code: '4.13', text: text(large), options: [{ name: 'Size1', value: uint(this.options.maxPayloadBytes) }] };
      return { code: '4.00', text: outcome.rejects.length > 1 ? `${text(first)} (+${outcome.rejects.length - 1} more)` : text(first) };
    }
    if (first) return { code: '2.04', text: `${outcome.readings} readings; ${outcome.rejects.length} dead-lettered, first ${text(first)}` };
    return { code: '2.04' };
  }

  private unavailable(text: string): Reply {
    return { code: '5.03', text, options: [{ name: 'Max-Age', value: uint(RETRY_AFTER_SECONDS) }] };
  }

  /** 4.13 with Size1 = the limit (§5.10.9, RFC 7959 §2.9.3). */
  private tooLarge(bytes: number, atLeast = false): Reply {
    const max = this.options.maxPayloadBytes;
    return {
      code: '4.13',
      text: `WEIR_PAYLOAD_TOO_LARGE: payload of ${atLeast ? 'at least ' : ''}${bytes} bytes exceeds the limit of ${max}`,
      options: [{ name: 'Size1', value: uint(max) }],
    };
  }

  /** Answers a request here, without the library: piggybacked for CON (§5.2.1), NON for NON (§5.2.3). */
  private reply(exchange: Exchange, packet: ParsedPacket, rinfo: AddressLike, reply: Reply): void {
    const message = this.answer(packet, reply);
    if (packet.confirmable) exchange.replay = message;
    this.counted(reply.code);
    this.send(message, rinfo);
  }

  private answer(packet: ParsedPacket, reply: Reply): Buffer {
    return encode({
      code: reply.code,
      token: packet.token,
      messageId: packet.messageId,
      ack: packet.confirmable,
      options: reply.options ?? [],
      payload: reply.text ? diagnostic(reply.text) : Buffer.alloc(0),
    });
  }

  /** §4.5: a duplicate is acknowledged like its original but processed only once. */
  private duplicate(exchange: Exchange, rinfo: AddressLike): void {
    this.counts.duplicates++;
    if (!exchange.confirmable) return; // a NON duplicate: nothing to acknowledge
    if (exchange.replay) return this.send(exchange.replay, rinfo);
    // The library flips its response to CON once it sent the empty ACK (separate response).
    if (exchange.separate || exchange.response?._packet.confirmable) return this.send(emptyAck(exchange.messageId), rinfo);
    // Still within the piggyback window: the original's ACK is coming.
  }

  private remember(key: string, exchange: Exchange, now: number): void {
    for (const [k, e] of this.exchanges) {
      if (e.expires > now && this.exchanges.size < MAX_EXCHANGES) break;
      this.exchanges.delete(k);
    }
    this.exchanges.delete(key);
    this.exchanges.set(key, exchange);
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
