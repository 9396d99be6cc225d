import { randomBytes } from 'node:crypto';
import { generate, type Packet, type ParsedPacket } from 'coap-packet';

/**
 * Small CoAP helpers shared by the CoAP server (server.ts and its stages) and the
 * observe client (observe.ts and its stages): option values, block options, the
 * transmission parameters, and building the few messages both send themselves.
 * Packets are coap-packet's (the codec the `coap` package is built on).
 */

/** RFC 7252 §4.8 default transmission parameters and §4.8.2 derived times. */
export const ACK_TIMEOUT_MS = 2000;
export const ACK_RANDOM_FACTOR = 1.5;
export const MAX_RETRANSMIT = 4;
/** §4.8.2: how long a Message ID of a CON message must be remembered for deduplication. */
export const EXCHANGE_LIFETIME_MS = 247_000;
/** §4.8.2: the same for NON messages. */
export const NON_LIFETIME_MS = 145_000;

/** Option numbers the `coap-packet` codec has no name for: Request-Tag, RFC 9175 §3.2. */
export const REQUEST_TAG = '292';

/** Content-Format ids (RFC 7252 §12.3 and the IANA CoAP Content-Formats registry). */
export const CONTENT_FORMATS: Readonly<Record<number, string>> = {
  0: 'text/plain; charset=utf-8',
  42: 'application/octet-stream',
  50: 'application/json',
  60: 'application/cbor',
  110: 'application/senml+json',
  112: 'application/senml+cbor',
};

/** The first value of an option, or undefined. */
export function optionValue(packet: Pick<ParsedPacket, 'options'>, name: string): Buffer | undefined {
  for (const o of packet.options ?? []) if (o.name === name) return o.value;
  return undefined;
}

/** Every value of a repeatable option (Uri-Path, Uri-Query), in order. */
export function optionValues(packet: Pick<ParsedPacket, 'options'>, name: string): Buffer[] {
  return (packet.options ?? []).filter((o) => o.name === name).map((o) => o.value);
}

/** RFC 7252 §3.2 uint: big-endian, 0–4 bytes, an empty value is 0. NaN when longer. */
export function readUint(value: Buffer): number {
  if (value.length > 4) return NaN;
  let n = 0;
  for (const byte of value) n = n * 256 + byte;
  return n;
}

/**
 * A uint option's value, or undefined when it is absent or its length is outside
 * `maxBytes` (RFC 7252 §5.10's range for it): §5.4.3 treats such a value as an
 * unrecognized option, and an unrecognized elective option is silently ignored (§5.4.1).
 * For elective options only (Content-Format 0–2 bytes, Size1 0–4, Observe 0–3).
 */
export function electiveUint(packet: Pick<ParsedPacket, 'options'>, name: string, maxBytes: number): number | undefined {
  const value = optionValue(packet, name);
  return value === undefined || value.length > maxBytes ? undefined : readUint(value);
}

/** The shortest uint encoding (§3.2: a sender SHOULD send 0 as an empty value). */
export function uint(n: number): Buffer {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from(bytes);
}

/** A Block1/Block2 option value, RFC 7959 §2.2: NUM (4–20 bits), M, SZX (size = 2^(SZX+4)). */
export interface BlockOption {
  num: number;
  more: boolean;
  szx: number;
  /** Block size in bytes; SZX 7 is reserved (BERT, RFC 8323 — TCP only). */
  size: number;
}

/** Parses a block option; null when it is longer than 3 bytes (§2.2). */
export function parseBlock(value: Buffer): BlockOption | null {
  if (value.length > 3) return null;
  const v = readUint(value);
  const szx = v & 0x7;
  return { num: Math.floor(v / 16), more: (v & 0x8) !== 0, szx, size: 2 ** (szx + 4) };
}

export function blockValue(b: { num: number; more: boolean; szx: number }): Buffer {
  return uint(b.num * 16 + (b.more ? 8 : 0) + b.szx);
}

/** Fresh random token (RFC 7252 §5.3.1: tokens SHOULD be random for requests to other hosts). */
export function newToken(): Buffer {
  return randomBytes(8);
}

/** Message IDs of one endpoint: sequential from a random start (§4.4). */
export class MessageIds {
  private next = randomBytes(2).readUInt16BE(0);
  take(): number {
    const id = this.next;
    this.next = (this.next + 1) & 0xffff;
    return id;
  }
}

/**
 * A diagnostic payload (RFC 7252 §5.5.2): a brief UTF-8 text, carried without a
 * Content-Format option. Cut on a character boundary so it stays valid UTF-8 and the
 * response stays well inside one datagram.
 */
export function diagnostic(text: string, maxBytes = 240): Buffer {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return buf;
  let end = maxBytes;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // never cut inside a UTF-8 sequence
  return buf.subarray(0, end);
}

/** The empty ACK of a CON message (§4.2), also the reply to a duplicate after a separate response (§4.5). */
export function emptyAck(messageId: number): Buffer {
  return generate({ code: '0.00', ack: true, messageId, token: Buffer.alloc(0) });
}

/** A Reset (§4.2/§4.3): rejects a message, e.g. a CoAP ping or a notification nobody asked for. */
export function reset(messageId: number): Buffer {
  return generate({ code: '0.00', reset: true, messageId, token: Buffer.alloc(0) });
}

/** Encodes a message, up to what one UDP datagram carries (coap-packet's default cap is 1280 bytes). */
export function encode(packet: Packet): Buffer {
  return generate(packet, 65_507);
}

/** Option numbers by the names coap-packet gives them (RFC 7252 §12.2 registry); others it names by number. */
const OPTION_NUMBERS: Readonly<Record<string, number>> = {
  'If-Match': 1, 'Uri-Host': 3, ETag: 4, 'If-None-Match': 5, Observe: 6, 'Uri-Port': 7, 'Location-Path': 8,
  OSCORE: 9, 'Uri-Path': 11, 'Content-Format': 12, 'Max-Age': 14, 'Uri-Query': 15, 'Hop-Limit': 16, Accept: 17,
  'Q-Block1': 19, 'Location-Query': 20, Block2: 23, Block1: 27, Size2: 28, 'Q-Block2': 31, 'Proxy-Uri': 35,
  'Proxy-Scheme': 39, Size1: 60, 'No-Response': 258,
  'OCF-Accept-Content-Format-Version': 2049, 'OCF-Content-Format-Version': 2053,
};

export function optionNumber(name: string | number): number {
  return typeof name === 'number' ? name : OPTION_NUMBERS[name] ?? Number(name);
}

/** RFC 7252 §5.4.1/§5.4.6: odd option numbers are critical — a request carrying one the server does not understand must be refused. */
export function isCritical(number: number): boolean {
  return (number & 1) === 1;
}

/** "0.02" → "POST" etc. (§12.1.1), for diagnostics. */
export function methodName(code: string): string {
  return ({ '0.01': 'GET', '0.02': 'POST', '0.03': 'PUT', '0.04': 'DELETE', '0.05': 'FETCH', '0.06': 'PATCH', '0.07': 'iPATCH' } as Record<string, string>)[code] ?? code;
}
