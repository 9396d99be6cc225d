// Serial lines end to end: PTY pairs from socat stand in for a GNSS receiver (NMEA
// 0183, the bundled gps-nmea profile) and a packed-binary environmental sensor
// (length-prefixed frames, env-sensor-binary); what they write arrives on Kafka, and
// unplugging (socat killed, the PTY gone) and replugging the receiver is survived.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { getJson, startInProcess, testSetup, waitFor, type TestSetup } from '../support/gateway.js';
import { consumeAll, type ConsumedRecord } from '../support/kcat.js';
import { SocatPty } from '../unit/serial/pty.js';

/** An NMEA sentence with its checksum: XOR of the characters between $ and * (NMEA 0183 §5.3). */
function sentence(body: string): string {
  let sum = 0;
  for (const ch of body) sum ^= ch.charCodeAt(0);
  return `$${body}*${sum.toString(16).toUpperCase().padStart(2, '0')}\r\n`;
}

/** A GGA at second `i` past 12:00:00, latitude moving north by 0.001' a second. */
const gga = (i: number) => sentence(`GPGGA,12${String(Math.floor(i / 60)).padStart(2, '0')}${String(i % 60).padStart(2, '0')},4807.${String(38 + i).padStart(3, '0')},N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,`);
const GSV = sentence('GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00');

/** One env-sensor-binary frame (16 bytes) behind a 1-byte length: serial 3a7f0031, temperature i/100 °C. */
function envFrame(i: number): Buffer {
  const f = Buffer.alloc(16);
  f.writeUInt8(0xe5, 0);
  f.writeUInt8(1, 1);
  f.write('3a7f0031', 2, 'hex');
  f.writeUInt16BE(i, 6);
  f.writeInt16BE(i, 8); // temperature × 0.01
  f.writeUInt16BE(4500, 10); // humidity 45.00
  f.writeUInt16BE(10132, 12); // pressure 1013.2
  f.writeUInt8(90, 14); // battery
  return Buffer.concat([Buffer.from([16]), f]);
}

describe('serial lines', () => {
  const brokers = inject('kafkaBrokers');
  let setup: TestSetup;
  let gateway: Gateway;
  let gps: SocatPty;
  let env: SocatPty;
  beforeAll(async () => {
    const base = await testSetup(brokers);
    gps = new SocatPty(base.dir, 'gps');
    env = new SocatPty(base.dir, 'env');
    await gps.start();
    await env.start();
    setup = await testSetup(brokers, {
      serial: {
        ports: [
          { name: 'gps', path: gps.dev, baudRate: 9600, framing: 'nmea', reopenMinMs: 100, reopenMaxMs: 400 },
          { name: 'env', path: env.dev, framing: 'length-prefixed', lengthPrefix: { bytes: 1 } },
        ],
      },
    });
    gateway = await startInProcess(setup);
    await waitFor(async () => (await portState('gps')) === true && (await portState('env')) === true, 10_000, 'ports open');
  });
  afterAll(async () => {
    await gateway?.stop();
    await gps?.stop();
    await env?.stop();
  });

  async function portState(name: string): Promise<boolean | undefined> {
    const s = await getJson(setup.httpPort, '/api/status');
    const serial = (s.sources as Record<string, { ports?: Record<string, { open: boolean }> }>).serial;
    return serial?.ports?.[name]?.open;
  }

  const ofKey = (rs: ConsumedRecord[], key: string) => rs.filter((r) => r.key === key).map((r) => JSON.parse(r.value) as { metrics: Record<string, number> });

  it('forwards NMEA sentences and binary frames written to the ports, in order', async () => {
    // Noise before the first sentence and a GSV in between: neither is a reading.
    gps.write(`\x00\xffgarbage${gga(0)}${GSV}${gga(1)}`);
    gps.write(gga(2).slice(0, 20));
    gps.write(gga(2).slice(20)); // one sentence split across two writes
    const frames = Buffer.concat(Array.from({ length: 30 }, (_, i) => envFrame(2000 + i)));
    env.write(frames.subarray(0, 100));
    env.write(frames.subarray(100)); // frames split mid-frame

    const records = await consumeAll(brokers, setup.topics.readings, {
      timeoutMs: 30_000, until: (rs) => ofKey(rs, 'gps').length >= 3 && ofKey(rs, '3a7f0031').length >= 30,
    });
    const lats = ofKey(records, 'gps').map((v) => v.metrics.lat!);
    expect(lats).toEqual([0, 1, 2].map((i) => Number((48 + (7.038 + i / 1000) / 60).toFixed(7))));
    expect(ofKey(records, '3a7f0031').map((v) => v.metrics.temperature)).toEqual(Array.from({ length: 30 }, (_, i) => (2000 + i) / 100));
    const dead = await consumeAll(brokers, setup.topics.deadletter, { timeoutMs: 5_000 }).catch(() => []);
    expect(dead).toEqual([]); // GSV and line noise are not dead letters
  });

  it('survives the receiver being unplugged and plugged back in', async () => {
    await gps.stop();
    await waitFor(async () => (await portState('gps')) === false, 10_000, 'gps port closed');
    await gps.start();
    await waitFor(async () => (await portState('gps')) === true, 10_000, 'gps port reopened');
    gps.write(gga(3) + gga(4));
    const records = await consumeAll(brokers, setup.topics.readings, { timeoutMs: 30_000, until: (rs) => ofKey(rs, 'gps').length >= 5 });
    expect(ofKey(records, 'gps').map((v) => v.metrics.lat).slice(3)).toEqual([3, 4].map((i) => Number((48 + (7.038 + i / 1000) / 60).toFixed(7))));
  });
});
