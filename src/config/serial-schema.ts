import { z } from 'zod';
import { checkAlways, keyOf, shortName } from './fields.js';

/**
 * The `serial` config section: devices on serial lines (RS-232/RS-485 adapters, USB
 * CDC-ACM, GPS receivers). Each port is read as a byte stream, cut into frames
 * (`framing`) and every frame goes through ingest like an MQTT payload; profiles match
 * a port by its `name` (`match: [{ protocol: serial, port: <name> }]`).
 * No port configured (the default) means the native `serialport` addon is never loaded.
 */

/** Port names are what profiles match on: one topic segment, so no "/", "+", "#", "{", "}". */
const portName = shortName;

const lengthPrefix = z.strictObject({
  bytes: z.union([z.literal(1), z.literal(2), z.literal(4)]).default(2).describe('Size of the length field that precedes each frame: 1, 2 or 4 bytes (unsigned).'),
  endian: z.enum(['big', 'little']).default('big').describe('Byte order of the length field (big: network order).'),
  includesHeader: z.boolean().default(false)
    .describe('The length counts the length field itself (frame body = length - bytes); false: it counts the body only.'),
});

const serialPort = z.strictObject({
  name: portName.describe('Port name: what device profiles match on ({ protocol: serial, port: <name> }) and the source of dead letters.'),
  path: z.string().min(1).describe('Device path, e.g. /dev/ttyUSB0 or a stable /dev/serial/by-id/… link.'),
  baudRate: z.number().int().positive().default(9600).describe('Line speed in bit/s (NMEA 0183 GPS receivers: usually 4800 or 9600).'),
  dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(8).describe('Data bits per character.'),
  parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).default('none').describe('Parity bit.'),
  stopBits: z.union([z.literal(1), z.literal(1.5), z.literal(2)]).default(1).describe('Stop bits (1.5 only where the platform supports it).'),
  framing: z.enum(['lines', 'nmea', 'length-prefixed']).default('lines')
    .describe('How the byte stream is cut into payloads: text lines ending in lineDelimiter; NMEA 0183 sentences ($… up to CR/LF, noise between sentences dropped); or binary frames each preceded by a length field (lengthPrefix).'),
  lineDelimiter: z.string().min(1).max(8).default('\n')
    .describe('lines framing: the end of a line. With "\\n", a "\\r" before it is stripped too, so CRLF and LF lines both work. Empty lines are skipped.'),
  lengthPrefix: lengthPrefix.default(() => lengthPrefix.parse({})).describe('length-prefixed framing: the length field.'),
  maxFrameBytes: z.number().int().positive().max(16 * 1024 * 1024).default(4096)
    .describe('Longest frame: a longer one is cut, dead-lettered (WEIR_PAYLOAD_TOO_LARGE) and framing resumes at the next delimiter. length-prefixed: a length field over this is dead-lettered unread (a corrupt field may announce 4 GB) and framing resynchronises at the next plausible length field.'),
  reopenMinMs: z.number().int().positive().default(500)
    .describe('After the device is unplugged or fails to open: first retry delay; doubles up to reopenMaxMs, with full jitter.'),
  reopenMaxMs: z.number().int().positive().default(30000).describe('Longest delay between attempts to reopen the port.'),
});

/** Cross-field rules of one port. */
function checkPort(p: { reopenMinMs: unknown; reopenMaxMs: unknown }, ctx: z.RefinementCtx): void {
  if (typeof p.reopenMinMs === 'number' && typeof p.reopenMaxMs === 'number' && p.reopenMinMs > p.reopenMaxMs) {
    ctx.addIssue({ code: 'custom', path: ['reopenMinMs'], message: `must not exceed reopenMaxMs (${p.reopenMaxMs})` });
  }
}

/** Names and paths are unique: a name is a profile's match key, and a path can be opened only once. */
function checkPorts(ports: unknown[], ctx: z.RefinementCtx): void {
  for (const key of ['name', 'path'] as const) {
    const seen = new Map<string, number>();
    ports.forEach((p, i) => {
      const value = keyOf(p, key);
      if (typeof value !== 'string') return;
      const first = seen.get(value);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, key], message: `${key} "${value}" is already used by ports[${first}]` });
      else seen.set(value, i);
    });
  }
}

export const serialPortSchema = serialPort.superRefine(checkPort, checkAlways);

export const serialConfigSchema = z.strictObject({
  ports: z.array(serialPortSchema).superRefine(checkPorts, checkAlways).default([])
    .describe('Serial ports to read; none (the default): the serial source does nothing and loads no native code.'),
});

export type SerialConfig = z.infer<typeof serialConfigSchema>;
export type SerialConfigInput = z.input<typeof serialConfigSchema>;
export type SerialPortConfig = z.infer<typeof serialPortSchema>;
export type LengthPrefixConfig = z.infer<typeof lengthPrefix>;
