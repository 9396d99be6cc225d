import { once } from 'node:events';
import { createServer, connect, Socket, type Server } from 'node:net';
import { generate } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { guardPacketSize } from '../../src/sources/mqtt-packet-guard.js';
import { waitFor } from '../support/wait.js';

const TOPIC = 'sensors/dev-1/blob';

/** A real PUBLISH; its Remaining Length per MQTT 3.1.1 §3.3: topic (2 + n), packet id (QoS > 0), payload. */
function publish(payloadBytes: number, qos: 0 | 1 = 1, fill = 0xff): { buf: Buffer; remaining: number } {
  const payload = Buffer.alloc(payloadBytes, fill);
  const buf = generate({ cmd: 'publish', topic: TOPIC, payload, qos, messageId: qos ? 7 : undefined, retain: false, dup: false });
  return { buf, remaining: 2 + Buffer.byteLength(TOPIC) + (qos ? 2 : 0) + payloadBytes };
}

const connectPacket = generate({ cmd: 'connect', clientId: 'dev-1', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
const pingreq = generate({ cmd: 'pingreq' }); // Remaining Length 0

// Packets with 1-, 2- and 3-byte Remaining Length fields; the largest sits exactly at the cap.
const big = publish(20_000);
const CAP = big.remaining;
const valid = [connectPacket, publish(3, 0).buf, pingreq, publish(200).buf, big.buf, pingreq, publish(0).buf];
const over = publish(20_001); // one byte over the cap

describe('guardPacketSize on connected sockets', () => {
  let server: Server;
  let client: Socket;
  let peer: Socket;
  let violations: number[];
  let received: number;

  async function pair(): Promise<void> {
    server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    const addr = server.address() as { port: number };
    client = connect(addr.port, '127.0.0.1');
    client.on('error', () => {}); // reset by the peer's destroy
    await once(client, 'connect');
    [peer] = (await accepted) as [Socket];
    violations = [];
    received = 0;
    guardPacketSize(peer, CAP, (n) => violations.push(n));
    peer.on('data', (d: Buffer) => (received += d.length));
  }

  afterEach(async () => {
    client?.destroy();
    peer?.destroy();
    await new Promise((r) => server.close(r));
  });

  it('lets packets up to the cap through and keeps the connection open', async () => {
    await pair();
    const all = Buffer.concat(valid);
    for (const p of valid) client.write(p);
    await waitFor(() => received === all.length, 5000, 'condition', 5);
    await new Promise((r) => setTimeout(r, 20));
    expect(violations).toEqual([]);
    expect(peer.destroyed).toBe(false);
    expect(client.destroyed).toBe(false);
  });

  it('closes the connection on a header announcing more than the cap, reporting the announced length', async () => {
    await pair();
    const closed = once(client, 'close');
    client.write(Buffer.concat([connectPacket, over.buf.subarray(0, 16)])); // the header is enough
    await closed;
    expect(violations).toEqual([over.remaining]);
    expect(over.remaining).toBe(CAP + 1);
    expect(peer.destroyed).toBe(true);
  });
});

describe('guardPacketSize across chunk boundaries', () => {
  /** A real, unconnected Socket fed chunk by chunk, as the socket's reads would be. */
  function feed(chunks: Buffer[]): { violations: number[]; destroyed: boolean } {
    const socket = new Socket();
    const violations: number[] = [];
    guardPacketSize(socket, CAP, (n) => violations.push(n));
    for (const c of chunks) if (!socket.destroyed) socket.emit('data', c);
    return { violations, destroyed: socket.destroyed };
  }

  const stream = Buffer.concat(valid);
  const withOversize = Buffer.concat([stream, over.buf]);

  it('tracks valid packets split at every byte boundary (bodies full of 0xff never read as headers)', () => {
    for (let k = 1; k < stream.length; k++) {
      const got = feed([stream.subarray(0, k), stream.subarray(k)]);
      if (got.violations.length || got.destroyed) throw new Error(`split at ${k}: ${JSON.stringify(got)}`);
    }
    expect(feed([...stream].map((b) => Buffer.from([b])))).toEqual({ violations: [], destroyed: false });
  });

  it('finds the oversize header after valid packets wherever the split falls', () => {
    for (let k = 1; k < withOversize.length; k++) {
      const got = feed([withOversize.subarray(0, k), withOversize.subarray(k)]);
      if (got.violations.length !== 1 || got.violations[0] !== CAP + 1 || !got.destroyed) {
        throw new Error(`split at ${k}: ${JSON.stringify(got)}`);
      }
    }
    const [a, b] = [stream.length + 1, stream.length + 3]; // cut inside the length bytes
    expect(feed([withOversize.subarray(0, a), withOversize.subarray(a, b), withOversize.subarray(b)])).toEqual({ violations: [CAP + 1], destroyed: true });
  });

  it('treats a Remaining Length of more than 4 bytes as a violation', () => {
    const got = feed([Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]);
    expect(got.destroyed).toBe(true);
    expect(got.violations).toHaveLength(1);
  });

  it('applies the cap per packet, not to the connection total', () => {
    const many = Array.from({ length: 10 }, () => big.buf);
    expect(feed([Buffer.concat(many)])).toEqual({ violations: [], destroyed: false });
  });
});
