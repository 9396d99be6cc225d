// Two operations promises under load, with real MQTT.js devices (persistent sessions,
// QoS 1) and the real broker:
// - SIGTERM while devices publish: exit 0 well within the unit's TimeoutStopSec (30 s),
//   and every reading the gateway acknowledged reaches Kafka, in order, after a restart;
// - journal.fullPolicy refuse at the cap during an outage: devices get no PUBACK and keep
//   retrying; when the uplink returns and the backlog drains they are acknowledged, and
//   nothing acknowledged is lost.
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { checkDelivery } from '../support/delivery.js';
import { freePort, GatewayProcess, getJson, sleep, testSetup, waitDrained, waitFor } from '../support/gateway.js';
import { consumeAll, distinctSeqs } from '../support/kcat.js';
import { SteadyPublisher } from '../support/publisher.js';

describe('stop and refuse under load', () => {
  const brokers = inject('kafkaBrokers');
  const procs: GatewayProcess[] = [];
  afterAll(async () => {
    for (const p of procs) await p.stop('SIGKILL');
  });

  it('SIGTERM under load: exit 0 in time, nothing acknowledged lost', async () => {
    const setup = await testSetup(brokers);
    const gw = new GatewayProcess(setup);
    procs.push(gw);
    await gw.start();
    const publisher = new SteadyPublisher(setup.mqttPort, ['t1', 't2', 't3', 't4'], 400);
    await publisher.start();
    await sleep(2500);
    const started = Date.now();
    expect(await gw.stop('SIGTERM')).toBe(0);
    const stopMs = Date.now() - started;
    expect(stopMs).toBeLessThan(30_000);
    expect(publisher.ackedCount).toBeGreaterThan(1000);
    await gw.start();
    await sleep(1000);
    await publisher.stop();
    await waitDrained(setup.httpPort);
    const records = await consumeAll(brokers, setup.topics.readings, { until: distinctSeqs(publisher.ackedCount), timeoutMs: 60_000 });
    checkDelivery(records, publisher.acked);
    expect(await gw.stop('SIGTERM')).toBe(0);
  }, 120_000);

  it('refuse at the cap: devices are not acknowledged and retry; once the backlog drains they are, and nothing acknowledged is lost', async () => {
    const setup = await testSetup(brokers, { journal: { maxBytes: 512 * 1024, minFreeBytes: 0, fullPolicy: 'refuse' } });
    const real = setup.config.kafka!.brokers!;
    setup.config.kafka = { ...setup.config.kafka, brokers: [`127.0.0.1:${await freePort()}`] }; // an outage
    const gw = new GatewayProcess(setup);
    procs.push(gw);
    await gw.start();
    const publisher = new SteadyPublisher(setup.mqttPort, ['r1', 'r2'], 500);
    await publisher.start();
    await waitFor(async () => ((await getJson(setup.httpPort, '/api/status')).disk as { refusing: boolean }).refusing || null, 60_000, 'journal full');
    const ackedAtFull = publisher.ackedCount;
    await sleep(1500);
    // Refusing: hardly anything more is acknowledged (a few commits may have been in flight).
    expect(publisher.ackedCount - ackedAtFull).toBeLessThan(200);
    expect(publisher.sent).toBeGreaterThan(publisher.ackedCount);
    expect(await gw.stop('SIGTERM')).toBe(0);

    writeFileSync(gw.configFile, stringify({ ...setup.config, kafka: { ...setup.config.kafka, brokers: real } }));
    await gw.start();
    const before = publisher.ackedCount;
    await waitFor(() => (publisher.ackedCount > before + 1000 ? true : null), 60_000, 'acknowledged again after the drain');
    await publisher.stop();
    await waitDrained(setup.httpPort);
    const records = await consumeAll(brokers, setup.topics.readings, { until: distinctSeqs(publisher.ackedCount), timeoutMs: 60_000 });
    checkDelivery(records, publisher.acked);
    expect(await gw.stop('SIGTERM')).toBe(0);
  }, 180_000);

  it('a SIGHUP during the stop is ignored, not fatal: the stop completes with exit 0', async () => {
    const setup = await testSetup(brokers);
    const gw = new GatewayProcess(setup);
    procs.push(gw);
    await gw.start();
    // A request held open (half its body sent) keeps the stop in its last phase for the HTTP grace (1 s).
    const held = request({ host: '127.0.0.1', port: setup.httpPort, path: '/ingest/iot-data-input', method: 'POST', headers: { 'content-length': 100 } });
    held.on('error', () => undefined);
    held.write('{"hostname":');
    await sleep(200);
    const exited = gw.stop('SIGTERM');
    // /readyz turns not ready as soon as the stop begins (its last phase waits on the held request).
    await waitFor(async () => ((await getJson(setup.httpPort, '/readyz').catch(() => null))?.status === 'ready' ? null : true), 10_000, 'stop begun');
    gw.signal('SIGHUP'); // without a listener its default action would kill the process here
    expect(await exited).toBe(0);
    held.destroy();
  }, 60_000);
});
