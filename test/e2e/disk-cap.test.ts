// The journal's disk cap with fullPolicy evict, end to end: a gateway with no reachable
// Kafka takes readings past journal.maxBytes, evicting the oldest; restarted with the
// real broker it drains. On Kafka, every reading acknowledged to its device is either
// there or counted in a gap record on weir.status (per device, exactly), the readings
// that remain are the newest, and the alerts all arrived.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { cpuReading, freePort, GatewayProcess, getJson, testSetup, waitDrained } from '../support/gateway.js';
import { consumeAll, dedupBySeq, distinctSeqs } from '../support/kcat.js';

describe('journal disk cap (evict)', () => {
  const brokers = inject('kafkaBrokers');
  let gw: GatewayProcess | undefined;
  afterAll(async () => {
    await gw?.stop('SIGKILL');
  });

  it('stays within the cap during an outage, evicts the oldest readings, and accounts for every one on Kafka', async () => {
    const cap = 1536 * 1024;
    const setup = await testSetup(brokers, { journal: { maxBytes: cap, minFreeBytes: 0 } });
    const real = setup.config.kafka!.brokers!;
    setup.config.kafka = { ...setup.config.kafka, brokers: [`127.0.0.1:${await freePort()}`] }; // nobody listens: an outage
    gw = new GatewayProcess(setup);
    await gw.start();
    const devices = ['e1', 'e2', 'e3'];
    const total = 24_000;
    let maxUsed = 0;
    for (let i = 0; i < total; i += 300) {
      const batch = Array.from({ length: 300 }, (_, k) => cpuReading(devices[(i + k) % 3]!, i + k));
      const res = await fetch(`http://127.0.0.1:${setup.httpPort}/ingest/iot-data-input`, { method: 'POST', body: `[${batch.join(',')}]` });
      expect(res.status).toBe(200);
      if (i % 3000 === 0) maxUsed = Math.max(maxUsed, ((await getJson(setup.httpPort, '/api/status')).disk as { usedBytes: number }).usedBytes);
    }
    const before = (await getJson(setup.httpPort, '/api/status')).disk as { usedBytes: number; evicted: { readings: number }; gaps: number };
    maxUsed = Math.max(maxUsed, before.usedBytes);
    expect(before.evicted.readings, JSON.stringify(before)).toBeGreaterThan(5000);
    expect(maxUsed).toBeLessThanOrEqual(cap * 1.05);
    expect(await gw.stop('SIGTERM')).toBe(0);

    // The uplink returns.
    writeFileSync(gw.configFile, stringify({ ...setup.config, kafka: { ...setup.config.kafka, brokers: real } }));
    await gw.start();
    await waitDrained(setup.httpPort);
    const kept = total - before.evicted.readings;
    const readings = await consumeAll(brokers, setup.topics.readings, { until: distinctSeqs(kept), timeoutMs: 60_000 });
    const ids = [...new Set(readings.map((r) => JSON.parse(r.value).ts - 1_700_000_000_000 as number))].sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: kept }, (_, k) => total - kept + k)); // the newest, every one
    const status = await consumeAll(brokers, setup.topics.status, { until: (rs) => rs.filter((r) => r.value.includes('"gap"')).length >= before.gaps, timeoutMs: 30_000 });
    const gaps = dedupBySeq(status).map((r) => JSON.parse(r.value)).filter((v) => v.event === 'gap');
    expect(gaps.every((g) => g.stream === 'readings')).toBe(true);
    const announced: Record<string, number> = {};
    for (const g of gaps) for (const [d, c] of Object.entries(g.devices as Record<string, number>)) announced[d] = (announced[d] ?? 0) + c;
    const lost: Record<string, number> = {};
    for (let i = 0; i < total - kept; i++) lost[devices[i % 3]!] = (lost[devices[i % 3]!] ?? 0) + 1;
    expect(announced).toEqual(lost);
    // usage = (i * 7) % 100 crosses 90 over and over: the alerts are all kept and delivered.
    const alerts = await consumeAll(brokers, setup.topics.alerts, { until: (rs) => rs.length > 0, timeoutMs: 30_000 });
    expect(alerts.length).toBeGreaterThan(100);
    expect(await gw.stop('SIGTERM')).toBe(0);
  }, 180_000);
});
