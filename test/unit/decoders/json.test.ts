import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkContract, compile, fuzz, makeDecoder, reason, RUNS, run } from './helpers.js';

const json = makeDecoder('json');
const items = makeDecoder('json', { items: 'data.samples' });

// Seed 001's payload, one per line, as a logger appending to a file would send it.
const NDJSON = [
  '{"hostname":"doc","cpu":"cpu2","usage":95.7,"occurred_at":1642763132142}',
  '{"hostname":"doc","cpu":"cpu3","usage":94.0,"occurred_at":1642763132773}',
  '',
  '{"hostname":"dopey","cpu":"cpu4","usage":90.5,"occurred_at":1642763133319}',
].join('\r\n');

describe('json decoder', () => {
  it('decodes one value, and a top-level array as a batch', () => {
    expect(json.decode(Buffer.from('{"a":1}'))).toEqual([{ a: 1 }]);
    expect(json.decode(Buffer.from('[{"a":1},{"a":2}]'))).toEqual([{ a: 1 }, { a: 2 }]);
    expect(json.decode(Buffer.from('[]'))).toEqual([]);
    // Pretty-printed JSON is one value, not NDJSON.
    expect(json.decode(Buffer.from('{\n  "a": 1,\n  "b": [1, 2]\n}\n'))).toEqual([{ a: 1, b: [1, 2] }]);
  });

  it('keeps the items option working', () => {
    expect(items.decode(Buffer.from('{"data":{"samples":[{"v":1},{"v":2}]}}'))).toEqual([{ v: 1 }, { v: 2 }]);
    expect(reason(items, '{"data":{"samples":{}}}', 'WEIR_WRONG_SHAPE')).toBe('expected an array at "data.samples"');
  });

  it('decodes NDJSON: one document per non-empty line, CRLF or LF', () => {
    expect(json.decode(Buffer.from(NDJSON))).toEqual([
      { hostname: 'doc', cpu: 'cpu2', usage: 95.7, occurred_at: 1642763132142 },
      { hostname: 'doc', cpu: 'cpu3', usage: 94, occurred_at: 1642763132773 },
      { hostname: 'dopey', cpu: 'cpu4', usage: 90.5, occurred_at: 1642763133319 },
    ]);
  });

  it('treats each NDJSON line like a payload of its own: arrays are batches, items applies per line', () => {
    expect(json.decode(Buffer.from('[{"a":1},{"a":2}]\n{"a":3}\n'))).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(items.decode(Buffer.from('{"data":{"samples":[{"v":1}]}}\n{"data":{"samples":[{"v":2},{"v":3}]}}'))).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }]);
    expect(reason(items, '{"data":{"samples":[{"v":1}]}}\n{"data":{}}', 'WEIR_WRONG_SHAPE')).toBe('line 2: expected an array at "data.samples"');
    expect(reason(json, '[]\n\n[]\n', 'WEIR_WRONG_SHAPE')).toBe('no documents in 2 NDJSON lines (every line is an empty array)');
  });

  it('names the bad NDJSON line (1-based, blank lines counted)', () => {
    const bad = '{"a":1}\n\n{"a":2}\n{"a":\n';
    expect(reason(json, bad, 'WEIR_DECODE_FAILED')).toMatch(/^invalid JSON on line 4: /);
    expect(reason(json, '{"a":1}\nusage=12', 'WEIR_DECODE_FAILED')).toMatch(/^invalid JSON on line 2: /);
  });

  it('keeps the plain reason when the payload is not NDJSON-like', () => {
    expect(reason(json, 'usage=12', 'WEIR_DECODE_FAILED')).toMatch(/^invalid JSON: /);
    // A broken pretty-printed document: its first line alone is not JSON.
    expect(reason(json, '{\n  "a": 1,\n  "b": \n}', 'WEIR_DECODE_FAILED')).toMatch(/^invalid JSON: /);
    expect(reason(json, '', 'WEIR_DECODE_FAILED')).toMatch(/^invalid JSON: /);
    expect(reason(json, '\n\n', 'WEIR_DECODE_FAILED')).toMatch(/^invalid JSON: /);
  });

  it('property: random bytes and mutated goldens only ever yield documents or a decode/shape WeirError', () => {
    const goldens = [Buffer.from(NDJSON), Buffer.from('[{"a":1},{"a":2}]'), Buffer.from('{"data":{"samples":[{"v":1}]}}\n{"data":{"samples":[]}}')];
    const lines = fc.array(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.string()), { maxLength: 6 })
      .map((ls) => Buffer.from(ls.join('\n')));
    const a = fuzz(json, goldens, lines);
    const withItems = fc.array(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }), { minLength: 1, maxLength: 3 })
      .map((ls) => Buffer.from(ls.map((samples) => JSON.stringify({ data: { samples } })).join('\n')));
    const b = fuzz(items, goldens, fc.oneof(lines, withItems));
    expect(a.ok).toBeGreaterThan(0);
    expect(b.ok).toBeGreaterThan(0);
  });

  it('property: NDJSON of random JSON objects decodes to exactly those objects', () => {
    fc.assert(fc.property(fc.array(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })), { minLength: 2, maxLength: 8 }), (objs) => {
      const payload = Buffer.from(objs.map((o) => JSON.stringify(o)).join('\n'));
      expect(checkContract(json, payload)).toBe('ok');
      expect(json.decode(payload)).toEqual(JSON.parse(JSON.stringify(objs)));
    }), { numRuns: RUNS / 4 });
  });

  it('maps NDJSON through a real profile', () => {
    const profile = compile({
      name: 'cpu-ndjson',
      match: [{ protocol: 'mqtt', topic: 'iot-data-input' }],
      decoder: { type: 'json' },
      device: { field: 'hostname' },
      time: { field: 'occurred_at', format: 'ms' },
      tags: { cpu: { field: 'cpu' } },
      metrics: { usage: { unit: 'percent', min: 0, max: 100, required: true } },
      samples: [{ payload: '{"hostname":"a","cpu":"c","usage":1,"occurred_at":1}\n{"hostname":"b","cpu":"c","usage":2,"occurred_at":2}', expect: [
        { device: 'a', ts: 1, tags: { cpu: 'c' }, metrics: { usage: 1 } },
        { device: 'b', ts: 2, tags: { cpu: 'c' }, metrics: { usage: 2 } },
      ] }],
    });
    expect(run(profile, NDJSON)).toEqual({
      readings: [
        { device: 'doc', ts: 1642763132142, tags: { cpu: 'cpu2' }, metrics: { usage: 95.7 } },
        { device: 'doc', ts: 1642763132773, tags: { cpu: 'cpu3' }, metrics: { usage: 94 } },
        { device: 'dopey', ts: 1642763133319, tags: { cpu: 'cpu4' }, metrics: { usage: 90.5 } },
      ],
      rejects: [],
    });
    expect(run(profile, '{"hostname":"a","usage":1,"occurred_at":1}\n{"hostname":"b",').rejects).toEqual([
      { code: 'WEIR_DECODE_FAILED', reason: expect.stringMatching(/^invalid JSON on line 2: /) },
    ]);
  });
});
