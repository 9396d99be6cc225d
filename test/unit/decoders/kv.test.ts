import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile, fuzz, makeDecoder, optionProblems, reason, run } from './helpers.js';

const kv = makeDecoder('kv');

describe('kv decoder', () => {
  it('decodes key=value pairs, one document per line, separated by whitespace, "," or ";"', () => {
    expect(kv.decode(Buffer.from('dev=t1 temp=21.5 hum=40\r\ndev=t2,temp=-3;hum=41.5  bat=3.01\n\n'))).toEqual([
      { dev: 't1', temp: 21.5, hum: 40 },
      { dev: 't2', temp: -3, hum: 41.5, bat: 3.01 },
    ]);
  });

  it('takes quoted values as text, allows spaces around "=", leaves empty values out', () => {
    expect(kv.decode(Buffer.from('site="hall 2, bay \\"B\\"" id = "0042" temp= 7 rssi='))).toEqual([
      { site: 'hall 2, bay "B"', id: '0042', temp: 7 },
    ]);
  });

  it('honours separator, assign and textKeys', () => {
    const d = makeDecoder('kv', { separator: '&', assign: ':', textKeys: ['id'] });
    expect(d.decode(Buffer.from('id:007&temp:21.5&label:hall 2'))).toEqual([{ id: '007', temp: 21.5, label: 'hall 2' }]);
    const pipe = makeDecoder('kv', { separator: '|' });
    expect(pipe.decode(Buffer.from('a=1|b=x y| c = 2'))).toEqual([{ a: 1, b: 'x y', c: 2 }]);
  });

  it('writes keys from the payload as own properties, "__proto__" included', () => {
    const [doc] = kv.decode(Buffer.from('__proto__=1 constructor=2')) as Array<Record<string, unknown>>;
    expect(Object.getPrototypeOf(doc)).toBe(Object.prototype);
    expect(Object.keys(doc!)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(doc, '__proto__')?.value).toBe(1);
  });

  it('rejects with line and column named', () => {
    expect(reason(kv, 'dev=t1 temp=21.5\ndev=t2 oops temp=3', 'WEIR_DECODE_FAILED')).toBe('line 2, column 8: expected "=" after "oops"');
    expect(reason(kv, 'dev=t1 =5', 'WEIR_DECODE_FAILED')).toBe('line 1, column 8: empty key before "="');
    expect(reason(kv, 'dev=t1 site="hall 2', 'WEIR_DECODE_FAILED')).toBe('line 1, column 13: unterminated quoted value for "site"');
    expect(reason(kv, 'site="a"b', 'WEIR_DECODE_FAILED')).toBe('line 1, column 9: expected a separator after the quoted value of "site"');
    expect(reason(kv, 'a=1\n\na=1 b=2 a=3', 'WEIR_WRONG_SHAPE')).toBe('line 3: duplicate key "a"');
    expect(reason(kv, 'a= b=', 'WEIR_WRONG_SHAPE')).toBe('line 1: 2 keys but no values');
    expect(reason(kv, '  \n', 'WEIR_DECODE_FAILED')).toBe('empty payload: no key=value lines');
  });

  it('validates its options', () => {
    expect(optionProblems('kv', { separator: '=' })).toEqual(['separator: separator and assign must differ']);
    expect(optionProblems('kv', { assign: ' ' })).toEqual(['assign: must not contain whitespace or a quote']);
  });

  it('property: random bytes and mutated goldens only ever yield documents or a decode/shape WeirError', () => {
    const goldens = [Buffer.from('dev=t1 temp=21.5 hum=40\ndev=t2,temp=-3;hum=41.5'), Buffer.from('site="hall \\"2\\"" id=7')];
    const pairs = fc.array(fc.tuple(fc.string({ maxLength: 6 }), fc.constantFrom('=', ' = ', '', ':'), fc.oneof(fc.string({ maxLength: 8 }), fc.double().map(String))), { maxLength: 6 });
    const lines = fc.tuple(pairs, fc.constantFrom(' ', ',', ';', '\n', '&&'))
      .map(([ps, sep]) => Buffer.from(ps.map(([k, a, v]) => `${k}${a}${v}`).join(sep)));
    expect(fuzz(kv, goldens, lines).ok).toBeGreaterThan(0);
    expect(fuzz(makeDecoder('kv', { separator: '&&', assign: ':' }), goldens, lines).ok).toBeGreaterThan(0);
  });

  it('property: pairs of safe keys and numbers round-trip', () => {
    const key = fc.stringMatching(/^[a-z_][a-z0-9_]{0,7}$/);
    fc.assert(fc.property(fc.uniqueArray(fc.tuple(key, fc.double({ noNaN: true, noDefaultInfinity: true })), { minLength: 1, maxLength: 6, selector: ([k]) => k }), (pairs) => {
      const doc = kv.decode(Buffer.from(pairs.map(([k, v]) => `${k}=${v}`).join(' ')))[0];
      expect(doc).toEqual(Object.fromEntries(pairs.map(([k, v]) => [k, Object.is(v, -0) ? 0 : v])));
    }));
  });

  it('maps through a real profile', () => {
    const profile = compile({
      name: 'kv-sensor',
      match: [{ protocol: 'mqtt', topic: 'kv/+' }],
      decoder: { type: 'kv' },
      device: { field: 'dev' },
      tags: { site: { field: 'site' } },
      metrics: {
        temperature: { field: 'temp', unit: 'celsius', required: true },
        humidity: { field: 'hum', unit: 'percent', min: 0, max: 100 },
      },
      samples: [{ topic: 'kv/x', payload: 'dev=t1 temp=21.5', expect: [{ device: 't1', metrics: { temperature: 21.5 } }] }],
    });
    expect(run(profile, 'dev=t1 temp=21.5 hum=40 site="hall 2"\ndev=t2 temp=19')).toEqual({
      readings: [
        { device: 't1', ts: 1_700_000_000_000, tags: { site: 'hall 2' }, metrics: { temperature: 21.5, humidity: 40 } },
        { device: 't2', ts: 1_700_000_000_000, tags: {}, metrics: { temperature: 19 } },
      ],
      rejects: [],
    });
  });
});
