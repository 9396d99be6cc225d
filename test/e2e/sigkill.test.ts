// The gateway process is killed with SIGKILL under load, five times, and restarted
// each time: every reading it PUBACKed is on Kafka, in each device's order, and any
// copy of a reading repeats its weir-seq.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { checkDelivery } from '../support/delivery.js';
import { GatewayProcess, sleep, testSetup, waitDrained, waitFor } from '../support/gateway.js';
import { consumeAll } from '../support/kcat.js';
import { SteadyPublisher } from '../support/publisher.js';

describe('crash safety', () => {
  const brokers = inject('kafkaBrokers');
  let gw: GatewayProcess | undefined;
  afterAll(async () => {
    await gw?.stop('SIGKILL');
  });

  it('loses nothing acknowledged across 5 SIGKILLs under load', async () => {
    const setup = await testSetup(brokers);
    gw = new GatewayProcess(setup);
    await gw.start();
    const devices = ['k1', 'k2', 'k3', 'k4'];
    const publisher = new SteadyPublisher(setup.mqttPort, devices, 300);
    await publisher.start();
    for (let round = 0; round < 5; round++) {
      // Kill at an uneven moment of the load, mid-commit as likely as not.
      await sleep(1500 + Math.floor(Math.random() * 1500));
      const ackedBefore = publisher.ackedCount;
      expect(await gw.stop('SIGKILL')).toBeNull();
      await sleep(300);
      await gw.start();
      // The devices reconnect and carry on against the new process.
      await waitFor(() => publisher.ackedCount > ackedBefore + 100, 30_000, `acks after restart ${round + 1}`);
    }
    await sleep(1000);
    await publisher.stop();
    await waitDrained(setup.httpPort);
    expect(publisher.ackedCount).toBeGreaterThan(4 * 300 * 5);

    const records = await consumeAll(brokers, setup.topics.readings, { count: publisher.ackedCount, timeoutMs: 60_000 });
    const duplicates = checkDelivery(records, publisher.acked);
    // Redelivered copies are allowed (same weir-seq), but not a flood.
    expect(duplicates).toBeLessThan(records.length / 2);
    expect(await gw.stop('SIGTERM')).toBe(0);
  });
});
