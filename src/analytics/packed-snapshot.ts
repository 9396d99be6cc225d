/**
 * The analytics checkpoint's container (snapshot versions 2 and 3): a small JSON header and one
 * block of float64 numbers, written straight into one buffer.
 *
 * Why: the checkpoint holds every open window key — 60,000 at 10,000 devices. As JSON
 * (version 1) that was a tree of ~30 MB of objects and a 9 MB string built on the event
 * loop once a minute (~300 ms here, seconds on a Pi), most of it formatting doubles.
 * Here the numbers are copied as raw IEEE 754 bytes — exact by construction, with no
 * object per key — and only what is small and irregular (names, tag sets, rule state)
 * stays JSON.
 *
 * Layout:
 *   0   4 bytes  "WSNP"
 *   4   uint32   H, the header's length in bytes, little-endian
 *   8   H bytes  the header, UTF-8 JSON
 *   …   zero padding to a multiple of 8
 *   P   float64  BYTE_ORDER_CHECK, then the block's numbers, in host byte order
 * (little-endian wherever the gateway runs: x86-64, arm64, armv7). The check value
 * refuses a snapshot moved to a machine of the other byte order instead of misreading it.
 *
 * Call order: packSnapshot() once per checkpoint, its `fill` called once, synchronously;
 * unpackSnapshot() on what it returned (or a copy, as SQLite gives back). Errors:
 * unpackSnapshot throws Error on anything that is not such a container.
 */

const MAGIC = 'WSNP';
/** 1 + 2⁻⁵², bits 0x3ff0000000000001: not a byte palindrome, so the other byte order reads another number. */
const BYTE_ORDER_CHECK = 1.0000000000000002;
const HEADER_AT = 8;

export interface Unpacked {
  header: unknown;
  /** The block, without the check value; a view into the input when it was aligned. */
  block: Float64Array;
}

/** Whether `bytes` starts like a packed snapshot (a version 1 snapshot is a JSON string). */
export function isPackedSnapshot(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER_AT && String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!) === MAGIC;
}

/**
 * One buffer holding `header` (as JSON) and `doubles` numbers, which `fill` writes into
 * the array it is given (exactly `doubles` long).
 */
export function packSnapshot(header: unknown, doubles: number, fill: (block: Float64Array) => void): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const blockAt = align8(HEADER_AT + json.length);
  // A fresh ArrayBuffer starts 8-aligned, so the block can be a Float64Array view of it.
  const out = Buffer.from(new ArrayBuffer(blockAt + 8 * (doubles + 1)));
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(json.length, 4);
  json.copy(out, HEADER_AT);
  const block = new Float64Array(out.buffer, blockAt, doubles + 1);
  block[0] = BYTE_ORDER_CHECK;
  fill(block.subarray(1));
  return out;
}

/** @throws Error when `bytes` is not a whole packed snapshot. */
export function unpackSnapshot(bytes: Uint8Array): Unpacked {
  if (!isPackedSnapshot(bytes)) throw new Error('analytics snapshot: not a packed snapshot');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  const blockAt = align8(HEADER_AT + headerLength);
  const blockBytes = bytes.length - blockAt;
  if (blockBytes < 8 || blockBytes % 8 !== 0) throw new Error('analytics snapshot: truncated');
  const header: unknown = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + HEADER_AT, headerLength).toString('utf8'));
  // SQLite hands back a Buffer that may sit at any offset of its memory: copy if unaligned.
  // The Uint8Array constructor copies into a fresh ArrayBuffer; Buffer#slice would not
  // copy, and its .buffer is the whole memory it sits in.
  const start = bytes.byteOffset + blockAt;
  const block = start % 8 === 0
    ? new Float64Array(bytes.buffer, start, blockBytes / 8)
    : new Float64Array(new Uint8Array(bytes.subarray(blockAt)).buffer);
  if (block[0] !== BYTE_ORDER_CHECK) throw new Error('analytics snapshot: written on a machine of another byte order');
  return { header, block: block.subarray(1) };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
