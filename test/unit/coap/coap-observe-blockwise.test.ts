import { generate, parse, type ParsedPacket } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { optionValue, parseBlock } from '../../../src/sources/coap/message.js';
import { RETRY_INITIAL_MS } from '../../../src/sources/coap/observation.js';
import { useCleanups } from '../support.js';
import { ingestHarness } from './support.js';
import { blockOf, json, next, notification, observeOf, observingFirst, refusingHarness, serveBlocks, usages } from './observe-support.js';
import { waitFor } from '../../support/wait.js';

// CoAP observe of a representation larger than one block (RFC 7959 §2.6), against a
// scripted device on raw UDP (observe-support.ts): when the notification is
// acknowledged, what a failed fetch or a refused value does, and notification order.

const defer = useCleanups();

describe('CoAP observe: block-wise notifications (scripted device)', () => {
  it('ACKs a block-wise CON notification only once the whole value is committed; a failed fetch registers again (RFC 7959 §2.6)', async () => {
    const clock = new ManualClock();
    const h = ingestHarness();
    defer(() => h.close());
    const { d, obs, reg, token } = await observingFirst(defer, h, clock, '/t/raw-5');

    // Notification 2 in three blocks: the device holds it until our ACK, which comes after the commit.
    const body2 = Buffer.from(json(2));
    expect(body2.length).toBeGreaterThan(32);
    await d.send(blockOf(body2, 0, { con: true, mid: 600, token, seq: 2 }), reg.port);
    await serveBlocks(d, body2);
    expect((await next(d)).packet).toMatchObject({ ack: true, code: '0.00', messageId: 600 });
    expect(usages(h)).toEqual([1, 2]); // committed before the ACK left

    // Notification 3: the device cannot serve block 1. Not acknowledged (its retransmission
    // neither), and a new registration fetches the current value.
    const body3 = Buffer.from(json(3));
    await d.send(blockOf(body3, 0, { con: true, mid: 601, token, seq: 3 }), reg.port);
    const get = await next(d);
    expect(get.packet).toMatchObject({ confirmable: true, code: '0.01' });
    await d.send(generate({ ack: true, code: '5.03', messageId: get.packet.messageId, token: get.packet.token }), get.port);
    await waitFor(() => obs().state === 'backoff', 5000, 'condition', 10);
    await d.send(blockOf(body3, 0, { con: true, mid: 601, token, seq: 3 }), reg.port);
    expect(await d.next(300)).toBeNull();
    clock.advance(RETRY_INITIAL_MS);
    const reg2 = await next(d);
    expect(observeOf(reg2.packet)).toEqual(Buffer.alloc(0));
    await d.send(notification({ ack: true, mid: reg2.packet.messageId, token: reg2.packet.token, seq: 4, payload: json(3) }), reg2.port);
    await waitFor(() => usages(h).length === 3, 5000, 'condition', 10);
    expect(usages(h)).toEqual([1, 2, 3]);
    expect(h.records('deadletter')).toEqual([]);
  });

  it('does not ACK a block-wise notification the journal refused: its retransmission fetches the blocks again', async () => {
    const clock = new ManualClock();
    const { h, refuseNext } = refusingHarness();
    defer(() => h.close());
    const { d, reg, token } = await observingFirst(defer, h, clock, '/t/raw-6');

    refuseNext();
    const body = Buffer.from(json(2));
    const n = blockOf(body, 0, { con: true, mid: 700, token, seq: 2 });
    await d.send(n, reg.port);
    await serveBlocks(d, body); // the journal refuses the whole value: no ACK
    expect(await d.next(500)).toBeNull();
    await d.send(n, reg.port); // the device's retransmission (RFC 7252 §4.2): fetched and journaled whole
    await serveBlocks(d, body);
    expect((await next(d)).packet).toMatchObject({ ack: true, code: '0.00', messageId: 700 });
    expect(usages(h)).toEqual([1, 2]);
    expect(h.records('deadletter')).toEqual([]);
  });

  it('a newer single-block notification supersedes a block-wise one still being fetched: journaled in notification order (RFC 7641 §3.4, §4.5.2)', async () => {
    const clock = new ManualClock();
    const h = ingestHarness();
    defer(() => h.close());
    const { d, obs, reg, token } = await observingFirst(defer, h, clock, '/t/raw-7');

    // Notification 2 in three blocks; the device is slow to serve block 1 …
    const body2 = Buffer.from(json(2));
    await d.send(blockOf(body2, 0, { con: true, mid: 800, token, seq: 2 }), reg.port);
    const get = await next(d);
    expect(parseBlock(optionValue(get.packet, 'Block2')!)).toMatchObject({ num: 1 });
    // … and meanwhile sends notification 3 in one block: journaled and ACKed at once.
    await d.send(notification({ con: true, mid: 801, token, seq: 3, payload: json(3) }), reg.port);
    expect((await next(d)).packet).toMatchObject({ ack: true, code: '0.00', messageId: 801 });
    expect(usages(h)).toEqual([1, 3]);

    // The device now answers block 1, and would serve any further block asked for: the
    // older value must not be journaled after the newer one, so nothing more is asked.
    await d.send(blockOf(body2, 1, { ack: true, mid: get.packet.messageId, token: get.packet.token }), get.port);
    const after: ParsedPacket[] = [];
    for (let got = await d.next(300); got; got = await d.next(300)) {
      const p = parse(got.msg);
      after.push(p);
      const b = optionValue(p, 'Block2');
      if (p.code === '0.01' && b) await d.send(blockOf(body2, parseBlock(b)!.num, { ack: true, mid: p.messageId, token: p.token }), got.rinfo.port);
    }
    expect(usages(h)).toEqual([1, 3]);
    expect(after).toEqual([]);
    clock.advance(3000); // nor is the abandoned block GET retransmitted (RFC 7252 §4.2)
    expect(await d.next(300)).toBeNull();
    // Notification 2 was never acknowledged (nothing of it was committed), nor is its retransmission.
    await d.send(blockOf(body2, 0, { con: true, mid: 800, token, seq: 2 }), reg.port);
    expect(await d.next(300)).toBeNull();
    expect(usages(h)).toEqual([1, 3]);

    // The observation goes on: the next block-wise notification is fetched and journaled.
    const body4 = Buffer.from(json(4));
    await d.send(blockOf(body4, 0, { con: true, mid: 802, token, seq: 4 }), reg.port);
    await serveBlocks(d, body4);
    expect((await next(d)).packet).toMatchObject({ ack: true, code: '0.00', messageId: 802 });
    expect(usages(h)).toEqual([1, 3, 4]);
    expect(obs()).toMatchObject({ state: 'observing', registrations: 1, failures: 0, lastSequence: 4 });
  });
});
