import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { backoffDelay } from '../../src/forwarder/backoff.js';
import { makeFormatter } from '../../src/forwarder/record-format.js';
import { readingEntry } from '../../src/ingest/ingest.js';
import type { StoredRecord } from '../../src/journal/journal.js';
import type { Reading } from '../../src/profiles/profile.js';

const config = configSchema.parse({ gateway: { id: 'gw-7' } });
const format = makeFormatter(config);

const reading: Reading = {
  device: 'dopey', profile: 'cpu-monitor', ts: 1_642_763_123_319, tags: { cpu: 'cpu4' }, metrics: { usage: 90.51760978462883 },
};
const RECEIVED = 1_700_000_000_123;

describe('makeFormatter', () => {
  it("turns a reading into exactly the contract's weir.readings value, key and headers", () => {
    const out = format({ ...readingEntry(reading, RECEIVED), seq: 42 });
    expect(out.topic).toBe('weir.readings');
    expect(out.key).toBe('dopey');
    expect(out.headers).toEqual({ 'weir-gateway': 'gw-7', 'weir-seq': '42', 'weir-schema': '1' });
    const value = JSON.parse(out.value) as Record<string, unknown>;
    expect(Object.keys(value).sort()).toEqual(['device', 'gateway', 'metrics', 'profile', 'received', 'seq', 'tags', 'ts']);
    expect(value).toEqual({
      gateway: 'gw-7', device: 'dopey', profile: 'cpu-monitor', ts: 1_642_763_123_319, received: RECEIVED, seq: 42,
      tags: { cpu: 'cpu4' }, metrics: { usage: 90.51760978462883 },
    });
  });

  it('gives the status stream no device field and keys it by the gateway id', () => {
    const r: StoredRecord = { seq: 9, stream: 'status', key: 'gw-7', received: RECEIVED, body: '{"state":"up","backlog":{"readings":3}}' };
    const out = format(r);
    expect(out.topic).toBe('weir.status');
    expect(out.key).toBe('gw-7');
    const value = JSON.parse(out.value) as Record<string, unknown>;
    expect(value).not.toHaveProperty('device');
    expect(value).toEqual({ gateway: 'gw-7', seq: 9, received: RECEIVED, state: 'up', backlog: { readings: 3 } });
    expect(out.headers['weir-seq']).toBe('9');
  });

  it.each([
    ['aggregates', true], ['alerts', true], ['readings', true], ['deadletter', false], ['status', false],
  ] as const)('stream %s carries a device field: %s', (stream, hasDevice) => {
    const value = JSON.parse(format({ seq: 1, stream, key: 'k-1', received: 5, body: '{"x":1}' }).value) as Record<string, unknown>;
    expect('device' in value).toBe(hasDevice);
    if (hasDevice) expect(value.device).toBe('k-1');
    expect(value.x).toBe(1);
  });

  it('copes with an empty body and uses configured topics', () => {
    const custom = makeFormatter(configSchema.parse({ gateway: { id: 'g' }, kafka: { topics: { readings: 'site1.readings' } } }));
    const out = custom({ seq: 3, stream: 'readings', key: 'd', received: 1, body: '{}' });
    expect(out.topic).toBe('site1.readings');
    expect(JSON.parse(out.value)).toEqual({ gateway: 'g', seq: 3, received: 1, device: 'd' });
  });

  it('produces valid JSON for any device id, tags and metrics', () => {
    const arb = fc.record({
      device: fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }),
      tags: fc.dictionary(fc.string({ unit: 'binary' }).filter((k) => k !== '__proto__'), fc.string({ unit: 'binary' })),
      metrics: fc.dictionary(fc.string().filter((k) => k !== '__proto__'), fc.double({ noNaN: true, noDefaultInfinity: true })),
      ts: fc.integer({ min: 0, max: 4_000_000_000_000 }),
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    });
    fc.assert(fc.property(arb, ({ device, tags, metrics, ts, seq }) => {
      const out = format({ ...readingEntry({ device, profile: 'p', ts, tags, metrics }, RECEIVED), seq });
      const value = JSON.parse(out.value) as Record<string, unknown>;
      expect(value.device).toBe(device);
      expect(out.key).toBe(device);
      expect(value.seq).toBe(seq);
      expect(out.headers['weir-seq']).toBe(String(seq));
      expect(value.tags).toEqual(tags);
      expect(value.metrics).toEqual(JSON.parse(JSON.stringify(metrics))); // -0 becomes 0 in JSON
    }), { numRuns: 500 });
  });
});

describe('backoffDelay', () => {
  it('stays within [initial/2, min(max, initial * 2^attempt)]', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 1_000_000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attempt, initial, extra, r) => {
        const max = initial + extra;
        const d = backoffDelay(attempt, initial, max, () => r);
        expect(d).toBeGreaterThanOrEqual(initial / 2);
        expect(d).toBeLessThanOrEqual(Math.min(max, initial * 2 ** attempt));
      },
    ), { numRuns: 2000 });
  });

  it('spreads delays with jitter and grows the ceiling with the attempt', () => {
    expect(backoffDelay(0, 250, 30_000, () => 0)).toBe(125);
    expect(backoffDelay(3, 250, 30_000, () => 0.999999)).toBe(1999); // ceiling 250 * 8
    expect(backoffDelay(20, 250, 30_000, () => 0.999999)).toBe(29_999); // capped at max
    const seen = new Set(Array.from({ length: 200 }, () => backoffDelay(10, 250, 30_000)));
    expect(seen.size).toBeGreaterThan(50);
  });
});

describe('HeaderBuffers (the default Kafka client\'s header encoding)', () => {
  it('encodes every header exactly, reuses the Buffers of repeated values, and never changes a Buffer it handed out', async () => {
    const { HeaderBuffers } = await import('../../src/forwarder/platformatic-producer.js');
    const enc = new HeaderBuffers();
    const decoded = (m: Map<Buffer, Buffer>) => Object.fromEntries([...m].map(([k, v]) => [k.toString(), v.toString()]));
    const records = [41, 42, 43].map((seq) => format({ ...readingEntry(reading, RECEIVED), seq }));
    const maps = records.map((r) => enc.encode(r.headers));
    maps.forEach((m, i) => expect(decoded(m)).toEqual(records[i]!.headers));
    expect(decoded(maps[0]!)).toEqual({ 'weir-gateway': 'gw-7', 'weir-seq': '41', 'weir-schema': '1' });
    const gateway = (m: Map<Buffer, Buffer>) => [...m].find(([k]) => k.toString() === 'weir-gateway')![1];
    const seq = (m: Map<Buffer, Buffer>) => [...m].find(([k]) => k.toString() === 'weir-seq')![1];
    expect(gateway(maps[2]!)).toBe(gateway(maps[0]!));
    expect(seq(maps[2]!)).not.toBe(seq(maps[0]!));
    // A changed value gets a new Buffer; the old one still says what it said.
    const other = enc.encode({ ...records[0]!.headers, 'weir-gateway': 'gw-8' });
    expect(decoded(other)['weir-gateway']).toBe('gw-8');
    expect(gateway(maps[0]!).toString()).toBe('gw-7');
  });
});
