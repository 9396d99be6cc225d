import { generate, parse, type ParsedPacket } from 'coap-packet';
import { expect } from 'vitest';
import { coapConfigSchema, type CoapConfigInput } from '../../../src/config/coap-schema.js';
import type { ManualClock } from '../../../src/core/clock.js';
import { WeirError } from '../../../src/core/errors.js';
import type { Journal } from '../../../src/journal/journal.js';
import { blockValue, optionValue, parseBlock, uint } from '../../../src/sources/coap/message.js';
import { CoapObserveSource } from '../../../src/sources/coap/observe.js';
import { makeContext, type Defer } from '../support.js';
import { HeldJournal, RawPeer, ingestHarness, type IngestHarness } from './support.js';
import { waitFor } from '../../support/wait.js';

/**
 * What the CoAP observe tests share (coap-observe.test.ts, coap-observe-blockwise.test.ts):
 * the observer on a ManualClock, a scripted device on raw UDP — libcoap cannot be made to
 * restart its notification numbers while keeping an observer, send a notification for a
 * stale token, or hold a block-wise answer back; a raw UDP peer can — and the packets it sends.
 */

export const T0 = 1_700_000_000_000;
export const json = (usage: number, i = usage) => JSON.stringify({ usage, occurred_at: T0 + i });

export function observer(h: IngestHarness, clock: ManualClock, coap: CoapConfigInput) {
  // The observer runs on a ManualClock (silence, retransmission, backoff are exact);
  // the journal keeps the system clock for its group commit.
  const source = new CoapObserveSource(makeContext({}, clock), h.ingest, coapConfigSchema.parse(coap));
  const obs = () => (source.status().observations as Array<Record<string, unknown>>)[0]!;
  return { source, obs };
}

export const usages = (h: IngestHarness) => h.records('readings').map((r) => (JSON.parse(r.body) as { metrics: { usage: number } }).metrics.usage);

/** An ingest harness whose journal refuses the next append after refuseNext() (WEIR_JOURNAL_BUSY), once. */
export function refusingHarness(): { h: IngestHarness; refuseNext: () => void } {
  let failNext = false;
  const h = ingestHarness({
    wrap: (j: Journal) => {
      const held = new HeldJournal(j);
      held.release();
      const append = held.append.bind(held);
      held.append = (entry, done) => {
        if (!failNext) return append(entry, done);
        failNext = false;
        process.nextTick(done, new WeirError('WEIR_JOURNAL_BUSY', 'too many records waiting for a commit'), 0);
      };
      return held;
    },
  });
  return { h, refuseNext: () => void (failNext = true) };
}

export async function scriptedDevice(defer: Defer): Promise<RawPeer> {
  const peer = new RawPeer();
  await peer.bind();
  defer(() => peer.close());
  return peer;
}

export async function next(d: RawPeer) {
  const got = await d.next();
  if (!got) throw new Error('nothing arrived');
  return { packet: parse(got.msg), port: got.rinfo.port };
}

export const observeOf = (p: ParsedPacket) => p.options.find((o) => o.name === 'Observe')?.value;

export const notification = (f: { con?: boolean; ack?: boolean; mid: number; token: Buffer; seq?: number; code?: string; payload?: string }) => generate({
  confirmable: f.con ?? false, ack: f.ack ?? false, code: f.code ?? '2.05', messageId: f.mid, token: f.token,
  options: f.seq === undefined ? [] : [{ name: 'Observe', value: uint(f.seq) }], payload: Buffer.from(f.payload ?? ''),
});

/** Block `num` (16 bytes, SZX 0) of `body` with Block2 and an ETag (RFC 7959 §2.6): a notification (seq) or a block GET's answer. */
export const blockOf = (body: Buffer, num: number, f: { con?: boolean; ack?: boolean; mid: number; token: Buffer; seq?: number }) => generate({
  confirmable: f.con ?? false, ack: f.ack ?? false, code: '2.05', messageId: f.mid, token: f.token,
  options: [
    ...(f.seq === undefined ? [] : [{ name: 'Observe', value: uint(f.seq) }]),
    { name: 'ETag', value: Buffer.from('e1') },
    { name: 'Block2', value: blockValue({ num, more: (num + 1) * 16 < body.length, szx: 0 }) },
  ],
  payload: body.subarray(num * 16, (num + 1) * 16),
});

/** Answers the gateway's GETs for blocks 1… of `body` (piggybacked), checking each asks for the next block. */
export async function serveBlocks(d: RawPeer, body: Buffer): Promise<void> {
  for (let num = 1; num * 16 < body.length; num++) {
    const get = await next(d); // the next block is asked for: no ACK of the notification yet
    expect(get.packet).toMatchObject({ confirmable: true, code: '0.01' });
    expect(parseBlock(optionValue(get.packet, 'Block2')!)).toMatchObject({ num, szx: 0 });
    expect(observeOf(get.packet)).toBeUndefined();
    await d.send(blockOf(body, num, { ack: true, mid: get.packet.messageId, token: get.packet.token }), get.port);
  }
}

/**
 * A scripted device observed by a started observer (`coap(port)` its config), stopped
 * at the test's end, and the registration it received.
 */
export async function observing(defer: Defer, h: IngestHarness, clock: ManualClock, coap: (port: number) => CoapConfigInput) {
  const d = await scriptedDevice(defer);
  const { source, obs } = observer(h, clock, coap(d.socket.address().port));
  await source.start();
  defer(() => source.stop());
  const reg = await next(d);
  return { d, source, obs, reg };
}

/** observing() one resource, its registration answered with notification 1 (piggybacked), journaled. */
export async function observingFirst(defer: Defer, h: IngestHarness, clock: ManualClock, path: string) {
  const o = await observing(defer, h, clock, (port) => ({ observe: [`coap://127.0.0.1:${port}${path}`] }));
  const token = o.reg.packet.token;
  await o.d.send(notification({ ack: true, mid: o.reg.packet.messageId, token, seq: 1, payload: json(1) }), o.reg.port);
  await waitFor(() => usages(h).length === 1, 5000, 'condition', 10);
  return { ...o, token };
}
