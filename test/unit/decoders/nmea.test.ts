import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile, fuzz, makeDecoder, optionProblems, reason, run } from './helpers.js';

const nmea = makeDecoder('nmea');
const separate = makeDecoder('nmea', { merge: false });

// The classic examples (gpsd's "NMEA revealed", NMEA 0183 references) and u-blox's protocol specification.
const GGA = '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47';
const RMC = '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A';
const UBX_GGA = '$GPGGA,092725.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,*5B';
const UBX_RMC = '$GPRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A*57';
const GSA = '$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39';
const GSV = '$GPGSV,2,1,08,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45*75';
const NO_FIX_GGA = '$GPGGA,,,,,,0,00,99.99,,,,,,*48';
const VOID_RMC = '$GPRMC,,V,,,,,,,,,,N*53';

/** The same sentence with the checksum recomputed, e.g. after changing a field or the talker. */
function withChecksum(body: string): string {
  let x = 0;
  for (const c of body) x ^= c.charCodeAt(0);
  return `$${body}*${x.toString(16).toUpperCase().padStart(2, '0')}`;
}

const GGA_DOC = { sentence: 'GPGGA', utc_time: '12:35:19', lat: 48.1173, lon: 11.5166667, fix_quality: 1, satellites: 8, hdop: 0.9, altitude_m: 545.4, geoid_separation_m: 46.9 };
const RMC_DOC = {
  sentence: 'GPRMC', utc_time: '12:35:19', lat: 48.1173, lon: 11.5166667, valid: 1, time: '1994-03-23T12:35:19Z',
  speed_knots: 22.4, speed_kmh: 41.4848, course: 84.4, magnetic_variation: -3.1,
};

describe('nmea decoder', () => {
  it('decodes the classic GGA and RMC sentences', () => {
    expect(nmea.decode(Buffer.from(GGA))).toEqual([GGA_DOC]);
    expect(nmea.decode(Buffer.from(RMC))).toEqual([RMC_DOC]);
  });

  it('merges the GGA and RMC of one fix (same UTC time), unless merge: false', () => {
    expect(nmea.decode(Buffer.from(`${GGA}\r\n${RMC}\r\n`))).toEqual([{ ...GGA_DOC, ...RMC_DOC, sentence: 'GPGGA,GPRMC' }]);
    expect(separate.decode(Buffer.from(`${GGA}\r\n${RMC}\r\n`))).toEqual([GGA_DOC, RMC_DOC]);
  });

  it("decodes u-blox's examples, any talker, skipping other sentence types", () => {
    const gn = withChecksum(UBX_RMC.slice(1, -3).replace('GPRMC', 'GNRMC'));
    expect(nmea.decode(Buffer.from([GSV, UBX_GGA, GSA, gn, withChecksum('PUBX,00,081350.00')].join('\n')))).toEqual([
      { sentence: 'GPGGA', utc_time: '09:27:25.00', lat: 47.2852332, lon: 8.565265, fix_quality: 1, satellites: 8, hdop: 1.01, altitude_m: 499.6, geoid_separation_m: 48 },
      {
        sentence: 'GNRMC', utc_time: '08:35:59.00', lat: 47.2852395, lon: 8.5652537, valid: 1, time: '2002-12-09T08:35:59.00Z',
        speed_knots: 0.004, speed_kmh: 0.0074, course: 77.52, mode: 'A',
      },
    ]);
  });

  it('decodes void and no-fix sentences, leaving empty fields out', () => {
    expect(nmea.decode(Buffer.from(`${NO_FIX_GGA}\n${VOID_RMC}`))).toEqual([
      { sentence: 'GPGGA', fix_quality: 0, satellites: 0, hdop: 99.99 },
      { sentence: 'GPRMC', valid: 0, mode: 'N' },
    ]);
    const southWest = withChecksum('GPRMC,235959,V,3356.520,S,15112.150,W,0,0,290224,0,E');
    expect(nmea.decode(Buffer.from(southWest))).toEqual([{
      sentence: 'GPRMC', utc_time: '23:59:59', lat: -33.942, lon: -151.2025, valid: 0, time: '2024-02-29T23:59:59Z',
      speed_knots: 0, speed_kmh: 0, course: 0, magnetic_variation: 0,
    }]);
  });

  it('rejects with the line named and the exact reason', () => {
    expect(reason(nmea, `${GGA}\n${RMC.replace('*6A', '*6B')}`, 'WEIR_DECODE_FAILED')).toBe('line 2: checksum mismatch: expected 6A got 6B');
    expect(reason(nmea, GGA.replace('545.4', '545.5'), 'WEIR_DECODE_FAILED')).toBe('line 1: checksum mismatch: expected 46 got 47');
    expect(reason(nmea, GGA.slice(0, -3), 'WEIR_DECODE_FAILED')).toBe('line 1: no checksum ("*hh" after the sentence)');
    expect(reason(nmea, `${GGA.slice(0, -2)}4`, 'WEIR_DECODE_FAILED')).toBe('line 1: malformed checksum "*4"');
    expect(reason(nmea, `\n\nGPGGA,123519*00`, 'WEIR_DECODE_FAILED')).toBe('line 3: not an NMEA sentence (no leading "$"): "GPGGA,123519*00"');
    expect(reason(nmea, ' \r\n', 'WEIR_DECODE_FAILED')).toBe('empty payload: no NMEA sentences');
    // Well-formed sentences without a position are no error: nothing to store, no dead letter.
    expect(nmea.decode(Buffer.from(`${GSA}\n${GSV}`))).toEqual([]);
    const bad = (body: string) => reason(nmea, withChecksum(body), 'WEIR_WRONG_SHAPE');
    expect(bad('GPGGA,123519,48x7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')).toBe('line 1 (GPGGA): latitude "48x7.038" is not ddmm.mmmm');
    expect(bad('GPGGA,123519,4807.038,Q,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')).toBe('line 1 (GPGGA): latitude hemisphere "Q" is not N or S');
    expect(bad('GPGGA,123519,4807.038,N,18131.000,E,1,08,0.9,545.4,M,46.9,M,,')).toBe('line 1 (GPGGA): longitude "18131.000" is out of range');
    expect(bad('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,high,M,46.9,M,,')).toBe('line 1 (GPGGA): altitude "high" is not a number');
    expect(bad('GPGGA,253519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')).toBe('line 1 (GPGGA): time "253519" is not hhmmss(.ss)');
    expect(bad('GPRMC,123519,X,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W')).toBe('line 1 (GPRMC): status "X" is neither A (valid) nor V (void)');
    expect(bad('GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,300294,003.1,W')).toBe('line 1 (GPRMC): date "300294" is not a valid ddmmyy');
    expect(bad('GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,')).toBe('line 1 (GPRMC): magnetic variation direction "" is neither E nor W');
  });

  it('accepts sentences without a checksum when told to', () => {
    const lax = makeDecoder('nmea', { requireChecksum: false });
    expect(lax.decode(Buffer.from(GGA.slice(0, -3)))).toEqual([GGA_DOC]);
    expect(reason(lax, RMC.replace('*6A', '*00'), 'WEIR_DECODE_FAILED')).toBe('line 1: checksum mismatch: expected 6A got 00');
    expect(optionProblems('nmea', { merge: 'yes' })).toHaveLength(1);
  });

  it('property: random bytes and mutated goldens only ever yield documents or a decode/shape WeirError', () => {
    const goldens = [GGA, RMC, `${GGA}\r\n${RMC}\r\n`, [GSV, UBX_GGA, GSA, UBX_RMC].join('\n'), `${NO_FIX_GGA}\n${VOID_RMC}`].map((s) => Buffer.from(s));
    // Valid checksums over random fields, so the field parsers (not just the checksum) see garbage.
    const field = fc.oneof(fc.stringMatching(/^[0-9.]{0,10}$/), fc.constantFrom('N', 'S', 'E', 'W', 'A', 'V', 'M', ''), fc.string({ maxLength: 6 }));
    const sentence = fc.tuple(fc.constantFrom('GPGGA', 'GNRMC', 'GPRMC', 'GLGGA', 'GPGSV'), fc.array(field, { maxLength: 14 }))
      .map(([addr, fs]) => withChecksum([addr, ...fs].join(',').replace(/[\r\n*$]/g, '')));
    const sentences = fc.array(sentence, { minLength: 1, maxLength: 4 }).map((ss) => Buffer.from(ss.join('\r\n')));
    const a = fuzz(nmea, goldens, sentences);
    const b = fuzz(separate, goldens, sentences);
    expect(a.ok).toBeGreaterThan(0);
    expect(b.rejected).toBeGreaterThan(0);
  });

  it('maps through a real profile (device from the topic, event time from RMC)', () => {
    const profile = compile({
      name: 'gnss-tracker',
      match: [{ protocol: 'mqtt', topic: 'trackers/{device}/nmea' }],
      decoder: { type: 'nmea' },
      device: { segment: 'device' },
      time: { field: 'time', format: 'iso8601' },
      tags: { sentence: { field: 'sentence' } },
      metrics: {
        lat: { unit: 'deg', min: -90, max: 90, required: true },
        lon: { unit: 'deg', min: -180, max: 180, required: true },
        altitude: { field: 'altitude_m', unit: 'm' },
        speed: { field: 'speed_kmh', unit: 'km/h' },
        satellites: {},
        valid: {},
      },
      samples: [{ topic: 'trackers/truck-7/nmea', payload: RMC, expect: [{ device: 'truck-7', ts: 764426119000, tags: { sentence: 'GPRMC' }, metrics: { lat: 48.1173, lon: 11.5166667, speed: 41.4848, valid: 1 } }] }],
    });
    expect(run(profile, `${GGA}\r\n${RMC}\r\n`, { device: 'truck-7' })).toEqual({
      readings: [{
        device: 'truck-7', ts: 764426119000, tags: { sentence: 'GPGGA,GPRMC' },
        metrics: { lat: 48.1173, lon: 11.5166667, altitude: 545.4, speed: 41.4848, satellites: 8, valid: 1 },
      }],
      rejects: [],
    });
    // A GGA alone has only a time of day: the profile wants a date-time, so it says which field is missing.
    expect(run(profile, GGA, { device: 'truck-7' }).rejects).toEqual([{ code: 'WEIR_WRONG_SHAPE', reason: 'missing event time field "time"' }]);
  });
});
