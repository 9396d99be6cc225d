// Event times as devices send them: ISO-8601 without an offset is UTC whatever the
// gateway's time zone; a date that does not exist is refused; a UTF-8 byte order mark
// before JSON is tolerated.
import { afterEach, describe, expect, it } from 'vitest';
import { compileMapper } from '../../src/profiles/mapper.js';
import { profileSchema } from '../../src/profiles/schema.js';
import { decoders } from '../../src/decoders/index.js';

const spec = profileSchema.parse({
  name: 'iso-test',
  match: [{ protocol: 'mqtt', topic: 't' }],
  device: { field: 'id' },
  time: { field: 'at', format: 'iso8601' },
  metrics: { v: {} },
  samples: [{ payload: '{}', expectDeadLetter: 'WEIR_WRONG_SHAPE' }],
});
const map = compileMapper(spec);
const tsOf = (at: string) => map({ id: 'd', at, v: 1 }, {}, 0).ts;

const savedTz = process.env.TZ;
afterEach(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

describe('ISO-8601 event times', () => {
  it('reads a date-time without an offset as UTC, in any gateway time zone', () => {
    for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) {
      process.env.TZ = tz;
      expect(tsOf('2024-05-01T10:00:00'), tz).toBe(Date.UTC(2024, 4, 1, 10));
      expect(tsOf('2024-05-01 10:00:00.250'), tz).toBe(Date.UTC(2024, 4, 1, 10, 0, 0, 250));
      expect(tsOf('2024-05-01T12:00:00+02:00'), tz).toBe(Date.UTC(2024, 4, 1, 10));
      expect(tsOf('2024-05-01T10:00:00Z'), tz).toBe(Date.UTC(2024, 4, 1, 10));
      expect(tsOf('2024-05-01'), tz).toBe(Date.UTC(2024, 4, 1));
    }
  });
});

describe('ISO-8601 dates that do not exist', () => {
  it('dead-letters 30 February or 31 April instead of rolling into the next month (RFC 3339 §5.7)', () => {
    const reason = (at: string) => {
      try {
        return `decoded as ${new Date(map({ id: 'd', at, v: 1 }, {}, 0).ts).toISOString()}`;
      } catch (err) {
        return (err as Error).message;
      }
    };
    for (const at of ['2024-02-30T00:00:00Z', '2023-02-29T12:00:00Z', '2024-04-31', '2024-06-31T08:15:00+02:00', '2024-01-00T00:00:00Z']) {
      expect(reason(at), at).toMatch(/is not a valid iso8601 time/);
    }
    // The last day of each month, leap years included, still decodes.
    expect(tsOf('2024-02-29T12:00:00Z')).toBe(Date.UTC(2024, 1, 29, 12));
    expect(tsOf('2000-02-29')).toBe(Date.UTC(2000, 1, 29));
    expect(tsOf('2024-04-30T23:59:59.999Z')).toBe(Date.UTC(2024, 3, 30, 23, 59, 59, 999));
    expect(tsOf('2024-12-31T23:00:00-01:00')).toBe(Date.UTC(2025, 0, 1, 0));
  });
});

describe('epoch event times', () => {
  const mapperFor = (format: 'ms' | 's' | 'auto') => compileMapper(profileSchema.parse({ ...spec, time: { field: 'at', format } }));
  const outcome = (format: 'ms' | 's' | 'auto', at: unknown) => {
    try {
      return `ts ${mapperFor(format)({ id: 'd', at, v: 1 }, {}, 0).ts}`;
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('dead-letters a time no date can hold (beyond ±8.64e15 ms, ECMA-262 §21.4.1.22) instead of forwarding it', () => {
    // weir.readings promises epoch milliseconds: 1e+303 is no instant, and no BIGINT downstream.
    expect(outcome('s', 1e300)).toMatch(/event time field "at" is not a valid s time: 1e\+300/);
    expect(outcome('ms', 1e20)).toMatch(/is not a valid ms time/);
    expect(outcome('ms', '-9e15')).toMatch(/is not a valid ms time/);
    expect(outcome('auto', 9e15)).toMatch(/is not a valid auto time/);
    // The edges of the range still decode.
    expect(outcome('ms', 8.64e15)).toBe(`ts ${8.64e15}`);
    expect(outcome('s', -8.64e12)).toBe(`ts ${-8.64e15}`);
    expect(outcome('auto', 1714557600)).toBe('ts 1714557600000');
  });
});

describe('JSON with a byte order mark', () => {
  it('decodes as without it (RFC 8259 §8.1)', () => {
    const json = decoders.get('json')!;
    const decoder = json.create(json.options.parse({}));
    const body = Buffer.from('{"id":"d","v":1}');
    expect(decoder.decode(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]))).toEqual(decoder.decode(body));
  });
});

describe('lower-case T and Z (RFC 3339 §5.6 NOTE)', () => {
  it('reads them as their upper-case forms', () => {
    expect(tsOf('2024-05-01t10:00:00z')).toBe(Date.UTC(2024, 4, 1, 10));
    expect(tsOf('2024-05-01t12:00:00.5+02:00')).toBe(Date.UTC(2024, 4, 1, 10, 0, 0, 500));
    expect(tsOf('2024-05-01t10:00')).toBe(Date.UTC(2024, 4, 1, 10));
  });
});

describe('numbers in text', () => {
  const mapperOf = (extra: object) => compileMapper(profileSchema.parse({ ...spec, time: { field: 'at', format: 'ms' }, ...extra }));
  const reason = (f: () => unknown): string => {
    try {
      return JSON.stringify(f());
    } catch (err) {
      return `${(err as { code?: string }).code}: ${(err as Error).message}`;
    }
  };

  it('takes decimal text but not hex, binary, octal or Infinity, which Number() would read', () => {
    const map = mapperOf({});
    expect(map({ id: 'd', at: ' 1714557600000 ', v: '21.5' }, {}, 0)).toMatchObject({ ts: 1714557600000, metrics: { v: 21.5 } });
    for (const v of ['0x1F', '0b11', '0o7', 'Infinity', '1_000']) {
      expect(reason(() => map({ id: 'd', at: 1714557600000, v }, {}, 0)), v).toMatch(/^WEIR_WRONG_SHAPE: metric field "v" is not a number/);
      expect(reason(() => map({ id: 'd', at: v, v: 1 }, {}, 0)), v).toMatch(/^WEIR_WRONG_SHAPE: .*not a valid ms time/);
    }
  });

  it('counts a NaN or infinite metric (a binary sensor\'s fault marker) as out of range, so drop-metric drops only that metric', () => {
    const strict = mapperOf({ metrics: { v: {}, w: {} } });
    expect(reason(() => strict({ id: 'd', at: 1, v: Number.NaN, w: 2 }, {}, 0))).toBe('WEIR_OUT_OF_RANGE: metric v is not a finite number (NaN)');
    const lenient = mapperOf({ metrics: { v: {}, w: {} }, outOfRange: 'drop-metric' });
    expect(lenient({ id: 'd', at: 1, v: Number.NaN, w: 2 }, {}, 0).metrics).toEqual({ w: 2 });
    expect(lenient({ id: 'd', at: 1, v: Number.POSITIVE_INFINITY, w: 2 }, {}, 0).metrics).toEqual({ w: 2 });
  });
});
