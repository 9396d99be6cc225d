import type { LengthPrefixConfig, SerialPortConfig } from '../../config/serial-schema.js';

/** One payload cut from a serial byte stream. */
export interface Frame {
  payload: Buffer;
  /**
   * The frame was longer than maxFrameBytes: `payload` holds only its first
   * maxFrameBytes + 1 bytes (so ingest dead-letters it as too large), the rest was
   * dropped and framing resumed at the next delimiter.
   */
  oversize: boolean;
  /**
   * length-prefixed framing only: the length field announced this many body bytes, over
   * maxFrameBytes. `payload` is then the length field itself, the body was not read
   * (see LengthPrefixedFramer): the frame is to be dead-lettered unread, not decoded.
   */
  announcedBytes?: number;
}

/**
 * Cuts a byte stream into frames. Pure: no I/O, no timers. Chunks may split a frame
 * (or a delimiter, or a length field) anywhere: the frames and `discardedBytes` come
 * out the same however the stream is chunked. Memory is bounded by about
 * maxFrameBytes. Empty frames are never emitted.
 */
export interface Framer {
  /** Feeds the next bytes; returns the frames they completed, in stream order. */
  push(chunk: Buffer): Frame[];
  /** Forgets a partial frame (the port was lost mid-frame); returns the bytes dropped. */
  reset(): number;
  /** Bytes dropped so far that went into no frame: noise between sentences, the cut-off rest of oversize frames, partial frames at reset(). */
  readonly discardedBytes: number;
}

const CR = 0x0d;
const LF = 0x0a;
const DOLLAR = 0x24;
const BANG = 0x21;

/** A frame of `length` bytes at data[start..]: whole, or cut to max + 1 bytes when over max. */
function frameAt(data: Buffer, start: number, length: number, max: number): Frame {
  return length > max
    ? { payload: data.subarray(start, start + max + 1), oversize: true }
    : { payload: data.subarray(start, start + length), oversize: false };
}

/**
 * Text lines ending in `delimiter` (default "\n"; with "\n", a "\r" before it is
 * stripped, so CRLF and LF both work). Over maxFrameBytes without a delimiter: the
 * line is cut and emitted as oversize, and bytes are dropped up to the next delimiter.
 */
export class LineFramer implements Framer {
  private readonly delimiter: Buffer;
  private readonly stripCr: boolean;
  /** Bytes after the last delimiter: a partial line, or (while skipping) a possible partial delimiter. */
  private pending: Buffer = Buffer.alloc(0);
  /** Inside an oversize line: dropping bytes until the next delimiter. */
  private skipping = false;
  private discarded = 0;

  constructor(private readonly maxFrameBytes: number, delimiter = '\n') {
    this.delimiter = Buffer.from(delimiter);
    if (this.delimiter.length === 0) throw new Error('line delimiter must not be empty');
    this.stripCr = delimiter === '\n';
  }

  get discardedBytes(): number {
    return this.discarded;
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    const dlen = this.delimiter.length;
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    // `pending` holds no whole delimiter: search only where a new one can end.
    let from = Math.max(0, this.pending.length - (dlen - 1));
    let start = 0;
    for (;;) {
      const at = data.indexOf(this.delimiter, from);
      if (at < 0) break;
      const end = this.stripCr && at > start && data[at - 1] === CR ? at - 1 : at;
      if (this.skipping) {
        this.discarded += end - start;
        this.skipping = false;
      } else if (end > start) {
        const frame = frameAt(data, start, end - start, this.maxFrameBytes);
        if (frame.oversize) this.discarded += end - start - frame.payload.length;
        frames.push(frame);
      }
      start = from = at + dlen;
    }
    let rest = data.length - start;
    // Room for a "\r" to strip and a partial delimiter before calling a line too long.
    const slack = dlen - 1 + (this.stripCr ? 1 : 0);
    if (!this.skipping && rest > this.maxFrameBytes + slack) {
      frames.push(frameAt(data, start, rest, this.maxFrameBytes));
      start += this.maxFrameBytes + 1;
      rest -= this.maxFrameBytes + 1;
      this.skipping = true;
    }
    if (this.skipping) {
      // Keep only what may start the delimiter (or be a "\r" to strip); drop the rest.
      const keep = this.stripCr ? (rest > 0 && data[data.length - 1] === CR ? 1 : 0) : Math.min(rest, dlen - 1);
      this.discarded += rest - keep;
      start += rest - keep;
    }
    this.pending = Buffer.from(data.subarray(start)); // a copy: chunks may be slices of a reused pool
    return frames;
  }

  reset(): number {
    const dropped = this.pending.length;
    this.discarded += dropped;
    this.pending = Buffer.alloc(0);
    this.skipping = false;
    return dropped;
  }
}

/**
 * NMEA 0183 sentences: "$" (or "!" for encapsulated sentences such as AIS) up to CR or
 * LF, emitted without the line end. The checksum is left to the decoder. Bytes
 * outside a sentence (noise from a device booting, a half sentence before a "$") are
 * dropped and counted; CR and LF between sentences are not counted.
 */
export class NmeaFramer implements Framer {
  /** The sentence in progress, from its "$", or empty when between sentences. */
  private pending: Buffer = Buffer.alloc(0);
  private discarded = 0;

  constructor(private readonly maxFrameBytes: number) {}

  get discardedBytes(): number {
    return this.discarded;
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = this.pending.length ? 0 : -1; // start of the sentence in progress, -1: none
    for (let i = this.pending.length; i < data.length; i++) {
      const b = data[i]!;
      if (b === DOLLAR || b === BANG) {
        if (start >= 0) this.discarded += i - start; // a sentence cut short by a new one
        start = i;
      } else if (b === CR || b === LF) {
        if (start >= 0) {
          frames.push(frameAt(data, start, i - start, this.maxFrameBytes)); // never over: cut below first
          start = -1;
        }
      } else if (start < 0) {
        this.discarded++;
      } else if (i - start >= this.maxFrameBytes) {
        // Too long for a sentence: cut it here and hunt for the next "$".
        frames.push(frameAt(data, start, i - start + 1, this.maxFrameBytes));
        start = -1;
      }
    }
    this.pending = start >= 0 ? Buffer.from(data.subarray(start)) : Buffer.alloc(0);
    return frames;
  }

  reset(): number {
    const dropped = this.pending.length;
    this.discarded += dropped;
    this.pending = Buffer.alloc(0);
    return dropped;
  }
}

/**
 * Binary frames, each preceded by an unsigned 1-, 2- or 4-byte length in the given
 * byte order, counting the body (or, with includesHeader, the body and the length
 * field). The frame is the body.
 *
 * A length over maxFrameBytes is emitted at once as an oversize frame carrying only the
 * length field (announcedBytes), and framing resynchronises: the framer hunts, a byte
 * at a time, for the next length field that can be right (1 … maxFrameBytes; empty
 * frames are skipped whole) and frames from there. Why not wait for and skip the
 * announced body: nothing tells a corrupt length field (a bit flipped on the line, a
 * read that began mid-frame after the port opened) from a real one, and a 4-byte field
 * may announce 4 GB: the line would stay silent until that much had passed. What a
 * resync may cost is bounded: the rest of the bad frame, plus at most maxFrameBytes
 * swallowed by a wrong length met while hunting. A length smaller than its own field
 * (includesHeader) cannot be right either: it starts the same hunt, without an oversize
 * frame. The hunt emits nothing else; its bytes count in discardedBytes.
 */
export class LengthPrefixedFramer implements Framer {
  private pending: Buffer = Buffer.alloc(0);
  /** Resynchronising after a length that cannot be right: lengths over the limit are skipped silently. */
  private hunting = false;
  private discarded = 0;
  private readonly header: number;

  constructor(private readonly maxFrameBytes: number, private readonly prefix: LengthPrefixConfig) {
    this.header = prefix.bytes;
  }

  get discardedBytes(): number {
    return this.discarded;
  }

  private lengthAt(data: Buffer, at: number): number {
    const big = this.prefix.endian === 'big';
    switch (this.header) {
      case 1: return data.readUInt8(at);
      case 2: return big ? data.readUInt16BE(at) : data.readUInt16LE(at);
      default: return big ? data.readUInt32BE(at) : data.readUInt32LE(at);
    }
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const max = this.maxFrameBytes;
    let pos = 0;
    while (data.length - pos >= this.header) {
      const declared = this.lengthAt(data, pos);
      const body = this.prefix.includesHeader ? declared - this.header : declared;
      if (body > max && !this.hunting) {
        // One oversize frame per resync: its length field, for the dead letter.
        frames.push({ payload: Buffer.from(data.subarray(pos, pos + this.header)), oversize: true, announcedBytes: body });
        pos += this.header;
        this.hunting = true;
        continue;
      }
      if (body < 0 || body > max) {
        pos++;
        this.discarded++;
        this.hunting = true;
        continue;
      }
      if (body > 0 && data.length - pos - this.header < body) break;
      if (body > 0) {
        frames.push({ payload: data.subarray(pos + this.header, pos + this.header + body), oversize: false });
        this.hunting = false;
      }
      pos += this.header + body;
    }
    this.pending = Buffer.from(data.subarray(pos));
    return frames;
  }

  reset(): number {
    const dropped = this.pending.length;
    this.discarded += dropped;
    this.pending = Buffer.alloc(0);
    this.hunting = false;
    return dropped;
  }
}

/** The framer a port's config asks for. */
export function createFramer(port: Pick<SerialPortConfig, 'framing' | 'maxFrameBytes' | 'lineDelimiter' | 'lengthPrefix'>): Framer {
  switch (port.framing) {
    case 'lines': return new LineFramer(port.maxFrameBytes, port.lineDelimiter);
    case 'nmea': return new NmeaFramer(port.maxFrameBytes);
    case 'length-prefixed': return new LengthPrefixedFramer(port.maxFrameBytes, port.lengthPrefix);
  }
}
