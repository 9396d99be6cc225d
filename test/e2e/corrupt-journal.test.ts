// A deliberately corrupted journal file: the gateway starts anyway, moves the file
// aside, keeps what could be read, and serves — devices are acknowledged, Kafka gets
// their readings.
import { closeSync, mkdirSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { cpuReading, getJson, startInProcess, testSetup } from '../support/gateway.js';
import { consumeAll } from '../support/kcat.js';

describe('corrupt journal at start', () => {
  const brokers = inject('kafkaBrokers');
  let gw: Gateway | undefined;
  afterAll(async () => {
    await gw?.stop();
  });

  it('quarantines it and serves', async () => {
    const setup = await testSetup(brokers);
    const dataDir = setup.config.dataDir!;
    mkdirSync(dataDir, { recursive: true });
    const fd = openSync(join(dataDir, 'journal.sqlite'), 'w');
    writeSync(fd, Buffer.alloc(64 * 1024, 0x5a)); // 64 KiB that are no SQLite database
    closeSync(fd);
    gw = await startInProcess(setup);
    expect((await getJson(setup.httpPort, '/readyz')).status).toBe('ready');
    expect(readdirSync(dataDir).filter((f) => f.startsWith('journal.corrupt-'))).toHaveLength(1);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${setup.mqttPort}`, { clientId: 'after-corruption' });
    await client.publishAsync('iot-data-input', cpuReading('phoenix', 1), { qos: 1 });
    await client.endAsync();
    const records = await consumeAll(brokers, setup.topics.readings, { count: 1, timeoutMs: 30_000 });
    expect(JSON.parse(records[0]!.value)).toMatchObject({ device: 'phoenix', profile: 'cpu-monitor' });
  });
});
