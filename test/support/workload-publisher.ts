// Publishes a recorded workload (seed 001 readings in arrival order) over MQTT QoS 1
// with real MQTT.js clients, one persistent session per device, so each device's
// order holds across gateway crashes: unacknowledged messages are resent, in order,
// when the client reconnects.
import mqtt, { type MqttClient } from 'mqtt';
import type { Ev } from '../unit/analytics/windows/support.js';
import { sleep, waitFor } from './wait.js';

export function cpuPayload(e: Ev): string {
  return JSON.stringify({ hostname: e.device, cpu: e.tags.cpu, usage: e.metrics.usage, occurred_at: e.ts });
}

export class WorkloadPublisher {
  private clients = new Map<string, MqttClient>();
  private pending: Array<Promise<unknown>> = [];
  acked = 0;

  constructor(private readonly port: number, private readonly topic = 'iot-data-input') {}

  /**
   * Publishes `evs` in order, `perBatch` at a time with `pauseMs` between batches,
   * waiting while any client is disconnected (MQTT.js resends its unacknowledged
   * messages first when it reconnects). Resolves once every message was acknowledged.
   */
  async publish(evs: readonly Ev[], perBatch = 50, pauseMs = 25): Promise<void> {
    for (let i = 0; i < evs.length; i += perBatch) {
      await waitFor(() => [...this.clients.values()].every((c) => c.connected), 60_000, 'publishers connected', 20);
      for (const e of evs.slice(i, i + perBatch)) {
        const client = await this.client(e.device);
        this.pending.push(client.publishAsync(this.topic, cpuPayload(e), { qos: 1 }).then(() => this.acked++));
      }
      await sleep(pauseMs);
    }
    await Promise.all(this.pending);
  }

  private async client(device: string): Promise<MqttClient> {
    let c = this.clients.get(device);
    if (!c) {
      c = await mqtt.connectAsync(`mqtt://127.0.0.1:${this.port}`, { clientId: `wl-${device}`, clean: false, reconnectPeriod: 200, connectTimeout: 2000 });
      this.clients.set(device, c);
    }
    return c;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.endAsync(true)));
  }
}
