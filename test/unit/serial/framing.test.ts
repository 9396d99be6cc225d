import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serialPortSchema } from '../../../src/config/serial-schema.js';
import { createFramer, LengthPrefixedFramer, LineFramer, NmeaFramer, type Framer } from '../../../src/sources/serial/framing.js';

type Out = { frames: Array<{ text: string; oversize: boolean; announced?: number }>; discarded: number };

/** Feeds `chunks` to a fresh framer; frames as latin1 text (byte-exact) plus the discard count. */
function run(make: () => Framer, chunks: Buffer[]): Out {
  const f = make();
  const frames = chunks.flatMap((c) => f.push(c)).map((fr) => ({
    text: fr.payload.toString('latin1'), oversize: fr.oversize, ...(fr.announcedBytes === undefined ? {} : { announced: fr.announcedBytes }),
  }));
  return { frames, discarded: f.discardedBytes };
}

/** Splits `data` at the given offsets (any order, duplicates allowed). */
function split(data: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, data.length]) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  return out;
}

/** Same result for the whole buffer, every two-way split, and one byte at a time. */
function expectChunkingInvariant(make: () => Framer, data: Buffer): Out {
  const whole = run(make, [data]);
  for (let i = 0; i <= data.length; i++) {
    expect(run(make, [data.subarray(0, i), data.subarray(i)]), `split at ${i}`).toEqual(whole);
  }
  expect(run(make, [...data].map((b) => Buffer.of(b)))).toEqual(whole);
  return whole;
}

const texts = (o: Out) => o.frames.map((f) => f.text);
const b = (s: string) => Buffer.from(s, 'latin1');

/** Encodes bodies as length-prefixed frames. */
function encodeLp(bodies: Buffer[], bytes: 1 | 2 | 4, endian: 'big' | 'little', includesHeader: boolean): Buffer {
  return Buffer.concat(bodies.flatMap((body) => {
    const n = body.length + (includesHeader ? bytes : 0);
    const h = Buffer.alloc(bytes);
    if (bytes === 1) h.writeUInt8(n);
    else if (bytes === 2 && endian === 'big') h.writeUInt16BE(n);
    else if (bytes === 2) h.writeUInt16LE(n);
    else if (endian === 'big') h.writeUInt32BE(n);
    else h.writeUInt32LE(n);
    return [h, body];
  }));
}

describe('LineFramer', () => {
  const make = (max = 64, delim = '\n') => () => new LineFramer(max, delim);

  it('cuts LF and CRLF lines, strips the CR, skips empty lines, keeps a partial line for later', () => {
    const f = new LineFramer(64);
    expect(f.push(b('{"a":1}\r\n{"a":2}\n\r\n\n{"a"')).map((x) => x.payload.toString())).toEqual(['{"a":1}', '{"a":2}']);
    expect(f.push(b(':3}\r\n')).map((x) => x.payload.toString())).toEqual(['{"a":3}']);
    expect(f.discardedBytes).toBe(0);
    expect(f.reset()).toBe(0);
  });

  it('gives the same frames however the stream is chunked (every split point)', () => {
    const out = expectChunkingInvariant(make(), b('one\r\ntwo\n\nthree\r\r\nfour'));
    expect(texts(out)).toEqual(['one', 'two', 'three\r']); // only one CR is stripped; "four" waits for its end
  });

  it('a multi-byte delimiter split across chunks', () => {
    const out = expectChunkingInvariant(make(64, '\r\n'), b('a\nb\r\nc\r\r\n\r\nd'));
    expect(texts(out)).toEqual(['a\nb', 'c\r']);
  });

  it('a line over maxFrameBytes is cut to max + 1 bytes, flagged, and the next line comes through whole', () => {
    const long = 'x'.repeat(30);
    const out = expectChunkingInvariant(make(10), b(`ok\n${long}\r\nnext\n`));
    expect(out.frames).toEqual([
      { text: 'ok', oversize: false },
      { text: 'x'.repeat(11), oversize: true },
      { text: 'next', oversize: false },
    ]);
    expect(out.discarded).toBe(19);
  });

  it('a line exactly maxFrameBytes long (plus CR) is not oversize', () => {
    const out = expectChunkingInvariant(make(5), b('12345\r\n123456\n12345\n'));
    expect(out.frames.map((f) => [f.text, f.oversize])).toEqual([['12345', false], ['123456', true], ['12345', false]]);
  });

  it('memory stays bounded on an endless line without a delimiter', () => {
    const f = new LineFramer(100);
    let frames = 0;
    for (let i = 0; i < 1000; i++) frames += f.push(Buffer.alloc(1000, 0x41)).length;
    expect(frames).toBe(1);
    expect(f.discardedBytes).toBe(1000 * 1000 - 101);
    expect(f.push(b('\nafter\n')).map((x) => x.payload.toString())).toEqual(['after']);
  });

  it('property: frames equal the lines written, for any chunking', () => {
    const line = fc.string({ unit: fc.constantFrom('a', 'b', '{', '"', ' ', '\r', '$'), minLength: 1, maxLength: 12 })
      .filter((s) => !s.endsWith('\r'));
    fc.assert(fc.property(fc.array(line, { maxLength: 12 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 8 }), (lines, crlf, cuts) => {
      const data = b(lines.map((l) => l + (crlf ? '\r\n' : '\n')).join(''));
      const out = run(make(16), split(data, cuts));
      expect(out).toEqual(run(make(16), [data]));
      expect(texts(out)).toEqual(lines.map((l) => (l.length > 16 ? l.slice(0, 17) : l)));
    }));
  });

  it('property: any bytes, any chunking, any delimiter: same frames and discard count as one push', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a.map((x) => [0x0a, 0x0d, 0x41, 0x7c][x % 4]!))),
      fc.constantFrom('\n', '\r\n', '||', '|'), fc.integer({ min: 1, max: 8 }), fc.array(fc.nat(), { maxLength: 10 }),
      (data, delim, max, cuts) => {
        const mk = make(max, delim);
        expect(run(mk, split(data, cuts))).toEqual(run(mk, [data]));
      },
    ));
  });
});

describe('NmeaFramer', () => {
  const make = (max = 82) => () => new NmeaFramer(max);
  const gga = '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47';
  const rmc = '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A';

  it('frames $…CRLF sentences and drops (and counts) the noise between them', () => {
    const out = expectChunkingInvariant(make(), b(`\x00\xff boot v1.2\r\n${gga}\r\nnoise${rmc}\r\n\r\n!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26\n`));
    expect(texts(out)).toEqual([gga, rmc, '!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26']);
    expect(out.discarded).toBe('\x00\xff boot v1.2'.length + 'noise'.length);
  });

  it('a sentence cut short by a new "$" is dropped; the new one is framed', () => {
    const out = expectChunkingInvariant(make(), b(`$GPGGA,1235${rmc}\r\n`));
    expect(texts(out)).toEqual([rmc]);
    expect(out.discarded).toBe('$GPGGA,1235'.length);
  });

  it('does not check the checksum (the decoder does)', () => {
    expect(texts(run(make(), [b('$GPXXX,1*00\r\n')]))).toEqual(['$GPXXX,1*00']);
  });

  it('an over-long sentence is cut to max + 1 bytes and flagged; framing resumes at the next "$"', () => {
    const out = expectChunkingInvariant(make(20), b(`$${'A'.repeat(40)}${rmc.slice(0, 10)}\r\n$GPZDA,1*00\r\n`));
    expect(out.frames).toEqual([
      { text: `$${'A'.repeat(20)}`, oversize: true },
      { text: '$GPRMC,123', oversize: false },
      { text: '$GPZDA,1*00', oversize: false },
    ]);
    expect(out.discarded).toBe(20);
  });

  it('property: any bytes, any chunking: same frames and discard count as one push', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a.map((x) => [0x24, 0x21, 0x0d, 0x0a, 0x41, 0x2a, 0x00][x % 7]!))),
      fc.integer({ min: 1, max: 12 }), fc.array(fc.nat(), { maxLength: 10 }),
      (data, max, cuts) => {
        const out = run(make(max), split(data, cuts));
        expect(out).toEqual(run(make(max), [data]));
        for (const f of out.frames) expect(f.text.length).toBeLessThanOrEqual(max + 1);
      },
    ));
  });
});

describe('LengthPrefixedFramer', () => {
  const variants = [
    { bytes: 1, endian: 'big', includesHeader: false },
    { bytes: 2, endian: 'big', includesHeader: false },
    { bytes: 2, endian: 'little', includesHeader: true },
    { bytes: 4, endian: 'little', includesHeader: false },
    { bytes: 4, endian: 'big', includesHeader: true },
  ] as const;

  for (const v of variants) {
    it(`${v.bytes}-byte ${v.endian}-endian length${v.includesHeader ? ' including the header' : ''}: frames whole at every split`, () => {
      const bodies = [b('\x01\x02\x03'), b('{"v":1}'), b('\x00'), Buffer.alloc(40, 0x7f)];
      const out = expectChunkingInvariant(() => new LengthPrefixedFramer(64, v), encodeLp(bodies, v.bytes, v.endian, v.includesHeader));
      expect(texts(out)).toEqual(bodies.map((x) => x.toString('latin1')));
    });
  }

  it('an oversize frame is reported by its length field alone; its body is hunted through, and the next frame arrives', () => {
    const cfg = { bytes: 2, endian: 'big', includesHeader: false } as const;
    const out = expectChunkingInvariant(() => new LengthPrefixedFramer(8, cfg), encodeLp([Buffer.alloc(30, 0x61), b('next')], 2, 'big', false));
    expect(out.frames).toEqual([{ text: '\x00\x1e', oversize: true, announced: 30 }, { text: 'next', oversize: false }]);
    expect(out.discarded).toBe(30);
  });

  it('a corrupt length field (over maxFrameBytes) is reported at once, not awaited or skipped, and framing resynchronises on the next frames', () => {
    const cfg = { bytes: 4, endian: 'big', includesHeader: false } as const;
    const good = (...xs: string[]) => encodeLp(xs.map(b), 4, 'big', false);
    // One bit flipped in the length of "hello": it now announces 16 MiB + 5 bytes.
    const corrupt = Buffer.concat([Buffer.from([0x01, 0x00, 0x00, 0x05]), b('hello')]);
    const data = Buffer.concat([good('{"v":1}'), corrupt, good('{"v":2}', '{"v":3}')]);
    const out = expectChunkingInvariant(() => new LengthPrefixedFramer(64, cfg), data);
    expect(out.frames).toEqual([
      { text: '{"v":1}', oversize: false },
      { text: '\x01\x00\x00\x05', oversize: true, announced: 0x01000005 }, // the length field, for the dead letter
      { text: '{"v":2}', oversize: false },
      { text: '{"v":3}', oversize: false },
    ]);
    expect(out.discarded).toBe('hello'.length);
  });

  it('a length field announcing 4 GB does not hold the line: the next frame, in a later read, arrives', () => {
    const f = new LengthPrefixedFramer(4096, { bytes: 4, endian: 'big', includesHeader: false });
    expect(f.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x41]))).toMatchObject([{ oversize: true, announcedBytes: 0xffffffff }]);
    expect(f.push(encodeLp([b('after')], 4, 'big', false)).map((x) => x.payload.toString())).toEqual(['after']);
    expect(f.discardedBytes).toBe(1);
  });

  it('a length smaller than its own header (includesHeader) is skipped a byte at a time; zero-length frames are skipped', () => {
    const cfg = { bytes: 1, endian: 'big', includesHeader: true } as const;
    // 0x00: impossible (less than the header); 0x01: empty body; then a real frame.
    const out = expectChunkingInvariant(() => new LengthPrefixedFramer(8, cfg), Buffer.from([0x00, 0x01, 0x03, 0x41, 0x42]));
    expect(texts(out)).toEqual(['AB']);
    expect(out.discarded).toBe(1);
  });

  it('property: bodies come out as written, for any chunking and any prefix', () => {
    fc.assert(fc.property(
      fc.constantFrom(...variants), fc.array(fc.uint8Array({ minLength: 1, maxLength: 24 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }),
      (v, bodies, cuts) => {
        const data = encodeLp(bodies.map((x) => Buffer.from(x)), v.bytes, v.endian, v.includesHeader);
        const out = run(() => new LengthPrefixedFramer(24, v), split(data, cuts));
        expect(out.frames).toEqual(bodies.map((x) => ({ text: Buffer.from(x).toString('latin1'), oversize: false })));
      },
    ));
  });

  it('property: any bytes, any chunking: same frames and discard count as one push; nothing over maxFrameBytes', () => {
    fc.assert(fc.property(
      fc.constantFrom(...variants), fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a.map((x) => [0x00, 0x01, 0x03, 0x41, 0xff][x % 5]!))),
      fc.integer({ min: 1, max: 12 }), fc.array(fc.nat(), { maxLength: 10 }),
      (v, data, max, cuts) => {
        const out = run(() => new LengthPrefixedFramer(max, v), split(data, cuts));
        expect(out).toEqual(run(() => new LengthPrefixedFramer(max, v), [data]));
        for (const f of out.frames) expect(f.announced === undefined ? f.text.length <= max : f.text.length === v.bytes && f.announced > max).toBe(true);
      },
    ));
  });
});

describe('createFramer / reset', () => {
  it('builds the framer a port config names; reset() drops and counts a partial frame', () => {
    const port = serialPortSchema.parse({ name: 'p', path: '/dev/null', framing: 'nmea' });
    const f = createFramer(port);
    expect(f).toBeInstanceOf(NmeaFramer);
    expect(f.push(b('$GPGGA,12'))).toEqual([]);
    expect(f.reset()).toBe(9);
    expect(f.discardedBytes).toBe(9);
    expect(f.push(b(',3*00\r\n'))).toEqual([]); // the tail of the lost sentence is noise now
    expect(createFramer({ ...port, framing: 'length-prefixed' })).toBeInstanceOf(LengthPrefixedFramer);
    expect(createFramer({ ...port, framing: 'lines' })).toBeInstanceOf(LineFramer);
  });
});
