// A bootstrap broker at an IPv6 address, kafka.brokers: ["[::1]:9092"] (RFC 3986
// §3.2.2), must reach both Kafka clients as that address and port. Each client splits
// a "host:port" string at every ':' (KafkaJS: connectionPoolBuilder.js; @platformatic/
// kafka: parseBroker), which leaves host "[" and no port. No Kafka here: a TCP stand-in
// on ::1 only tells whether the client connected to it, then hangs up.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { KafkaJsProducer } from '../../../src/forwarder/kafkajs-producer.js';
import { PlatformaticProducer } from '../../../src/forwarder/platformatic-producer.js';
import { makeContext, useCleanups } from '../support.js';

const defer = useCleanups();

/** A listener on [::1] that closes each connection it gets; `connections()` counts them. */
async function standIn(): Promise<{ port: number; connections: () => number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  defer(() => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(resolve);
  }));
  return { port: (server.address() as AddressInfo).port, connections: () => sockets.size };
}

describe('an IPv6 bootstrap broker', () => {
  it.each(['platformatic', 'kafkajs'] as const)('is where the %s client connects', async (client) => {
    const { port, connections } = await standIn();
    const ctx = makeContext({ kafka: { client, compression: 'none', brokers: [`[::1]:${port}`], requestTimeoutMs: 1000 } });
    const producer = client === 'kafkajs' ? new KafkaJsProducer(ctx) : new PlatformaticProducer(ctx);
    // The stand-in speaks no Kafka: the connect fails, once the client reached it.
    await expect(producer.connect()).rejects.toMatchObject({ code: 'WEIR_KAFKA_UNREACHABLE' });
    expect(connections()).toBeGreaterThan(0);
  });
});
