import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile, fuzz, makeDecoder, optionProblems, reason, run } from './helpers.js';

// A weather station logger's export, header first (Campbell-style, with a quoted text column).
const LOGGER = [
  'station,time,temp_c,rh,wind_ms,note',
  'ws-07,2024-05-01T10:00:00Z,21.4,40.2,3.1,',
  'ws-07,2024-05-01T10:10:00Z,21.9,39.8,,"gust, 12 m/s"',
  '',
].join('\r\n');

const header = makeDecoder('csv', { header: true });
const fixed = makeDecoder('csv', { columns: ['id', 'ts', 'temp', 'hum'], delimiter: ';', textColumns: ['id'] });

describe('csv decoder', () => {
  it('decodes a header-first payload: numbers as numbers, quoted text as text, empty fields left out', () => {
    expect(header.decode(Buffer.from(LOGGER))).toEqual([
      { station: 'ws-07', time: '2024-05-01T10:00:00Z', temp_c: 21.4, rh: 40.2, wind_ms: 3.1 },
      { station: 'ws-07', time: '2024-05-01T10:10:00Z', temp_c: 21.9, rh: 39.8, note: 'gust, 12 m/s' },
    ]);
  });

  it('decodes with fixed columns, another delimiter, and text columns kept as text', () => {
    expect(fixed.decode(Buffer.from('007;1714557600; -3.5 ;41\n008;1714557601;1e1;"40"'))).toEqual([
      { id: '007', ts: 1714557600, temp: -3.5, hum: 41 },
      { id: '008', ts: 1714557601, temp: 10, hum: '40' },
    ]);
  });

  it('follows RFC 4180 quoting: doubled quotes, delimiters and line breaks inside quotes, a UTF-8 BOM', () => {
    const d = makeDecoder('csv', { columns: ['a', 'b'] });
    expect(d.decode(Buffer.from('\ufeff"say ""hi""","x,\ny"\n1,2'))).toEqual([{ a: 'say "hi"', b: 'x,\ny' }, { a: 1, b: 2 }]);
    expect(d.decode(Buffer.from('1,2,,\n'))).toEqual([{ a: 1, b: 2 }]); // trailing empty fields are tolerated
    expect(d.decode(Buffer.from('__proto__,constructor'))).toEqual([{ a: '__proto__', b: 'constructor' }]);
    const hd = header.decode(Buffer.from('__proto__,x\n1,2'))[0] as Record<string, unknown>;
    expect(Object.getPrototypeOf(hd)).toBe(Object.prototype);
    expect(Object.keys(hd)).toEqual(['__proto__', 'x']);
  });

  it('rejects with the line named', () => {
    expect(reason(header, 'a,b\n1,2\n3', 'WEIR_WRONG_SHAPE')).toBe('line 3: 1 fields, expected 2');
    expect(reason(header, 'a,b\n1,2,3', 'WEIR_WRONG_SHAPE')).toBe('line 2: 3 fields, expected 2');
    expect(reason(header, 'a,b\n1,"2\n3', 'WEIR_DECODE_FAILED')).toBe('line 2: unterminated quoted field (field 2)');
    expect(reason(header, 'a,b\n"1"x,2', 'WEIR_DECODE_FAILED')).toBe('line 2: unexpected "x" after the closing quote of field 1');
    expect(reason(header, 'a,a\n1,2', 'WEIR_WRONG_SHAPE')).toBe('header line 1: duplicate column name "a"');
    expect(reason(header, 'a,b\n', 'WEIR_WRONG_SHAPE')).toBe('header line 1 but no data lines');
    expect(reason(header, ',\n1,2', 'WEIR_WRONG_SHAPE')).toBe('header line 1: no column names');
    expect(reason(header, 'a,b\n,', 'WEIR_WRONG_SHAPE')).toBe('line 2: every field is empty');
    expect(reason(header, ' \r\n\n', 'WEIR_DECODE_FAILED')).toBe('empty payload: no CSV lines');
  });

  it('validates its options', () => {
    expect(optionProblems('csv', {})).toEqual(['columns: give either columns (names in order) or header: true']);
    expect(optionProblems('csv', { header: true, columns: ['a'] })).toEqual(['columns: give either columns (names in order) or header: true']);
    expect(optionProblems('csv', { columns: ['a', 'a'] })).toEqual(['columns: duplicate column "a"']);
    expect(optionProblems('csv', { header: true, delimiter: '"' })).toEqual(['delimiter: must not be a quote or a line break']);
  });

  it('property: random bytes and mutated goldens only ever yield documents or a decode/shape WeirError', () => {
    const goldens = [Buffer.from(LOGGER), Buffer.from('007;1714557600;-3.5;41\n008;1714557601;1e1;"4""0"')];
    const rows = fc.array(fc.array(fc.oneof(fc.double().map(String), fc.string(), fc.constantFrom('"', '""', ',', ';', '\n', '\r')), { maxLength: 5 }), { maxLength: 5 })
      .map((rs) => Buffer.from(rs.map((r) => r.join(',')).join('\n')));
    expect(fuzz(header, goldens, rows).ok).toBeGreaterThan(0);
    expect(fuzz(fixed, goldens, rows).ok).toBeGreaterThan(0);
  });

  it('property: quoted fields round-trip whatever they hold', () => {
    const d = makeDecoder('csv', { columns: ['a', 'b'] });
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => {
      const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
      expect(d.decode(Buffer.from(`${q(a)},${q(b)}\r\n`))).toEqual([{ a: a.replace(/^\ufeff/, ''), b }]);
    }));
  });

  it('maps through a real profile', () => {
    const profile = compile({
      name: 'weather-csv',
      match: [{ protocol: 'http', path: 'logger/{site}' }],
      decoder: { type: 'csv', header: true },
      device: { field: 'station' },
      time: { field: 'time', format: 'iso8601' },
      tags: { site: { segment: 'site' }, note: { field: 'note' } },
      metrics: {
        temperature: { field: 'temp_c', unit: 'celsius', min: -60, max: 70, required: true },
        humidity: { field: 'rh', unit: 'percent', min: 0, max: 100 },
        wind: { field: 'wind_ms', unit: 'm/s', min: 0 },
      },
      samples: [{ topic: 'logger/north', payload: 'station,time,temp_c\nws-1,2024-05-01T10:00:00Z,20', expect: [{ device: 'ws-1', ts: 1714557600000, tags: { site: 'north' }, metrics: { temperature: 20 } }] }],
    });
    expect(run(profile, LOGGER, { site: 'north' })).toEqual({
      readings: [
        { device: 'ws-07', ts: 1714557600000, tags: { site: 'north' }, metrics: { temperature: 21.4, humidity: 40.2, wind: 3.1 } },
        { device: 'ws-07', ts: 1714558200000, tags: { site: 'north', note: 'gust, 12 m/s' }, metrics: { temperature: 21.9, humidity: 39.8 } },
      ],
      rejects: [],
    });
  });
});
