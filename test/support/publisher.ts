// A steady MQTT publisher for outage and crash tests: real MQTT.js clients with
// persistent sessions (clean: false) and QoS 1, recording which readings the
// gateway acknowledged (PUBACK) — exactly what the delivery promise covers.
import mqtt, { type MqttClient } from 'mqtt';
import { cpuReading } from './gateway.js';

export class SteadyPublisher {
  /** Per device, the reading indexes that were PUBACKed. */
  readonly acked = new Map<string, Set<number>>();
  sent = 0;
  private clients: MqttClient[] = [];
  private timers: NodeJS.Timeout[] = [];
  private pending = new Set<Promise<unknown>>();

  constructor(private readonly port: number, private readonly devices: string[], private readonly perDevicePerSecond: number) {}

  async start(): Promise<void> {
    for (const device of this.devices) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${this.port}`, {
        clientId: `steady-${device}`, clean: false, reconnectPeriod: 200, connectTimeout: 2000,
      });
      this.clients.push(client);
      const acked = new Set<number>();
      this.acked.set(device, acked);
      let i = 0;
      const tick = 10; // ms
      const perTick = Math.max(1, Math.round((this.perDevicePerSecond * tick) / 1000));
      this.timers.push(setInterval(() => {
        // Publish only while connected; MQTT.js queues the rest and resends unacked ones on reconnect.
        if (!client.connected) return;
        for (let k = 0; k < perTick; k++) {
          const n = i++;
          this.sent++;
          const p = client.publishAsync('iot-data-input', cpuReading(device, n), { qos: 1 }).then(() => acked.add(n), () => undefined);
          this.pending.add(p);
          p.finally(() => this.pending.delete(p));
        }
      }, tick));
    }
  }

  get ackedCount(): number {
    let n = 0;
    for (const s of this.acked.values()) n += s.size;
    return n;
  }

  /** Stops publishing, waits (bounded) for outstanding PUBACKs, disconnects. */
  async stop(timeoutMs = 30_000): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => setTimeout(r, timeoutMs))]);
    await Promise.all(this.clients.map((c) => c.endAsync(true)));
  }
}
