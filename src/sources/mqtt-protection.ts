import type { Server, Socket } from 'node:net';
import type { Aedes, Client } from 'aedes';
import type { Context } from '../core/context.js';
import { describeError } from '../core/errors.js';
import { LogThrottle } from '../core/log-throttle.js';
import type { Ingest } from '../ingest/ingest.js';
import { guardPacketSize, packetCap } from './mqtt-packet-guard.js';
import { bufferDeliveries } from './mqtt-subscriber-buffer.js';

/**
 * What keeps one MQTT connection from hurting the gateway or the other devices, each
 * counted in weir_mqtt_connections_cut_total{reason}:
 * - connection_limit: mqtt.maxConnections, enforced by Node as connections arrive;
 * - oversize_packet: a packet announcing more than mqtt.maxPayloadBytes × 4 + 64 KiB is
 *   cut off unread (mqtt-packet-guard.ts) and dead-lettered with its announced size;
 * - slow_subscriber: a subscriber beyond mqtt.subscriberBufferBytes of QoS 1/2 messages
 *   (mqtt-subscriber-buffer.ts), or taking no data for mqtt.slowSubscriberTimeoutMs
 *   (aedes' drain timeout, reported through clientError).
 * Warnings devices can set off at will go through `warnings` (at most one a minute per kind).
 *
 * Call order: limit(server) once; accept(socket) for every connection; drainTimedOut()
 * from aedes' clientError. No errors.
 */
export class ConnectionProtection {
  readonly warnings: LogThrottle;
  private readonly slowClients = new WeakSet<Client>();

  constructor(private readonly ctx: Context, private readonly ingest: Ingest, private readonly log: Context['log']) {
    this.warnings = new LogThrottle(log, ctx.clock);
  }

  /** mqtt.maxConnections: Node closes connections over it as they arrive; counted, and logged once per run of refusals. */
  limit(server: Server): void {
    const { mqtt } = this.ctx.config;
    server.maxConnections = mqtt.maxConnections;
    let refusing = false;
    server.on('connection', () => (refusing = false));
    server.on('drop', (d) => {
      this.ctx.metrics.mqttCut.labels('connection_limit').inc();
      if (!refusing) this.log.warn({ remote: d?.remoteAddress, maxConnections: mqtt.maxConnections }, 'MQTT connection limit reached; refusing new connections (logged once until one is accepted again)');
      refusing = true;
    });
  }

  /** Hands `socket` to aedes behind the packet-size guard, with its deliveries buffered. */
  accept(socket: Socket, broker: Aedes): void {
    const { mqtt } = this.ctx.config;
    const cap = packetCap(mqtt.maxPayloadBytes);
    // The guard listens before aedes does, so it sees every byte aedes reads. It only
    // calls back on a later read, once `client` exists (its id is set once CONNECT was read).
    guardPacketSize(socket, cap, (announced) => this.oversizePacket(socket, client.id, announced, cap));
    const client = broker.handle(socket);
    bufferDeliveries(client, {
      maxBytes: mqtt.subscriberBufferBytes,
      dropped: (c) => {
        this.ctx.metrics.mqttDropped.inc();
        this.warnings.warn('subscriber-drop', { client: c.id }, 'QoS 0 messages dropped for a subscriber that falls behind (mqtt.subscriberBufferBytes)');
      },
      cut: (c) => this.slowSubscriber(c, 'more than mqtt.subscriberBufferBytes of QoS 1/2 messages waiting for it'),
    });
  }

  /** aedes' drainTimeout (mqtt.slowSubscriberTimeoutMs) ended a connection that took no data. */
  drainTimedOut(client: Client): void {
    this.slowSubscriber(client, `no data taken for ${this.ctx.config.mqtt.slowSubscriberTimeoutMs} ms`);
  }

  /** Counted and logged once per client, though every write that was waiting reports it. */
  private slowSubscriber(client: Client, why: string): void {
    if (this.slowClients.has(client)) return;
    this.slowClients.add(client);
    this.ctx.metrics.mqttCut.labels('slow_subscriber').inc();
    this.log.warn({ client: client?.id, why }, 'MQTT subscriber too slow; disconnected so it does not hold up other devices');
  }

  /**
   * A packet the guard cut off unread: dead-lettered (Ingest.refuseUnread) under the
   * connection's client id, or its address before CONNECT, so that the dead-letter
   * count and weir.deadletter agree.
   */
  private oversizePacket(socket: Socket, clientId: string | null | undefined, announced: number, cap: number): void {
    this.ctx.metrics.mqttCut.labels('oversize_packet').inc();
    const client = clientId ?? `${socket.remoteAddress}:${socket.remotePort}`;
    this.warnings.warn('oversize', { client, announced, cap }, 'MQTT packet over the size cap; connection closed');
    const reason = `MQTT packet of ${announced} bytes exceeds the cap of ${cap} (mqtt.maxPayloadBytes × 4 + 64 KiB): not read, connection closed`;
    this.ingest.refuseUnread({ protocol: 'mqtt', topic: '', client }, announced, { code: 'WEIR_PAYLOAD_TOO_LARGE', reason }, (err) => {
      if (err) this.warnings.warn('oversize-unjournaled', { client, err: describeError(err) }, 'dead letter for an oversize packet not journaled');
    });
  }
}
