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

describe('JSON with a byte order mark', () => {
  it('decodes as without it (RFC 8259 §8.1)', () => {
    const json = decoders.get('json')!;
    const decoder = json.create(json.options.parse({}));
    const body = Buffer.from('{"id":"d","v":1}');
    expect(decoder.decode(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]))).toEqual(decoder.decode(body));
  });
});
