import type { Option, ParsedPacket } from 'coap-packet';
import { isWeirError, type ErrorCode } from '../../core/errors.js';
import type { IngestOutcome } from '../../ingest/ingest.js';
import { diagnostic, encode, uint } from './message.js';

/**
 * The CoAP server's answers (see the code table on CoapServerSource in server.ts):
 * what a refusal, an overload or an ingest outcome is answered with, and the message
 * that carries an answer sent without the `coap` package.
 *
 * Why apart: admission (admission.ts) and the commit path (server.ts) both answer with
 * these, and the mapping from an ingest outcome to a response code is the server's
 * contract with devices, worth reading in one place.
 *
 * Call order: none — pure functions of their arguments. Guarantees: every error reply
 * carries a diagnostic text (RFC 7252 §5.5.2: UTF-8, no Content-Format); 5.03 always
 * carries Max-Age (§5.9.3.4) and 4.13 always Size1 (§5.10.9). Errors: none thrown.
 */

/** Max-Age of a 5.03: when the device may try again (§5.9.3.4). */
export const RETRY_AFTER_SECONDS = 2;

/** A response decided by the gateway: its code, diagnostic text and options. */
export interface Reply {
  code: string;
  text?: string;
  options?: Option[];
}

/** 5.03 Service Unavailable with Max-Age: the journal cannot take it now (§5.9.3.4). */
export function unavailable(text: string): Reply {
  return { code: '5.03', text, options: [{ name: 'Max-Age', value: uint(RETRY_AFTER_SECONDS) }] };
}

/** 4.13 with Size1 = the limit (§5.10.9, RFC 7959 §2.9.3). */
export function tooLarge(bytes: number, max: number, atLeast = false): Reply {
  return {
    code: '4.13',
    text: `WEIR_PAYLOAD_TOO_LARGE: payload of ${atLeast ? 'at least ' : ''}${bytes} bytes exceeds the limit of ${max}`,
    options: [{ name: 'Size1', value: uint(max) }],
  };
}

/** Maps the ingest outcome (or the journal's error) to a response code and diagnostic payload. */
export function outcomeReply(err: Error | null, outcome: IngestOutcome, maxPayloadBytes: number): Reply {
  if (err) {
    const code: ErrorCode = isWeirError(err) ? err.code : 'WEIR_JOURNAL_FAILED';
    return unavailable(`${code}: ${err.message}`);
  }
  const first = outcome.rejects[0];
  const text = (r: { code: string; reason: string }) => `${r.code}: ${r.reason}`;
  if (outcome.readings === 0 && first) {
    if (outcome.rejects.every((r) => r.code === 'WEIR_NO_PROFILE')) return { code: '4.04', text: text(first) };
    const large = outcome.rejects.find((r) => r.code === 'WEIR_PAYLOAD_TOO_LARGE');
    if (large) return { code: '4.13', text: text(large), options: [{ name: 'Size1', value: uint(maxPayloadBytes) }] };
    return { code: '4.00', text: outcome.rejects.length > 1 ? `${text(first)} (+${outcome.rejects.length - 1} more)` : text(first) };
  }
  if (first) return { code: '2.04', text: `${outcome.readings} readings; ${outcome.rejects.length} dead-lettered, first ${text(first)}` };
  return { code: '2.04' };
}

/**
 * The message answering `packet` with `reply`, built without the library: piggybacked
 * in the ACK for CON (§5.2.1), a NON for NON (§5.2.3), same token and Message ID.
 */
export function answer(packet: ParsedPacket, reply: Reply): Buffer {
  return encode({
    code: reply.code,
    token: packet.token,
    messageId: packet.messageId,
    ack: packet.confirmable,
    options: reply.options ?? [],
    payload: reply.text ? diagnostic(reply.text) : Buffer.alloc(0),
  });
}
