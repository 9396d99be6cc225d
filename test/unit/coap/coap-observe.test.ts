import { spawn, type ChildProcess } from 'node:child_process';
import { generate, parse } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { RETRY_INITIAL_MS, isFresh } from '../../../src/sources/coap/observation.js';
import { freePort } from '../../support/kafka-broker.js';
import { useCleanups } from '../support.js';
import { COAP_SERVER, RawPeer, coapClient, ingestHarness } from './support.js';
import { T0, json, next, notification, observeOf, observer, observing, observingFirst, refusingHarness, scriptedDevice, usages } from './observe-support.js';
import { sleep, waitFor } from '../../support/wait.js';

const defer = useCleanups();

describe('CoAP observe against libcoap coap-server (the real device)', () => {
  const devices = new Set<ChildProcess>();

  /** Starts libcoap's example server (its /example_data is observable and takes PUT); resolves once it answers a ping. */
  async function startDevice(port: number): Promise<ChildProcess> {
    const child = spawn(COAP_SERVER, ['-A', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    devices.add(child);
    child.once('exit', () => devices.delete(child));
    const ping = new RawPeer();
    await ping.bind();
    try {
      for (let i = 0; i < 100; i++) {
        await ping.send(generate({ confirmable: true, code: '0.00', messageId: i }), port);
        const answer = await ping.next(100);
        if (answer && parse(answer.msg).reset) return child;
      }
      throw new Error('coap-server did not start');
    } finally {
      await ping.close();
    }
  }

  async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  async function put(port: number, payload: string): Promise<void> {
    const { response } = await coapClient('-m', 'put', '-e', payload, `coap://127.0.0.1:${port}/example_data`);
    expect(['2.01', '2.04']).toContain(response.code); // libcoap: 2.01 Created for the first PUT
  }

  it('journals notifications, and registers again after the device is power-cycled (silence) and after it shuts down (4.04)', async () => {
    defer(async () => {
      for (const d of devices) await kill(d, 'SIGKILL');
    });
    const clock = new ManualClock();
    const h = ingestHarness();
    defer(() => h.close());
    const devicePort = await freePort();
    let device = await startDevice(devicePort);
    const { source, obs } = observer(h, clock, {
      observe: [{ url: `coap://127.0.0.1:${devicePort}/example_data`, profilePath: '/t/dev-obs', reregisterAfterSeconds: 60 }],
    });
    await source.start();
    defer(() => source.stop());

    // libcoap's initial /example_data is 1500 bytes, sent block-wise (Block2): fetched
    // whole, it is not JSON, so it is dead-lettered — with all 1500 bytes.
    await waitFor(() => h.records('deadletter').length === 1, 5000, 'the first notification', 10);
    const first = JSON.parse(h.records('deadletter')[0]!.body) as { code: string; source: string; payload_b64: string };
    expect(first).toMatchObject({ code: 'WEIR_DECODE_FAILED', source: '/t/dev-obs' });
    expect(Buffer.from(first.payload_b64, 'base64')).toHaveLength(1500);
    expect(obs()).toMatchObject({ state: 'observing', registrations: 1 });

    await put(devicePort, json(10));
    await waitFor(() => usages(h).length === 1, 5000, 'the notification of the PUT', 10);
    expect(h.records('readings')[0]).toMatchObject({ key: 'dev-obs', profile: 'coap-test', ts: T0 + 10 });

    // Power cut: the restarted device has forgotten its observers, so its next change reaches nobody …
    await kill(device, 'SIGKILL');
    device = await startDevice(devicePort);
    await put(devicePort, json(20));
    await sleep(300);
    expect(usages(h)).toEqual([10]);
    // … until the silence runs out and Weir registers again, getting the current value.
    clock.advance(59_999);
    await sleep(100);
    expect(obs()).toMatchObject({ registrations: 1 });
    clock.advance(1);
    await waitFor(() => usages(h).length === 2, 5000, 're-registration after silence', 10);
    expect(obs()).toMatchObject({ state: 'observing', registrations: 2 });
    await put(devicePort, json(30));
    await waitFor(() => usages(h).length === 3, 5000, 'the notification of the next PUT', 10);

    // A clean shutdown: libcoap tells its observers 4.04 (RFC 7641 §3.2) — the observation ended.
    await kill(device, 'SIGTERM');
    await waitFor(() => obs().state === 'backoff', 5000, 'the 4.04 notification', 10);
    expect(obs().lastError).toMatch(/^device answered 4\.04/);
    device = await startDevice(devicePort);
    clock.advance(RETRY_INITIAL_MS); // the first retry waits between half and all of it (full jitter)
    await waitFor(() => obs().registrations === 3, 5000, 're-registration after the 4.04', 10);
    // The restarted device's initial 1500 bytes again: the same dead letter, which ingest
    // recognises as a resend (src/ingest/dedup.ts) and does not journal twice.
    await waitFor(() => obs().notifications === 5, 5000, 'the initial value of the restarted device', 10);
    expect(h.records('deadletter')).toHaveLength(1);
    await put(devicePort, json(40));
    await waitFor(() => usages(h).length === 4, 5000, 'condition', 10);
    expect(usages(h)).toEqual([10, 20, 30, 40]);
    expect(obs()).toMatchObject({ state: 'observing', notifications: 6, failures: 1, stale: 0 });
  });
});
describe('CoAP observe against a scripted device (raw UDP)', () => {
  const device = () => scriptedDevice(defer);

  it('retransmits the registration, ACKs after the commit, drops outdated notifications (§3.4), RSTs old tokens, deregisters on stop', async () => {
    const clock = new ManualClock();
    const h = ingestHarness();
    defer(() => h.close());
    const d = await device();
    const port = d.socket.address().port;
    const { source, obs } = observer(h, clock, { observe: [`coap://127.0.0.1:${port}/t/raw-1?unit=pct`] });
    await source.start();
    let stopped = false;
    defer(() => (stopped ? undefined : source.stop()));

    // The registration: CON GET, Observe=0 (empty uint), Uri-Path t/raw-1, Uri-Query. Lost once:
    const reg1 = await next(d);
    expect(reg1.packet).toMatchObject({ confirmable: true, code: '0.01' });
    expect(observeOf(reg1.packet)).toEqual(Buffer.alloc(0));
    expect(reg1.packet.options.filter((o) => o.name === 'Uri-Path' || o.name === 'Uri-Query').map((o) => o.value.toString()))
      .toEqual(['t', 'raw-1', 'unit=pct']);
    expect(await d.next(100)).toBeNull();
    clock.advance(3000); // ACK_TIMEOUT × ACK_RANDOM_FACTOR at most (RFC 7252 §4.2)
    const again = await next(d);
    expect(again.packet).toMatchObject({ messageId: reg1.packet.messageId, token: reg1.packet.token });
    const token1 = reg1.packet.token;
    await d.send(notification({ ack: true, mid: reg1.packet.messageId, token: token1, seq: 100, payload: json(1) }), reg1.port);
    await waitFor(() => usages(h).length === 1, 5000, 'condition', 10);
    expect(obs()).toMatchObject({ state: 'observing', registrations: 1, lastSequence: 100 });

    // A CON notification: its ACK comes after the commit; a retransmission is ACKed, not journaled.
    const n101 = notification({ con: true, mid: 500, token: token1, seq: 101, payload: json(2) });
    await d.send(n101, reg1.port);
    const ack = await next(d);
    expect(ack.packet).toMatchObject({ ack: true, code: '0.00', messageId: 500 });
    expect(usages(h)).toEqual([1, 2]); // committed before the ACK left
    await d.send(n101, reg1.port);
    expect((await next(d)).packet).toMatchObject({ ack: true, code: '0.00', messageId: 500 });
    expect(usages(h)).toEqual([1, 2]);

    // Notification 5 after 101, within 128 s: outdated (the device restarted its numbering).
    await d.send(notification({ con: true, mid: 501, token: token1, seq: 5, payload: json(3) }), reg1.port);
    expect((await next(d)).packet).toMatchObject({ ack: true, messageId: 501 });
    const reg2 = await next(d); // … and a new registration, with a new token
    expect(reg2.packet).toMatchObject({ confirmable: true, code: '0.01' });
    expect(observeOf(reg2.packet)).toEqual(Buffer.alloc(0));
    expect(reg2.packet.token.equals(token1)).toBe(false);
    expect(usages(h)).toEqual([1, 2]);
    expect(obs()).toMatchObject({ stale: 1, state: 'registering' });

    // The old token is now unknown: Reset (RFC 7641 §3.6).
    await d.send(notification({ mid: 502, token: token1, seq: 102, payload: json(9) }), reg1.port);
    expect((await next(d)).packet).toMatchObject({ reset: true, messageId: 502 });

    // The device answers the new registration separately: empty ACK, then a CON 2.05.
    await d.send(generate({ ack: true, code: '0.00', messageId: reg2.packet.messageId }), reg2.port);
    await d.send(notification({ con: true, mid: 503, token: reg2.packet.token, seq: 7, payload: json(4) }), reg2.port);
    expect((await next(d)).packet).toMatchObject({ ack: true, messageId: 503 });
    expect(usages(h)).toEqual([1, 2, 4]);
    expect(obs()).toMatchObject({ state: 'observing', registrations: 2, lastSequence: 7 });

    // Numbers wrap at 2^24; 128 s later anything is fresh again (§3.4).
    expect(isFresh(2 ** 24 - 1, 0, 3, 1000)).toBe(true);
    expect(isFresh(100, 0, 5, 128_001)).toBe(true);

    // An error notification ends the observation (§3.2): backoff, then a new registration.
    await d.send(notification({ con: true, code: '4.04', mid: 504, token: reg2.packet.token }), reg2.port);
    expect((await next(d)).packet).toMatchObject({ ack: true, messageId: 504 });
    await waitFor(() => obs().state === 'backoff', 5000, 'condition', 10);
    clock.advance(RETRY_INITIAL_MS);
    const reg3 = await next(d);
    expect(observeOf(reg3.packet)).toEqual(Buffer.alloc(0));
    await d.send(notification({ ack: true, mid: reg3.packet.messageId, token: reg3.packet.token, seq: 1, payload: json(5) }), reg3.port);
    await waitFor(() => usages(h).length === 4, 5000, 'condition', 10);

    // stop(): deregistration, GET with Observe=1 and the observation's token (§3.6).
    stopped = true;
    await source.stop();
    const dereg = await next(d);
    expect(dereg.packet).toMatchObject({ code: '0.01', token: reg3.packet.token });
    expect(observeOf(dereg.packet)).toEqual(Buffer.from([1]));
  });

  it('does not ACK a notification the journal refused, so the device retransmits it and it is journaled then', async () => {
    const clock = new ManualClock();
    const { h, refuseNext } = refusingHarness();
    refuseNext();
    defer(() => h.close());
    const { d, reg } = await observing(defer, h, clock, (port) => ({ observe: [`coap://127.0.0.1:${port}/t/raw-2`] }));
    const n = notification({ con: true, mid: 900, token: reg.packet.token, seq: 1, payload: json(1) });
    await d.send(generate({ ack: true, code: '0.00', messageId: reg.packet.messageId }), reg.port);
    await d.send(n, reg.port); // the first answer, separately: the journal refuses it
    expect(await d.next(500)).toBeNull(); // no ACK
    expect(usages(h)).toEqual([]);
    await d.send(n, reg.port); // the device's retransmission (RFC 7252 §4.2)
    expect((await next(d)).packet).toMatchObject({ ack: true, messageId: 900 });
    expect(usages(h)).toEqual([1]);
  });

  it('does not journal a refused notification\'s retransmission once a newer one was taken: notification order holds (RFC 7641 §3.4)', async () => {
    const clock = new ManualClock();
    const { h, refuseNext } = refusingHarness();
    defer(() => h.close());
    const { d, obs, reg, token } = await observingFirst(defer, h, clock, '/t/raw-8');

    refuseNext();
    const n2 = notification({ con: true, mid: 910, token, seq: 2, payload: json(2) });
    await d.send(n2, reg.port); // the journal refuses it: no ACK
    expect(await d.next(300)).toBeNull();
    await d.send(notification({ con: true, mid: 911, token, seq: 3, payload: json(3) }), reg.port);
    expect((await next(d)).packet).toMatchObject({ ack: true, messageId: 911 });
    expect(usages(h)).toEqual([1, 3]);
    // Notification 2 retransmitted (RFC 7252 §4.2): superseded by 3, neither journaled nor acknowledged.
    await d.send(n2, reg.port);
    const late = await d.next(300);
    expect(usages(h)).toEqual([1, 3]);
    expect(late).toBeNull();
    expect(obs()).toMatchObject({ state: 'observing', lastSequence: 3 });
  });

  it('ignores an Observe value longer than 3 bytes (RFC 7641 §2, RFC 7252 §5.4.3): the answer is journaled, the resource polled', async () => {
    const clock = new ManualClock();
    const h = ingestHarness();
    defer(() => h.close());
    const { d, obs, reg } = await observing(defer, h, clock, (port) => ({ observe: [`coap://127.0.0.1:${port}/t/raw-4`] }));
    await d.send(generate({
      ack: true, code: '2.05', messageId: reg.packet.messageId, token: reg.packet.token,
      options: [{ name: 'Observe', value: Buffer.from([0, 0, 0, 7]) }], payload: Buffer.from(json(1)),
    }), reg.port);
    await waitFor(() => usages(h).length === 1, 5000, 'condition', 10);
    expect(obs()).toMatchObject({ state: 'polling' });
  });

  it('polls a resource that is not observable: its value is journaled and fetched again after the silence', async () => {
    const clock = new ManualClock();
    const h = ingestHarness();
    defer(() => h.close());
    const { d, obs, reg } = await observing(defer, h, clock, (port) => ({ observe: [{ url: `coap://127.0.0.1:${port}/t/raw-3`, reregisterAfterSeconds: 30 }] }));
    await d.send(notification({ ack: true, mid: reg.packet.messageId, token: reg.packet.token, payload: json(1) }), reg.port); // no Observe
    await waitFor(() => usages(h).length === 1, 5000, 'condition', 10);
    expect(obs()).toMatchObject({ state: 'polling' });
    clock.advance(30_000);
    const again = await next(d);
    expect(observeOf(again.packet)).toEqual(Buffer.alloc(0));
    await d.send(notification({ ack: true, mid: again.packet.messageId, token: again.packet.token, payload: json(2) }), again.port);
    await waitFor(() => usages(h).length === 2, 5000, 'condition', 10);
    expect(obs()).toMatchObject({ registrations: 2 });
  });
});
