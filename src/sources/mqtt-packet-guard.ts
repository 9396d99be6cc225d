import type { Socket } from 'node:net';

/**
 * The largest MQTT packet accepted for a payload limit: the payload may be carried
 * several times over (a JSON batch, a will) plus up to 64 KiB of topic, header and
 * MQTT 5 properties. The embedded broker cuts packets over it (guardPacketSize); the
 * bridge announces it to the site broker as its Maximum Packet Size (MQTT 5 §3.1.2.11.4).
 */
export function packetCap(maxPayloadBytes: number): number {
  return maxPayloadBytes * 4 + 64 * 1024;
}

/**
 * Caps the size of MQTT packets a client may send. MQTT 3.1.1 lets a packet announce
 * up to 256 MB in its Remaining Length (§2.2.3) and mqtt-packet buffers it all before
 * parsing, so one bad device could exhaust a Pi's memory. This scans the fixed
 * headers as the broker reads the socket and destroys the connection as soon as a
 * header announces more than `maxBytes`, having buffered at most one socket read.
 *
 * It listens to 'data', which Readable.read() emits for every chunk aedes pulls on
 * 'readable', so it sees exactly the bytes the broker parses, in order.
 */
export function guardPacketSize(socket: Socket, maxBytes: number, onViolation: (announced: number) => void): void {
  let state: 'type' | 'length' | 'body' = 'type';
  let length = 0;
  let multiplier = 1;
  let remaining = 0;

  socket.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (state === 'body') {
        const take = Math.min(remaining, chunk.length - i);
        remaining -= take;
        i += take;
        if (remaining === 0) state = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (state === 'type') {
        state = 'length';
        length = 0;
        multiplier = 1;
        continue;
      }
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if (byte & 0x80) {
        if (multiplier >= 128 ** 4) return violation(length); // malformed: a 4th length byte may not continue (§2.2.3)
        continue;
      }
      if (length > maxBytes) return violation(length);
      remaining = length;
      state = remaining === 0 ? 'type' : 'body';
    }
  });

  function violation(announced: number): void {
    onViolation(announced);
    socket.destroy();
  }
}
