// The bridge's config section, its MQTT.js options and its topic matching (no broker needed).
import { Writable } from 'node:stream';
import { generate } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bridgeClientId, bridgeConfigSchema, topicFilterProblem, type BridgeConfigInput } from '../../src/config/bridge-schema.js';
import { createLogger } from '../../src/core/logger.js';
import { clientOptions, profileTopic, subscriptionMap, topicMatches } from '../../src/sources/mqtt-bridge-options.js';

const enabled = (over: BridgeConfigInput = {}): BridgeConfigInput =>
  ({ enabled: true, url: 'mqtt://broker.site:1883', subscriptions: [{ filter: 'site/+/temp' }], ...over });

/** "path: message" of each problem, or [] when the input is valid. */
function problems(input: unknown): string[] {
  const r = bridgeConfigSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('bridge config schema', () => {
  it('is complete and off with no input', () => {
    expect(bridgeConfigSchema.parse({})).toEqual({
      enabled: false, url: '', protocolVersion: 5, clientId: '', username: '', password: '', subscriptions: [],
      sessionExpirySeconds: 7 * 24 * 3600, keepaliveSeconds: 30, connectTimeoutMs: 10000,
      reconnectMinMs: 500, reconnectMaxMs: 30000, maxPayloadBytes: 65536,
    });
  });

  it('fills subscription defaults: QoS 1, no prefix', () => {
    const c = bridgeConfigSchema.parse(enabled({ subscriptions: [{ filter: 'a/#' }, { filter: 'b', qos: 0, topicPrefix: 'site-a/' }] }));
    expect(c.subscriptions).toEqual([{ filter: 'a/#', qos: 1 }, { filter: 'b', qos: 0, topicPrefix: 'site-a/' }]);
  });

  it('needs a url and a subscription only when enabled', () => {
    expect(problems({ enabled: true })).toEqual([
      'url: is required when the bridge is enabled',
      'subscriptions: needs at least one subscription when the bridge is enabled',
    ]);
    expect(problems({ enabled: false })).toEqual([]);
  });

  it.each([
    ['mqtt://broker.site', true],
    ['mqtts://broker.site:8883', true],
    ['mqtt://10.0.0.5:1884', true],
    ['http://broker.site', false],
    ['broker.site:1883', false],
    ['mqtt://weir:secret@broker.site', false],
    ['mqtt://broker.site:1883/topic', false],
  ])('url %s valid: %s', (url, ok) => {
    expect(problems(enabled({ url })).length === 0).toBe(ok);
  });

  it('refuses credentials in the url, pointing at username/password', () => {
    expect(problems(enabled({ url: 'mqtt://weir:secret@broker.site' }))[0]).toMatch(/^url: .*bridge\.username and bridge\.password/);
  });

  it.each([
    ['site/+/temp', undefined],
    ['#', undefined],
    ['sensors/#', undefined],
    ['/leading/slash', undefined],
    ['$share/weir/site/+/temp', undefined],
    ['', 'must not be empty'],
    ['a/#/b', '"#" must be a whole level, and the last one'],
    ['a/b#', '"#" must be a whole level, and the last one'],
    ['a+/b', '"+" must be a whole level'],
    ['$share//x', 'a shared subscription is $share/<group>/<filter>'],
    ['$share/g', 'a shared subscription is $share/<group>/<filter>'],
    ['a\u0000b', 'must not contain NUL'],
  ])('topic filter %j: %s', (filter, problem) => {
    expect(topicFilterProblem(filter)).toBe(problem);
    expect(problems(enabled({ subscriptions: [{ filter }] })).length === 0).toBe(problem === undefined);
  });

  it('refuses a wildcard in topicPrefix, QoS 3, protocol version 3, min delay above max', () => {
    expect(problems(enabled({ subscriptions: [{ filter: 'a', topicPrefix: 'x/+/' }] }))).toEqual(['subscriptions.0.topicPrefix: must not contain "+", "#" or NUL']);
    expect(problems(enabled({ subscriptions: [{ filter: 'a', qos: 3 as 1 }] }))).toHaveLength(1);
    expect(problems(enabled({ protocolVersion: 3 as 4 }))).toHaveLength(1);
    expect(problems(enabled({ reconnectMinMs: 5000, reconnectMaxMs: 1000 }))).toEqual(['reconnectMinMs: must not exceed reconnectMaxMs (1000)']);
  });

  it('documents every key (weir check --schema)', () => {
    const schema = z.toJSONSchema(bridgeConfigSchema, { io: 'input' }) as { properties: Record<string, { description?: string }> };
    for (const [key, prop] of Object.entries(schema.properties)) expect(prop.description, key).toBeTruthy();
  });

  it('derives a stable client id from the gateway id unless one is configured', () => {
    expect(bridgeClientId({ clientId: '' }, 'gw-1')).toBe('weir-gw-1');
    expect(bridgeClientId({ clientId: 'site-a-weir' }, 'gw-1')).toBe('site-a-weir');
  });

  it('keeps the password out of the logs when the config is logged', () => {
    const lines: string[] = [];
    const log = createLogger('info', new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }));
    const bridge = bridgeConfigSchema.parse(enabled({ username: 'weir', password: 'hunter2-secret' }));
    log.info({ bridge }, 'config');
    log.info({ config: { bridge } }, 'config');
    expect(lines.join('')).not.toContain('hunter2-secret');
    expect(lines.join('')).toContain('[redacted]');
  });
});

describe('bridge MQTT.js options', () => {
  it('MQTT 5: persistent session with expiry, no MQTT.js reconnect or resubscribe', () => {
    const o = clientOptions(bridgeConfigSchema.parse(enabled({ sessionExpirySeconds: 3600 })), 'weir-gw-1');
    expect(o).toMatchObject({
      clientId: 'weir-gw-1', protocolVersion: 5, clean: false, reconnectPeriod: 0, resubscribe: false,
      properties: { sessionExpiryInterval: 3600, maximumPacketSize: 4 * 65536 + 65536 },
    });
    expect(o.username).toBeUndefined();
    expect(o.password).toBeUndefined();
  });

  it('MQTT 5: a payload limit the schema takes gives a CONNECT that can be sent (Maximum Packet Size within MQTT\'s largest packet)', () => {
    // 4x the payload plus 64 KiB passes the four-byte integer for a limit of 1 GiB or more
    // (MQTT 5 §2.2.2.2): mqtt-packet refused the CONNECT and the bridge never connected.
    const o = clientOptions(bridgeConfigSchema.parse(enabled({ maxPayloadBytes: 2 ** 31 - 1 })), 'weir-gw-1');
    // The largest MQTT packet: 1 byte of header, 4 of Remaining Length, 268,435,455 after (MQTT 5 §2.1.4, 3.1.1 §2.2.3).
    expect(o.properties?.maximumPacketSize).toBe(268_435_460);
    expect(() => generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: false, clientId: 'weir-gw-1', keepalive: 30, properties: o.properties })).not.toThrow();
  });

  it('MQTT 3.1.1: clean session off, no MQTT 5 properties; credentials when set', () => {
    const o = clientOptions(bridgeConfigSchema.parse(enabled({ protocolVersion: 4, username: 'u', password: 'p' })), 'x');
    expect(o).toMatchObject({ protocolVersion: 4, clean: false, username: 'u', password: 'p' });
    expect(o.properties).toBeUndefined();
  });

  it('subscribes each filter at its QoS; MQTT 5 asks for retained messages only on a new subscription', () => {
    const subs = [{ filter: 'a/+', qos: 1 as const }, { filter: 'b/#', qos: 2 as const }];
    expect(subscriptionMap(bridgeConfigSchema.parse(enabled({ subscriptions: subs })))).toEqual({ 'a/+': { qos: 1, rh: 1 }, 'b/#': { qos: 2, rh: 1 } });
    expect(subscriptionMap(bridgeConfigSchema.parse(enabled({ protocolVersion: 4, subscriptions: subs })))).toEqual({ 'a/+': { qos: 1 }, 'b/#': { qos: 2 } });
  });
});

describe('bridge topic matching', () => {
  it.each([
    ['site/+/temp', 'site/a/temp', true],
    ['site/+/temp', 'site/a/b/temp', false],
    ['site/+/temp', 'site//temp', true],
    ['sensors/#', 'sensors', true],
    ['sensors/#', 'sensors/a/b', true],
    ['sensors/#', 'other/a', false],
    ['#', 'anything/at/all', true],
    ['#', '$SYS/broker/uptime', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/broker', true],
    ['iot-data-input', 'iot-data-input', true],
    ['iot-data-input', '/iot-data-input', false],
    ['$share/weir/site/+', 'site/a', true],
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  it('prepends the topicPrefix of the first matching subscription', () => {
    const subs = [{ filter: 'raw/+/temperature', qos: 1 as const, topicPrefix: 'site-a/' }, { filter: 'raw/#', qos: 1 as const }];
    expect(profileTopic(subs, 'raw/t1/temperature')).toBe('site-a/raw/t1/temperature');
    expect(profileTopic(subs, 'raw/t1/humidity')).toBe('raw/t1/humidity');
    expect(profileTopic(subs, 'elsewhere')).toBe('elsewhere');
  });
});
