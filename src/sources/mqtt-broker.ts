import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type { Context } from '../core/context.js';
import { describeError } from '../core/errors.js';
import type { Ingest } from '../ingest/ingest.js';
import { ConnectionProtection } from './mqtt-protection.js';
import { SessionExpiry, type SessionStore } from './mqtt-sessions.js';
import type { Source } from './source.js';
import { InFlight } from './in-flight.js';

// mqtt-packet (aedes' encoder) otherwise builds, on the first packet it writes, a cache
// of 65,536 two-byte Buffers for packet ids: 6 MB of heap and 65,536 objects every full
// GC must mark, for ids that cost one 2-byte allocation to encode. Its documented switch.
mqttPacket.writeToStream.cacheNumbers = false;

/**
 * The embedded MQTT 3.1.1 broker (aedes). Every PUBLISH goes through
 * authorizePublish, where its readings are appended to the journal synchronously —
 * aedes dispatches all packets of one socket read concurrently, so appending here
 * keeps each device's order — and aedes is let go on (sending PUBACK for QoS 1,
 * PUBREC for QoS 2) only once the journal committed them. QoS 0 is journaled too,
 * but without waiting: there is nothing to acknowledge.
 */
export class MqttBrokerSource implements Source {
  readonly name = 'mqtt';
  private broker!: Aedes;
  /** Per client, the QoS 2 resend check in progress (onPublish), which its later PUBLISHes wait behind. */
  private readonly resendChecks = new WeakMap<Client, Promise<void>>();
  private server!: Server;
  private sockets = new Set<Socket>();
  private accepting = false;
  private address = '';
  /** Payloads handed to the journal whose device is still waiting for its acknowledgement. */
  private readonly inflight = new InFlight();
  private sessions: SessionExpiry | null = null;
  /** Connection limit, packet-size guard, subscriber buffers, throttled warnings (mqtt-protection.ts). */
  private readonly protection: ConnectionProtection;
  private readonly log: Context['log'];

  constructor(private readonly ctx: Context, private readonly ingest: Ingest) {
    this.log = ctx.log.child({ component: 'mqtt' });
    this.protection = new ConnectionProtection(ctx, ingest, this.log);
  }

  async start(): Promise<void> {
    const { mqtt } = this.ctx.config;
    this.broker = await Aedes.createBroker({
      // Long client ids are common (MAC addresses, UUIDs); MQTT 3.1.1 §3.1.3.1 allows them.
      maxClientsIdLength: 256,
      heartbeatInterval: 60_000,
      // aedes' default is 60 s. Writes to a subscriber no longer hold up publishers
      // (mqtt-subscriber-buffer.ts); this ends a subscriber that takes no data at all.
      drainTimeout: mqtt.slowSubscriberTimeoutMs,
      authorizePublish: (client, packet, callback) => this.onPublish(client, packet, callback),
    });
    this.watchClients();
    this.server = createServer((socket) => {
      if (!this.accepting) return socket.destroy();
      // PUBACKs are tiny; with Nagle's algorithm on, each waits for the previous one's
      // TCP ACK (up to the peer's delayed-ACK timeout). The benchmark's p99 fell from
      // 59 to 35 ms at half load with it off.
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.protection.accept(socket, this.broker);
    });
    this.protection.limit(this.server);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(mqtt.port, mqtt.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address();
    this.address = typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : String(addr);
    this.accepting = true;
    this.log.info({ address: this.address }, 'MQTT broker listening');
  }

  /**
   * Follows aedes' clients: the connection gauge, persistent sessions' absences
   * (SessionExpiry), and subscribers cut off by aedes' drain timeout (ConnectionProtection).
   */
  private watchClients(): void {
    const { mqtt } = this.ctx.config;
    const sessions = (this.sessions = new SessionExpiry(this.ctx, this.store, mqtt.sessionExpirySeconds * 1000, (id) => id in (this.broker as unknown as { clients: Record<string, unknown> }).clients));
    sessions.start();
    this.broker.on('client', (client) => {
      sessions.connected(client.id);
      this.ctx.metrics.mqttClients.set(this.broker.connectedClients);
    });
    this.broker.on('clientDisconnect', (client) => {
      sessions.disconnected(client.id, client.clean);
      this.ctx.metrics.mqttClients.set(this.broker.connectedClients);
    });
    this.broker.on('clientError', (client, err) => {
      // aedes' drainTimeout (mqtt.slowSubscriberTimeoutMs) ends a connection that takes no data.
      if (err?.message === 'drain timeout') return this.protection.drainTimedOut(client);
      this.log.debug({ client: client?.id, err: describeError(err) }, 'client error');
    });
  }

  /** The port actually bound (config may say 0). */
  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  /**
   * Publishes on the embedded broker itself, QoS 1 (local alerts: equipment on site
   * subscribed to the topic gets them while the uplink is down). Not journaled: the
   * broker's own publications skip onPublish. A no-op before start or after stop.
   */
  publishLocal(topic: string, payload: string): void {
    if (!this.accepting) return;
    this.broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, (err) => {
      if (err) this.protection.warnings.warn('local-publish', { topic, err: describeError(err) }, 'local publish failed');
    });
  }

  private onPublish(client: Client | null, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    if (!client) return callback(null); // the broker's own publications (alerts, $SYS)
    // Stopping: refuse without acknowledging; the device resends to the next run.
    if (!this.accepting) return callback(new Error('gateway is stopping'));
    // A QoS 2 PUBLISH retransmitted before PUBREL was journaled the first time
    // ([MQTT-4.3.3-2]: deliver once). On this connection aedes tracks its id in
    // _inboundInflight; after a reconnect (CleanSession 0: the client MUST resend it
    // with DUP set, §4.4) only the session store knows it, and asking it is asynchronous.
    const inflight = (client as unknown as { _inboundInflight?: Set<number> })._inboundInflight;
    if (packet.qos === 2 && packet.messageId !== undefined && inflight?.has(packet.messageId)) return callback(null);
    // aedes hands on a PUBLISH that arrives in a later socket read while the client's
    // CONNECT is still being processed (MQTT 3.1.1 §3.1.4 lets a client send before
    // CONNACK). It is held until the CONNECT is accepted — and dropped, unacknowledged,
    // if it is refused ([MQTT-3.1.4-5]: no data after a refused CONNECT is processed).
    const before = this.resendChecks.get(client) ?? (client.connected ? undefined : accepted(client));
    const check = packet.qos === 2 && packet.dup && packet.messageId !== undefined;
    if (before === undefined && !check) return this.journal(client, packet, callback);
    // While a check runs, the client's later PUBLISHes wait behind it: journal order stays arrival order.
    const done = (before ?? Promise.resolve())
      .then(() => (check ? this.inSession(client, packet) : false))
      .then((resent) => (resent ? callback(null) : this.journal(client, packet, callback)))
      .catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err)))); // never unhandled
    this.resendChecks.set(client, done);
    void done.finally(() => {
      if (this.resendChecks.get(client) === done) this.resendChecks.delete(client);
    });
  }

  /** Whether aedes' session store holds this QoS 2 PUBLISH already (PUBREC sent, PUBREL not yet received). */
  private inSession(client: Client, packet: PublishPacket): Promise<boolean> {
    return this.store.incomingGetPacket(client, packet).then(() => true, () => false);
  }

  /** aedes' session store (its types do not expose it). */
  private get store(): SessionStore & { incomingGetPacket(c: Client, p: PublishPacket): Promise<unknown> } {
    return (this.broker as unknown as { persistence: MqttBrokerSource['store'] }).persistence;
  }

  private journal(client: Client, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const delivery = { protocol: 'mqtt' as const, topic: packet.topic, payload, client: client.id, maxBytes: this.ctx.config.mqtt.maxPayloadBytes };
    if (packet.qos === 0) {
      this.ingest.submit(delivery, (err) => {
        if (err) this.protection.warnings.warn('qos0-lost', { client: client.id, err: describeError(err) }, 'QoS 0 payload lost: journal refused it');
      });
      return callback(null);
    }
    // MQTT 3.1.1 cannot refuse a PUBLISH; on a journal error the connection is closed
    // without PUBACK, and the client resends with DUP set after reconnecting (§4.4).
    this.inflight.begin();
    this.ingest.submit(delivery, (err) => {
      callback(err);
      this.inflight.end();
    });
  }

  status(): Record<string, unknown> {
    return { listening: this.accepting, address: this.address, clients: this.broker?.connectedClients ?? 0, sessionsAway: this.sessions?.kept ?? 0 };
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.accepting = false;
    await this.sessions?.stop();
    // Let accepted payloads commit and their PUBACKs go out before connections close,
    // so a clean stop makes no duplicates.
    await this.inflight.drained();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // Connected devices: aedes closes them after pending callbacks (PUBACKs) ran.
      this.broker.close(() => {
        for (const s of this.sockets) s.destroy();
      });
    });
  }
}

/** Resolves once aedes accepted the client's CONNECT (it emits 'connected'); rejects if the connection closes first. */
function accepted(client: Client): Promise<void> {
  if (client.connected) return Promise.resolve();
  if (client.closed) return Promise.reject(new Error('connection closed before CONNACK'));
  return new Promise((resolve, reject) => {
    const onClose = (): void => {
      client.removeListener('connected', onConnected);
      reject(new Error('connection closed before CONNACK'));
    };
    const onConnected = (): void => {
      client.conn.removeListener('close', onClose);
      resolve();
    };
    client.once('connected', onConnected);
    client.conn.once('close', onClose);
  });
}
