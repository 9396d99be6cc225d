// A TCP proxy between a Kafka client and a broker that advertises the proxy's port
// (KafkaBroker.start({ advertisedPort })), so every connection the client makes passes
// it. It can make Kafka's answers go missing: the broker still gets and handles each
// request, but its responses are dropped, and the connections are then cut — what a
// client sees when a link fails after its request went out. Only for tests.
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Kafka's request header starts with apiKey (int16); Produce is 0 (the Kafka protocol guide, "Requests"). */
const PRODUCE = 0;

/**
 * Splits one direction of a Kafka connection into frames (int32 size, then size bytes)
 * and hands each frame's start to `onFrame`; only headers are looked at.
 */
class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (frame: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4) {
      const size = this.buf.readInt32BE(0);
      if (this.buf.length < 4 + size) return;
      this.onFrame(this.buf.subarray(4, 4 + size));
      this.buf = this.buf.subarray(4 + size);
    }
  }
}

export class KafkaProxy {
  /** Produce requests whose responses this proxy dropped: each one the broker handled. */
  producesSwallowed = 0;
  private swallowing = false;
  private readonly sockets = new Set<Socket>();

  private readonly server: Server = createServer((client) => this.accept(client));
  port = 0;

  private constructor(private target: number) {}

  /** Listens on a free port of 127.0.0.1; connections go to `targetPort` (settable later, before the first one). */
  static async start(targetPort = 0): Promise<KafkaProxy> {
    const proxy = new KafkaProxy(targetPort);
    proxy.port = await new Promise<number>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve((proxy.server.address() as { port: number }).port));
    });
    return proxy;
  }

  set targetPort(port: number) {
    this.target = port;
  }

  private accept(client: Socket): void {
    // While answers go missing, new connections fail too: the link is down.
    if (this.swallowing) return void client.destroy();
    const upstream = connect(this.target, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    const produces = new Set<number>();
    const requests = new FrameSplitter((f) => {
      if (f.readInt16BE(0) === PRODUCE) produces.add(f.readInt32BE(4)); // apiKey, apiVersion, correlationId
    });
    const responses = new FrameSplitter((f) => {
      const correlationId = f.readInt32BE(0);
      if (produces.delete(correlationId) && this.swallowing) this.producesSwallowed++;
    });
    client.on('data', (chunk: Buffer) => {
      requests.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      responses.push(chunk);
      if (!this.swallowing) client.write(chunk);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }

  /** From now on the broker's answers are dropped and new connections refused. */
  swallow(): void {
    this.swallowing = true;
  }

  /** Cuts every open connection (their requests get no answer). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Passes answers and connections again. */
  restore(): void {
    this.swallowing = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
