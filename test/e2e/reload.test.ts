// SIGHUP on a running `weir run`: a new device profile and a changed rule (the site
// config's analytics override) take effect without dropping a device connection; an
// invalid profile is refused with a clear log line and the running set stays.
import { writeFileSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { GatewayProcess, getJson, testSetup, waitFor } from '../support/gateway.js';
import { consumeAll } from '../support/kcat.js';

const profile = (name: string, topic: string) => `name: ${name}
match: [{ protocol: mqtt, topic: '${topic}/{device}' }]
device: { segment: device }
metrics: { v: { field: v } }
samples: [{ topic: ${topic}/d1, payload: '{"v": 1}', expect: [{ device: d1, metrics: { v: 1 } }] }]
`;

describe('SIGHUP reload', () => {
  const brokers = inject('kafkaBrokers');
  let gw: GatewayProcess | undefined;
  afterAll(async () => {
    await gw?.stop('SIGKILL');
  });

  it('applies a valid profile and rule change without dropping connections, and refuses an invalid one', async () => {
    const setup = await testSetup(brokers);
    const dir = join(setup.dir, 'profiles');
    mkdirSync(dir);
    writeFileSync(join(dir, 'probe-a.yaml'), profile('probe-a', 'a'));
    setup.config.profiles = { bundled: false, dirs: [dir] };
    gw = new GatewayProcess(setup);
    await gw.start();
    const status = async () => (await getJson(setup.httpPort, '/api/status')) as { profiles: string[] };
    expect((await status()).profiles).toEqual(['probe-a']);

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${setup.mqttPort}`, { clientId: 'reload-dev', reconnectPeriod: 0 });
    let closes = 0;
    client.on('close', () => closes++);
    await client.publishAsync('a/d1', '{"v": 5}', { qos: 1 });

    // Valid: a second profile, and a rule for probe-a through the site config.
    writeFileSync(join(dir, 'probe-b.yaml'), profile('probe-b', 'b'));
    writeFileSync(gw.configFile, stringify({ ...setup.config, analytics: { profiles: { 'probe-a': { rules: [{ name: 'v-high', kind: 'threshold', metric: 'v', above: 10 }] } } } }));
    gw.signal('SIGHUP');
    await waitFor(async () => ((await status()).profiles.length === 2 ? true : null), 10_000, 'reloaded profiles');
    expect((await status()).profiles).toEqual(['probe-a', 'probe-b']);
    await client.publishAsync('b/d2', '{"v": 7}', { qos: 1 });
    await client.publishAsync('a/d1', '{"v": 50}', { qos: 1 });
    const alerts = await consumeAll(brokers, setup.topics.alerts, { count: 1, timeoutMs: 30_000 });
    expect(JSON.parse(alerts[0]!.value)).toMatchObject({ device: 'd1', profile: 'probe-a', rule: 'v-high', state: 'firing', value: 50 });

    // Invalid: a profile whose golden sample does not decode as it says. Refused; the set stays.
    writeFileSync(join(dir, 'probe-c.yaml'), profile('probe-c', 'c').replace('metrics: { v: 1 }', 'metrics: { v: 2 }'));
    gw.signal('SIGHUP');
    await waitFor(() => (gw!.output.includes('reload refused') ? true : null), 10_000, 'a reload refused log line');
    expect(gw.output).toMatch(/probe-c\.yaml.*samples\.0\.expect/);
    expect((await status()).profiles).toEqual(['probe-a', 'probe-b']);
    await client.publishAsync('b/d2', '{"v": 8}', { qos: 1 });
    unlinkSync(join(dir, 'probe-c.yaml'));

    const readings = await consumeAll(brokers, setup.topics.readings, { count: 4, timeoutMs: 30_000 });
    expect(readings.map((r) => JSON.parse(r.value)).map((v) => `${v.profile}/${v.device}=${v.metrics.v}`).sort())
      .toEqual(['probe-a/d1=5', 'probe-a/d1=50', 'probe-b/d2=7', 'probe-b/d2=8']);
    expect(closes).toBe(0);
    expect(client.connected).toBe(true);
    await client.endAsync();
    expect(await gw.stop('SIGTERM')).toBe(0);
  });
});
