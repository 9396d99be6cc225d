import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate, parse } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { coapConfigSchema } from '../../../src/config/coap-schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import { MAX_EXCHANGES } from '../../../src/sources/coap/exchanges.js';
import { ACK_RANDOM_FACTOR, ACK_TIMEOUT_MS, MAX_RETRANSMIT } from '../../../src/sources/coap/message.js';
import { RETRY_AFTER_SECONDS } from '../../../src/sources/coap/replies.js';
import { CoapServerSource, PIGGYBACK_MS } from '../../../src/sources/coap/server.js';
import { tempDir, turns, useCleanups } from '../support.js';
import { CoapClientRun, HeldJournal, RawPeer, coapClient, serverHarness, type ServerHarness } from './support.js';
import { sleep, waitFor } from '../../support/wait.js';

const defer = useCleanups();

async function harness(opts: Parameters<typeof serverHarness>[0] = {}): Promise<ServerHarness> {
  const h = await serverHarness(opts);
  defer(() => h.close());
  return h;
}

const reading = (i: number, usage = 42.5) => ({ hostname: `host-${i}`, cpu: `cpu${i % 8}`, usage, occurred_at: 1_700_000_000_000 + i });
const body = (v: unknown) => JSON.stringify(v);

describe('CoAP server: POST/PUT into the journal', () => {
  it('answers a confirmable POST of a cpu-monitor reading with 2.04, piggybacked, once the reading is committed', async () => {
    const h = await harness();
    const { response } = await coapClient('-m', 'post', '-t', '50', '-e', body(reading(1)), h.url('/iot-data-input'));
    expect(response).toMatchObject({ type: 'ACK', code: '2.04' });
    const readings = h.records('readings');
    expect(readings).toHaveLength(1);
    expect(readings[0]).toMatchObject({ key: 'host-1', profile: 'cpu-monitor', ts: 1_700_000_000_001 });
    expect(JSON.parse(readings[0]!.body)).toEqual({ tags: { cpu: 'cpu1' }, metrics: { usage: 42.5 } });
    expect(h.source.status()).toMatchObject({ listening: true, address: `127.0.0.1:${h.port}`, requests: 1, responses: { '2.04': 1 } });
  });

  it('takes PUT too, and a path with the device in it (/t/{device})', async () => {
    const h = await harness();
    const { response } = await coapClient('-m', 'put', '-e', body({ usage: 7, occurred_at: 1_700_000_000_000 }), h.url('/t/dev-9'));
    expect(response.code).toBe('2.04');
    expect(h.records('readings')).toMatchObject([{ key: 'dev-9', profile: 'coap-test' }]);
  });

  it('does not answer before the commit: the device waits, gets an empty ACK, then the 2.04 as a separate response', async () => {
    let held!: HeldJournal;
    const h = await harness({ wrap: (j) => (held = new HeldJournal(j)) });
    const run = new CoapClientRun(['-m', 'post', '-e', body(reading(2)), h.url('/iot-data-input')]);
    await waitFor(() => held.waiting === 1, 5000, 'the append to wait for its acknowledgement', 10);
    await sleep(PIGGYBACK_MS + 700); // past the piggyback window, well into the wait
    expect(h.sqlite.stats().lastSeq).toBe(1); // the record is durable …
    expect(run.responses).toEqual([]); // … but the device has no answer
    expect(run.child.exitCode).toBeNull();
    expect(h.source.status()).toMatchObject({ inflight: 1 });
    held.release();
    expect(await run.exited).toBe(0);
    // The separate response (§5.2.2): a CON of its own, after the empty ACK.
    expect(run.responses).toMatchObject([{ type: 'CON', code: '2.04' }]);
    expect(h.records('readings')).toHaveLength(1);
  });
});

describe('CoAP server: error responses carry a diagnostic payload (RFC 7252 §5.5.2)', () => {
  it('4.00 for decode, shape and range failures; the dead letters are journaled', async () => {
    const h = await harness();
    const cases = [
      { payload: 'usage=12', code: 'WEIR_DECODE_FAILED' },
      { payload: body({ hostname: 'happy', cpu: 'cpu1', usage: 'high', occurred_at: 1 }), code: 'WEIR_WRONG_SHAPE' },
      { payload: body({ hostname: 'grumpy', cpu: 'cpu2', usage: 140, occurred_at: 1 }), code: 'WEIR_OUT_OF_RANGE' },
    ];
    for (const c of cases) {
      const { response } = await coapClient('-m', 'post', '-e', c.payload, h.url('/iot-data-input'));
      expect(response.code).toBe('4.00');
      expect(response.options).toBe(''); // diagnostic payload: no Content-Format (§5.5.2)
      expect(response.payload).toMatch(new RegExp(`^${c.code}: `));
    }
    const dead = h.records('deadletter').map((r) => JSON.parse(r.body) as { code: string; protocol: string; source: string });
    expect(dead.map((d) => d.code)).toEqual(cases.map((c) => c.code));
    expect(dead[0]).toMatchObject({ protocol: 'coap', source: '/iot-data-input' });
    expect(h.records('readings')).toHaveLength(0);
  });

  it('4.04 when no profile matches the path (WEIR_NO_PROFILE), dead-lettered', async () => {
    const h = await harness();
    const { response } = await coapClient('-m', 'post', '-e', body(reading(1)), h.url('/nowhere/at-all'));
    expect(response).toMatchObject({ code: '4.04', payload: 'WEIR_NO_PROFILE: no device profile matches coap "/nowhere/at-all"' });
    expect(h.records('deadletter')).toHaveLength(1);
  });

  it('4.05 for GET and DELETE, nothing journaled', async () => {
    const h = await harness();
    for (const method of ['get', 'delete']) {
      const { response } = await coapClient('-m', method, h.url('/iot-data-input'));
      expect(response).toMatchObject({ code: '4.05', payload: `${method.toUpperCase()} is not allowed: POST or PUT the payload` });
    }
    expect(h.records()).toHaveLength(0);
  });

  it('4.13 with Size1 over coap.maxPayloadBytes, the dead letter journaled', async () => {
    const h = await harness({ coap: { maxPayloadBytes: 100 } });
    const { response } = await coapClient('-m', 'post', '-e', body([reading(1), reading(2), reading(3)]), h.url('/iot-data-input'));
    expect(response).toMatchObject({ code: '4.13', options: 'Size1:100' });
    expect(response.payload).toMatch(/^WEIR_PAYLOAD_TOO_LARGE: payload of \d+ bytes exceeds the limit of 100$/);
    expect(JSON.parse(h.records('deadletter')[0]!.body)).toMatchObject({ code: 'WEIR_PAYLOAD_TOO_LARGE' });
  });

  it('4.15 for a Content-Format no decoder takes; the listed ones are accepted', async () => {
    const h = await harness();
    const xml = await coapClient('-m', 'post', '-t', '41', '-e', '<usage>1</usage>', h.url('/iot-data-input'));
    expect(xml.response.code).toBe('4.15');
    expect(xml.response.payload).toMatch(/^WEIR_UNSUPPORTED_FORMAT: Content-Format 41 is not accepted; use 0, 42, 50, 60, 110, 112 or none$/);
    const senml = await coapClient('-m', 'post', '-t', '110', '-e', body(reading(1)), h.url('/iot-data-input'));
    expect(senml.response.code).toBe('2.04');
    expect(h.records()).toHaveLength(1);
  });

  it('ignores a Content-Format or Size1 whose length is outside RFC 7252 §5.10\'s range, as an unrecognized elective option (§5.4.3, §5.4.1)', async () => {
    const h = await harness({ coap: { maxPayloadBytes: 200 } });
    // Content-Format in 3 bytes (0–2 allowed): were it read, 41 (XML) would get 4.15.
    const format = await coapClient('-m', 'post', '-O', '12,0x000029', '-e', body(reading(1)), h.url('/iot-data-input'));
    expect(format.response.code).toBe('2.04');
    // Size1 in 5 bytes (0–4 allowed), announcing 1 TB: were it read, 4.13 before the payload.
    const size1 = await coapClient('-m', 'post', '-O', '60,0x00ffffffff', '-e', body(reading(2)), h.url('/iot-data-input'));
    expect(size1.response.code).toBe('2.04');
    expect(h.records('readings').map((r) => r.key)).toEqual(['host-1', 'host-2']);
  });

  it('4.02 for a critical option the server does not understand (§5.4.1)', async () => {
    const h = await harness();
    const { response } = await coapClient('-m', 'post', '-O', '1,0x01', '-e', body(reading(1)), h.url('/iot-data-input')); // If-Match
    expect(response).toMatchObject({ code: '4.02', payload: 'critical option 1 is not supported' });
  });

  it('5.03 with Max-Age when the journal cannot take the payload', async () => {
    const h = await harness();
    await h.sqlite.close(); // closed journal: every append fails with WEIR_JOURNAL_CLOSED
    const { response } = await coapClient('-m', 'post', '-e', body(reading(1)), h.url('/iot-data-input'));
    expect(response).toMatchObject({ code: '5.03', options: `Max-Age:${RETRY_AFTER_SECONDS}` });
    expect(response.payload).toMatch(/^WEIR_JOURNAL_CLOSED: /);
  });
});

describe('CoAP server: block-wise uploads (RFC 7959 Block1)', () => {
  const bigPayload = () => {
    const readings = [];
    let text = '';
    for (let i = 0; text.length < 2000; i++) text = body((readings.push(reading(i, i % 100)), readings));
    return { readings, text };
  };

  it('reassembles a 2 KB payload sent in 64-byte blocks (libcoap: a new token per block, Request-Tag)', async () => {
    const h = await harness();
    const { readings, text } = bigPayload();
    const file = join(tempDir(), 'big.json');
    writeFileSync(file, text);
    const { run, response } = await coapClient('-m', 'post', '-b', '64', '-f', file, h.url('/iot-data-input'));
    const last = Math.ceil(text.length / 64) - 1;
    expect(run.responses.filter((r) => r.code === '2.31')).toHaveLength(last); // §2.3 Continue per block
    expect(response).toMatchObject({ code: '2.04', options: `Block1:${last}/_/64` });
    expect(h.records('readings').map((r) => r.key)).toEqual(readings.map((r) => r.hostname));
    expect(h.source.status()).toMatchObject({ blockTransfers: 0 });
  });

  it('refuses an upload over the limit with 4.13 and Size1 before storing it', async () => {
    const h = await harness({ coap: { maxPayloadBytes: 1000 } });
    const file = join(tempDir(), 'big.json');
    writeFileSync(file, bigPayload().text);
    const { response } = await coapClient('-m', 'post', '-b', '64', '-f', file, h.url('/iot-data-input'));
    expect(response).toMatchObject({ code: '4.13' });
    expect(response.options).toContain('Size1:1000');
    expect(h.records()).toHaveLength(0);
    expect(h.source.status()).toMatchObject({ blockTransfers: 0 });
  });

  it('answers 4.08 to a block whose predecessors never came', async () => {
    const h = await harness();
    const file = join(tempDir(), 'big.json');
    writeFileSync(file, bigPayload().text);
    const { response } = await coapClient('-m', 'post', '-b', '3,64', '-f', file, h.url('/iot-data-input'));
    expect(response).toMatchObject({ code: '4.08', payload: 'Block1 3 arrived without the blocks before it' });
  });
});

describe('CoAP server: one device cannot crowd out the block-wise uploads of others', () => {
  /** One Block1 block (RFC 7959 §2.2: NUM, M, SZX 2 = 64 bytes), with an optional Request-Tag (RFC 9175 §3.2). */
  const block = (messageId: number, num: number, more: boolean, payload: Buffer, tag?: number) => generate({
    confirmable: true, code: 'POST', messageId, token: Buffer.from([messageId & 0xff]),
    options: [
      { name: 'Uri-Path', value: Buffer.from('iot-data-input') },
      { name: 'Block1', value: Buffer.from([num * 16 + (more ? 8 : 0) + 2]) },
      ...(tag === undefined ? [] : [{ name: '292' as const, value: Buffer.from([tag]) }]),
    ] as Parameters<typeof generate>[0]['options'],
    payload,
  });

  it('a device starting many uploads (new Request-Tags) evicts only its own, not another device\'s in progress', async () => {
    const h = await harness();
    const good = new RawPeer();
    const bad = new RawPeer();
    for (const p of [good, bad]) {
      await p.bind();
      defer(() => p.close());
    }
    const text = Buffer.from(body([reading(1), reading(2)]).padEnd(100, ' '));
    await good.send(block(1, 0, true, text.subarray(0, 64)), h.port);
    expect(parse((await good.next())!.msg)).toMatchObject({ code: '2.31' });
    // A misbehaving device opens 100 uploads and never finishes them.
    for (let i = 0; i < 100; i++) {
      await bad.send(block(100 + i, 0, true, Buffer.alloc(64, 0x20), i), h.port);
      expect(parse((await bad.next())!.msg)).toMatchObject({ code: '2.31' });
    }
    await good.send(block(2, 1, false, text.subarray(64)), h.port);
    expect(parse((await good.next())!.msg)).toMatchObject({ code: '2.04' });
    expect(h.records('readings').map((r) => r.key)).toEqual(['host-1', 'host-2']);
    expect(h.source.status()).toMatchObject({ blockTransfers: 4 }); // the bad device's 4 latest (MAX_TRANSFERS_PER_ENDPOINT)
  });
});

describe('CoAP server: duplicate confirmable messages (RFC 7252 §4.5)', () => {
  const request = (messageId: number, payload: string) => generate({
    confirmable: true, code: 'POST', messageId, token: Buffer.from('c0ffee01', 'hex'),
    options: [{ name: 'Uri-Path', value: Buffer.from('iot-data-input') }], payload: Buffer.from(payload),
  });

  async function peer(): Promise<RawPeer> {
    const p = new RawPeer();
    await p.bind();
    defer(() => p.close());
    return p;
  }

  it('journals a retransmitted CON once and answers both copies with the same ACK', async () => {
    const h = await harness();
    const device = await peer();
    const datagram = request(0x1234, body(reading(5)));
    await device.send(datagram, h.port);
    const first = await device.next();
    await device.send(datagram, h.port); // the same bytes: a retransmission
    const second = await device.next();
    expect(first && second).toBeTruthy();
    expect(second!.msg.equals(first!.msg)).toBe(true);
    expect(parse(first!.msg)).toMatchObject({ ack: true, code: '2.04', messageId: 0x1234, token: Buffer.from('c0ffee01', 'hex') });
    expect(h.records()).toHaveLength(1);
    expect(h.source.status()).toMatchObject({ requests: 1, duplicates: 1 });
    // The ingest path never saw the second copy (it would count it as a resend).
    expect((await h.ctx.metrics.duplicates.get()).values[0]?.value ?? 0).toBe(0);
  });

  it('one endpoint flooding the server with messages does not push out another device\'s: its retransmission is still a duplicate', async () => {
    const h = await harness();
    const device = await peer();
    const flood = await peer();
    // env-sensor-binary: no event time in the frame (the time of receipt), so a reading
    // processed twice is two readings; ingest cannot recognise the second as a resend.
    const frame = Buffer.from('e5013a7f00120102085910fe27945700', 'hex');
    const datagram = generate({
      confirmable: true, code: 'POST', messageId: 0x4242, token: Buffer.from('0b', 'hex'),
      options: [{ name: 'Uri-Path', value: Buffer.from('env') }, { name: 'Uri-Path', value: Buffer.from('lab') }], payload: frame,
    });
    await device.send(datagram, h.port);
    const first = await device.next();
    expect(parse(first!.msg)).toMatchObject({ ack: true, code: '2.04', messageId: 0x4242 });
    // A chatty endpoint posts as many readings as the whole table holds, 200 outstanding at
    // a time (counted as the server answers: the peer's own receive buffer may drop some answers).
    const answered = () => (h.source.status().responses as Record<string, number>)['2.04'] ?? 0;
    for (let sent = 0; sent < MAX_EXCHANGES;) {
      for (let i = 0; i < 200; i++, sent++) await flood.send(request(sent, body(reading(sent))), h.port);
      await waitFor(() => answered() === 1 + sent, 10_000, 'the answers', 5);
    }
    await device.send(datagram, h.port); // the device's retransmission (its ACK was lost, §4.2)
    const second = await device.next();
    expect(second!.msg.equals(first!.msg)).toBe(true);
    expect(h.records('readings').filter((r) => r.key === '3a7f0012')).toHaveLength(1);
    expect(h.source.status()).toMatchObject({ requests: 1 + MAX_EXCHANGES, duplicates: 1 });
  });

  it('keeps the coap package\'s response cache bounded: memory does not grow with the request rate', async () => {
    // One request at a time (NSTART 1): each group is one reading, committed at once
    // rather than after journal.commitMaxWaitMs, or 3,000 requests would take minutes.
    const h = await harness({ config: { journal: { commitFillBytes: 0 } } });
    const device = await peer();
    for (let i = 0; i < 3000; i++) {
      await device.send(request(i, body(reading(1000 + i))), h.port);
      expect((await device.next())).toBeTruthy();
    }
    // A commit slower than PIGGYBACK_MS (a loaded machine) is answered by an empty ACK
    // first and a separate response later: the last one may still be committing here.
    await waitFor(() => h.records().length === 3000, 10_000, '3000 records', 20);
    expect(h.records()).toHaveLength(3000);
    // Each cached response pins its exchange (~6 KB) for EXCHANGE_LIFETIME (247 s) unless evicted.
    const lru = (h.source as unknown as { server: { _lru: { size: number } } }).server._lru;
    expect(lru.size).toBeLessThan(1000);
    // An answered request resent later is still answered the same, and not journaled again.
    await device.send(request(2999, body(reading(3999))), h.port);
    expect(parse((await device.next())!.msg)).toMatchObject({ ack: true, code: '2.04', messageId: 2999 });
    expect(h.records()).toHaveLength(3000);
  });

  it('does not process a retransmission that arrives while the commit is pending, nor after a separate response', async () => {
    let held!: HeldJournal;
    const h = await harness({ wrap: (j) => (held = new HeldJournal(j)) });
    const device = await peer();
    const datagram = request(0x2345, body(reading(6)));
    await device.send(datagram, h.port);
    await device.send(datagram, h.port); // within the piggyback window: dropped, the original's ACK comes
    const ack = await device.next(PIGGYBACK_MS + 1000);
    expect(parse(ack!.msg)).toMatchObject({ ack: true, code: '0.00', messageId: 0x2345 }); // empty ACK (§5.2.2)
    expect(await device.next(200)).toBeNull();
    await device.send(datagram, h.port); // the empty ACK was "lost": acknowledged again
    expect(parse((await device.next())!.msg)).toMatchObject({ ack: true, code: '0.00', messageId: 0x2345 });
    held.release();
    const separate = parse((await device.next())!.msg);
    expect(separate).toMatchObject({ confirmable: true, code: '2.04', token: Buffer.from('c0ffee01', 'hex') });
    await device.send(generate({ ack: true, code: '0.00', messageId: separate.messageId }), h.port);
    await device.send(datagram, h.port); // a late duplicate after the separate response
    expect(parse((await device.next())!.msg)).toMatchObject({ ack: true, code: '0.00', messageId: 0x2345 });
    expect(await device.next(300)).toBeNull(); // the separate response was acknowledged: not retransmitted
    expect(h.records()).toHaveLength(1);
    expect(h.source.status()).toMatchObject({ requests: 1, duplicates: 3 });
  });

  it('retransmits a separate response until the device acknowledges it (§4.2), whatever other devices are answered meanwhile', async () => {
    const clock = new ManualClock();
    let held!: HeldJournal;
    const h = await harness({ config: { journal: { commitFillBytes: 0 } }, wrap: (j) => (held = new HeldJournal(j)), sourceClock: clock });
    const device = await peer();
    await device.send(request(0x3456, body(reading(7))), h.port);
    expect(parse((await device.next(PIGGYBACK_MS + 1000))!.msg)).toMatchObject({ ack: true, code: '0.00', messageId: 0x3456 });
    held.release();
    const separate = parse((await device.next())!.msg);
    expect(separate).toMatchObject({ confirmable: true, code: '2.04', token: Buffer.from('c0ffee01', 'hex') });
    // The separate response is "lost". Meanwhile another device's 50 bad payloads are
    // answered 4.00 with a diagnostic: the coap package's response cache (4 KB) evicted the
    // separate response and, with it, its retransmission — the device, told by the empty
    // ACK to wait, never got its 2.04 though the reading was committed.
    const other = await peer();
    for (let i = 0; i < 50; i++) {
      await other.send(request(i, `usage=${i}`), h.port);
      expect(parse((await other.next())!.msg)).toMatchObject({ ack: true, code: '4.00', messageId: i });
    }
    clock.advance(ACK_TIMEOUT_MS * ACK_RANDOM_FACTOR);
    const again = await device.next(1000);
    expect(again && parse(again.msg)).toMatchObject({ confirmable: true, code: '2.04', messageId: separate.messageId });
    expect(h.source.status()).toMatchObject({ awaitingAck: 1 });
    await device.send(generate({ ack: true, code: '0.00', messageId: separate.messageId }), h.port);
    await waitFor(() => h.source.status().awaitingAck === 0, 2000, 'the ACK to end the retransmission', 10);
    clock.advance(4 * ACK_TIMEOUT_MS * ACK_RANDOM_FACTOR);
    expect(await device.next(200)).toBeNull(); // acknowledged: not retransmitted again
    expect(h.records('readings')).toHaveLength(1);
  });

  it('gives up a separate response after MAX_RETRANSMIT retransmissions (§4.2)', async () => {
    const clock = new ManualClock();
    let held!: HeldJournal;
    const h = await harness({ wrap: (j) => (held = new HeldJournal(j)), sourceClock: clock });
    const device = await peer();
    await device.send(request(0x4567, body(reading(8))), h.port);
    expect(parse((await device.next(PIGGYBACK_MS + 1000))!.msg)).toMatchObject({ ack: true, code: '0.00' });
    held.release();
    const first = parse((await device.next())!.msg);
    let timeout = ACK_TIMEOUT_MS * ACK_RANDOM_FACTOR;
    for (let i = 0; i < MAX_RETRANSMIT; i++, timeout *= 2) {
      clock.advance(timeout);
      expect(parse((await device.next(1000))!.msg)).toMatchObject({ confirmable: true, code: '2.04', messageId: first.messageId });
    }
    clock.advance(timeout);
    expect(await device.next(200)).toBeNull();
    expect(h.source.status()).toMatchObject({ awaitingAck: 0 });
  });

  it('answers a CoAP ping (empty CON) with RST (§4.3)', async () => {
    const h = await harness();
    const device = await peer();
    await device.send(generate({ confirmable: true, code: '0.00', messageId: 77 }), h.port);
    expect(parse((await device.next())!.msg)).toMatchObject({ reset: true, messageId: 77 });
  });

  it('rejects with RST a CON it has no context for: a response, or a reserved code class 1, 6 or 7 (§4.2); ignores such a NON (§4.3)', async () => {
    const h = await harness();
    const device = await peer();
    for (const [i, code] of ['2.05', '1.01', '6.00', '7.31'].entries()) {
      await device.send(generate({ confirmable: true, code, messageId: 300 + i, token: Buffer.from('c0ffee01', 'hex'), payload: Buffer.from('x') }), h.port);
      expect(parse((await device.next())!.msg)).toMatchObject({ reset: true, code: '0.00', messageId: 300 + i });
      await device.send(generate({ confirmable: false, code, messageId: 400 + i, token: Buffer.from('c0ffee01', 'hex'), payload: Buffer.from('x') }), h.port);
      expect(await device.next(200)).toBeNull();
    }
    expect(h.records()).toHaveLength(0);
  });
});

describe('CoAP server: lifecycle', () => {
  it('refuses to start on a port already bound, and closes the socket it could not bind', async () => {
    const h = await harness();
    // This process's UDP handles, once the closes under way are done (a handle goes in
    // the loop's close phase).
    const udpHandles = async () => {
      await turns();
      return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
    };
    const before = await udpHandles();
    const second = new CoapServerSource(h.ctx, h.ingest, coapConfigSchema.parse({ host: '127.0.0.1', port: h.port }));
    await expect(second.start()).rejects.toThrow(/EADDRINUSE/);
    expect(await udpHandles()).toBe(before);
  });

  it('stop() answers the requests waiting for their commit before closing', async () => {
    let held!: HeldJournal;
    const h = await serverHarness({ wrap: (j) => (held = new HeldJournal(j)) });
    const run = new CoapClientRun(['-m', 'post', '-e', body(reading(3)), h.url('/iot-data-input')]);
    await waitFor(() => held.waiting === 1, 5000, 'condition', 10);
    const stopped = h.source.stop();
    await sleep(50);
    held.release();
    await stopped;
    await h.sqlite.close();
    expect(await run.exited).toBe(0);
    expect(run.responses.at(-1)?.code).toBe('2.04');
  });
});
