// The uplink goes down for 30 s while devices keep publishing: the gateway keeps
// acknowledging, says so on /readyz and /metrics, and after Kafka is back every
// acknowledged reading arrives, in each device's order.
import { afterAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { KafkaBroker } from '../support/kafka-broker.js';
import { consumeAll } from '../support/kcat.js';
import { getJson, getText, metric, sleep, startInProcess, testSetup, waitFor } from '../support/gateway.js';
import { SteadyPublisher } from '../support/publisher.js';
import { checkDelivery } from '../support/delivery.js';

describe('Kafka outage', () => {
  let broker: KafkaBroker | undefined;
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop();
    await broker?.destroy();
  });

  it('buffers through a 30 s outage, reports it, then delivers everything in order', async () => {
    // A private broker: this test stops and restarts it.
    broker = await KafkaBroker.start();
    const setup = await testSetup(broker.brokers);
    gateway = await startInProcess(setup);
    const devices = ['d1', 'd2', 'd3'];
    const publisher = new SteadyPublisher(setup.mqttPort, devices, 100);
    await publisher.start();
    await sleep(3000);
    await waitFor(async () => metric(await getText(setup.httpPort, '/metrics'), 'weir_uplink_up') === 1, 20_000, 'uplink up on /metrics');
    // The forwarder thread's own isolate, beside the main one's weir_nodejs_heap_*.
    const before = await getText(setup.httpPort, '/metrics');
    const threadUsed = metric(before, 'weir_forwarder_thread_heap_bytes', 'kind="used"')!;
    expect(threadUsed).toBeGreaterThan(1e6);
    expect(metric(before, 'weir_forwarder_thread_heap_bytes', 'kind="total"')).toBeGreaterThanOrEqual(threadUsed);

    await broker.stop();
    const ackedAtStop = publisher.ackedCount;
    // The gateway notices (the next send fails) and reports it, while staying ready.
    await waitFor(async () => (await getJson(setup.httpPort, '/readyz')).uplink === 'down', 20_000, 'uplink down on /readyz').catch(async (err: Error) => {
      // What the forwarder last said, for a failure that does not repeat locally.
      throw new Error(`${err.message}; /api/status uplink: ${JSON.stringify((await getJson(setup.httpPort, '/api/status')).uplink)}`);
    });
    const ready = await getJson(setup.httpPort, '/readyz');
    expect(ready.status).toBe('ready');
    await sleep(30_000);
    const during = await getText(setup.httpPort, '/metrics');
    expect(metric(during, 'weir_uplink_up')).toBe(0);
    expect(metric(during, 'weir_backlog_records', 'stream="readings"')).toBeGreaterThan(1000);
    expect(metric(during, 'weir_oldest_unsent_age_seconds')).toBeGreaterThan(20);
    expect(metric(during, 'weir_kafka_errors_total', 'kind="send"')! + (metric(during, 'weir_kafka_errors_total', 'kind="connect"') ?? 0)).toBeGreaterThan(0);
    // Devices were acknowledged all along: the journal took their readings.
    expect(publisher.ackedCount - ackedAtStop).toBeGreaterThan(3 * 100 * 20);

    await broker.start();
    await sleep(3000);
    await publisher.stop();
    await waitFor(async () => (await getJson(setup.httpPort, '/readyz')).uplink === 'up', 60_000, 'uplink up again');
    await waitFor(async () => metric(await getText(setup.httpPort, '/metrics'), 'weir_oldest_unsent_age_seconds') === 0, 60_000, 'backlog drained');

    const records = await consumeAll(broker.brokers, setup.topics.readings, { count: publisher.ackedCount, timeoutMs: 60_000 });
    checkDelivery(records, publisher.acked);
  });
});
