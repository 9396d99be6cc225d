import type { ParsedPacket } from 'coap-packet';
import type { Context } from '../../core/context.js';
import type { LogThrottle } from '../../core/log-throttle.js';
import type { AddressLike } from './exchanges.js';
import {
  CONTENT_FORMATS, EXCHANGE_LIFETIME_MS, REQUEST_TAG, blockValue, electiveUint, isCritical, methodName, optionNumber, optionValue,
  parseBlock, type BlockOption,
} from './message.js';
import { tooLarge, unavailable, type Reply } from './replies.js';

/**
 * What a new request message gets before anything is journaled: a refusal, a 2.31
 * Continue for a Block1 block (RFC 7959), or its payload, whole, to journal.
 *
 * Why here and not in the `coap` package: it reassembles Block1 by token, but clients
 * may use a new token per block (RFC 7959 §2: "the client is free to choose tokens for
 * each exchange"; libcoap does), which breaks its reassembly. Here blocks are matched
 * by endpoint, method, path and Request-Tag (RFC 9175 §3.3), limited to maxPayloadBytes
 * as they arrive (not after), and answered 2.31 Continue (§2.3).
 *
 * Call order: check() once per new (not duplicate, exchanges.ts) request message, in
 * arrival order; clear() at stop. `transfers` any time (status).
 *
 * Guarantees: nothing refused here is stored (a Block1 upload cut off at the limit is
 * only counted in the WEIR_PAYLOAD_TOO_LARGE dead-letter metric and logged); at most
 * MAX_TRANSFERS uploads are kept, and MAX_TRANSFERS_PER_ENDPOINT from one endpoint, the
 * least recently active dropped first, and none longer than EXCHANGE_LIFETIME after its
 * last block. Errors: none thrown; every
 * problem is a Reply.
 */

/** Block-wise uploads in progress at once; the least recently active is dropped beyond it. */
const MAX_TRANSFERS = 64;
/**
 * Uploads in progress from one endpoint (RFC 7252 §1.2: address and port). A new one
 * beyond it drops that endpoint's least recently active, so a device that starts
 * uploads and abandons them (a new Request-Tag each time) cannot push out other devices'.
 */
const MAX_TRANSFERS_PER_ENDPOINT = 4;
/** Content-Formats a request may declare (none at all is fine too); anything else is 4.15. */
const ACCEPTED_FORMATS = new Set(Object.keys(CONTENT_FORMATS).map(Number));
/** Critical options (§5.4.1) this server processes; any other critical option is 4.02. */
const UNDERSTOOD_CRITICAL = new Set([3 /* Uri-Host */, 7 /* Uri-Port */, 11 /* Uri-Path */, 15 /* Uri-Query */, 17 /* Accept */, 23 /* Block2 */, 27 /* Block1 */]);

/** A request admitted to the journal: its whole payload, and the Block1 of its last block, if block-wise. */
export interface Admitted {
  payload: Buffer;
  /** Block1 of the last block, echoed in the final response (RFC 7959 §2.3). */
  block1?: BlockOption;
}

/** What admission needs of the server. */
export interface AdmissionContext {
  metrics: Context['metrics'];
  /** Warnings a device can set off at will (core/log-throttle.ts). */
  warnings: Pick<LogThrottle, 'warn'>;
  maxPayloadBytes: number;
  /** False once stop() began: new requests get 5.03 from then on. */
  accepting(): boolean;
}

/** A Block1 upload being reassembled (RFC 7959 §2.5). */
interface Transfer {
  /** The client's endpoint, `address:port`. */
  endpoint: string;
  chunks: Buffer[];
  received: number;
  touched: number;
}

export class Admission {
  private readonly transfers = new Map<string, Transfer>();

  constructor(private readonly ctx: AdmissionContext) {}

  /** Block-wise uploads in progress. */
  get transfersInProgress(): number {
    return this.transfers.size;
  }

  /** What to answer right away, or the payload (whole, after Block1) to journal. */
  check(packet: ParsedPacket, rinfo: AddressLike, path: string, now: number): Reply | Admitted {
    const max = this.ctx.maxPayloadBytes;
    if (!this.ctx.accepting()) return unavailable('WEIR_JOURNAL_CLOSED: the gateway is stopping');
    for (const o of packet.options) {
      const n = optionNumber(o.name);
      if (n === 35 || n === 39) return { code: '5.05', text: 'this gateway is not a proxy' }; // §5.7.2
      if (isCritical(n) && !UNDERSTOOD_CRITICAL.has(n)) return { code: '4.02', text: `critical option ${n} is not supported` };
    }
    if (packet.code !== '0.02' && packet.code !== '0.03') {
      return { code: '4.05', text: `${methodName(packet.code)} is not allowed: POST or PUT the payload` };
    }
    const format = electiveUint(packet, 'Content-Format', 2);
    if (format !== undefined && !ACCEPTED_FORMATS.has(format)) {
      return { code: '4.15', text: `WEIR_UNSUPPORTED_FORMAT: Content-Format ${format} is not accepted; use ${[...ACCEPTED_FORMATS].join(', ')} or none` };
    }
    // Size1 announces the whole body (RFC 7959 §4): refuse before any block is stored.
    const size1 = electiveUint(packet, 'Size1', 4);
    if (size1 !== undefined && size1 > max) return tooLarge(size1, max);
    const block1Value = optionValue(packet, 'Block1');
    if (block1Value !== undefined) return this.block1(packet, rinfo, path, block1Value, now);
    if (packet.payload.length === 0) return { code: '4.00', text: `${methodName(packet.code)} without a payload` };
    return { payload: packet.payload };
  }

  clear(): void {
    this.transfers.clear();
  }

  /** RFC 7959 §2.5: one block of a Block1 upload. */
  private block1(packet: ParsedPacket, rinfo: AddressLike, path: string, value: Buffer, now: number): Reply | Required<Admitted> {
    const block = parseBlock(value);
    if (!block) return { code: '4.00', text: 'malformed Block1 option' };
    if (block.szx === 7) return { code: '4.00', text: 'Block1 SZX 7 (BERT) is defined for CoAP over TCP only' };
    const len = packet.payload.length;
    // §2.2: every block but the last carries exactly the block size.
    if (block.more && len !== block.size) return { code: '4.00', text: `Block1 ${block.num} with M=1 carries ${len} bytes, not ${block.size}` };
    const tag = optionValue(packet, REQUEST_TAG)?.toString('hex') ?? '';
    const endpoint = `${rinfo.address}:${rinfo.port}`;
    const key = `${endpoint} ${packet.code} ${path} ${tag}`;
    const offset = block.num * block.size;
    for (const [k, t] of this.transfers) {
      if (now - t.touched < EXCHANGE_LIFETIME_MS && this.transfers.size < MAX_TRANSFERS) break;
      this.transfers.delete(k); // expired, or the least recently active beyond the cap
    }
    if (offset + len > this.ctx.maxPayloadBytes) {
      this.transfers.delete(key);
      this.ctx.metrics.deadLetters.labels('WEIR_PAYLOAD_TOO_LARGE').inc();
      this.ctx.warnings.warn('block1-too-large', { remote: rinfo.address, path, bytes: offset + len }, 'CoAP block-wise upload over coap.maxPayloadBytes; refused');
      return tooLarge(offset + len, this.ctx.maxPayloadBytes, true);
    }
    let t = this.transfers.get(key);
    if (block.num === 0) {
      if (!t) this.makeRoomFor(endpoint);
      t = { endpoint, chunks: [], received: 0, touched: now };
    } else if (!t || offset > t.received) {
      // RFC 7959 §2.9.2: 4.08 Request Entity Incomplete.
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

  /** Before a new upload from `endpoint`: drops its least recently active one if it has MAX_TRANSFERS_PER_ENDPOINT. */
  private makeRoomFor(endpoint: string): void {
    let oldest: string | undefined;
    let count = 0;
    for (const [k, t] of this.transfers) {
      if (t.endpoint !== endpoint) continue;
      oldest ??= k; // Map order: least recently active first
      count++;
    }
    if (count >= MAX_TRANSFERS_PER_ENDPOINT) this.transfers.delete(oldest!);
  }
}
