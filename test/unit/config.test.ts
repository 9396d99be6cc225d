import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigInvalid, formatProblem, loadConfig, resolveConfigPath, type ConfigProblem } from '../../src/config/load.js';
import { isWeirError } from '../../src/core/errors.js';
import { cleanupTempDirs, tempDir } from './support.js';

afterEach(cleanupTempDirs);

function writeConfig(text: string): string {
  const file = join(tempDir(), 'weir.yaml');
  writeFileSync(file, text);
  return file;
}

/** The problems loadConfig reports, or fails the test when it does not throw ConfigInvalid. */
function problemsOf(file: string | undefined, env: NodeJS.ProcessEnv = {}): ConfigProblem[] {
  try {
    loadConfig(file, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigInvalid);
    expect(isWeirError(err, 'WEIR_CONFIG_INVALID')).toBe(true);
    return (err as ConfigInvalid).problems;
  }
  throw new Error('expected loadConfig to report problems');
}

describe('loadConfig defaults', () => {
  it('with no file and no environment gives the contract defaults', () => {
    const { config, file, overrides } = loadConfig(undefined, {});
    expect(file).toBeUndefined();
    expect(overrides).toEqual([]);
    expect(config.mqtt.port).toBe(1883);
    expect(config.coap.port).toBe(5683);
    expect(config.http.port).toBe(8080);
    expect(config.dataDir).toBe('./weir-data');
    expect(config.profiles.bundled).toBe(true);
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(config.kafka.topics).toEqual({
      readings: 'weir.readings', aggregates: 'weir.aggregates', alerts: 'weir.alerts', deadletter: 'weir.deadletter', status: 'weir.status',
    });
    expect(config.gateway.id).toMatch(/^[a-zA-Z0-9._-]{1,64}$/);
    expect(config.journal.synchronous).toBe('FULL');
  });

  it("accepts the contract's example config as written", () => {
    // Verbatim from PRODUCT.md, "Config file (YAML); these keys must work as written".
    const file = writeConfig(`gateway: { id: gw-1 }
dataDir: ./weir-data
mqtt: { port: 1883 }
coap: { port: 5683 }
http: { port: 8080 }
kafka: { brokers: ["127.0.0.1:9092"] }
`);
    const { config } = loadConfig(file, {});
    expect(config.gateway.id).toBe('gw-1');
    expect(config.dataDir).toBe('./weir-data');
    expect([config.mqtt.port, config.coap.port, config.http.port]).toEqual([1883, 5683, 8080]);
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
  });

  it('takes values from the file over the defaults, and an empty file is a complete config', () => {
    const { config } = loadConfig(writeConfig('mqtt: { port: 2883 }\njournal: { commitIntervalMs: 10 }\n'), {});
    expect(config.mqtt.port).toBe(2883);
    expect(config.mqtt.host).toBe('0.0.0.0');
    expect(config.journal.commitIntervalMs).toBe(10);
    expect(loadConfig(writeConfig(''), {}).config.http.port).toBe(8080);
  });
});

describe('environment overrides', () => {
  it('override defaults and the file: lists, numbers, nested keys', () => {
    const file = writeConfig('mqtt: { port: 1883 }\nkafka: { brokers: ["x:1"] }\n');
    const { config, overrides } = loadConfig(file, {
      WEIR_KAFKA_BROKERS: 'a:1, b:2',
      WEIR_MQTT_PORT: '1999',
      WEIR_JOURNAL_COMMIT_INTERVAL_MS: '7',
      WEIR_DATA_DIR: '/var/lib/weir',
      WEIR_PROFILES_BUNDLED: 'false',
      UNRELATED: 'x',
    });
    expect(config.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(config.mqtt.port).toBe(1999);
    expect(config.journal.commitIntervalMs).toBe(7);
    expect(config.dataDir).toBe('/var/lib/weir');
    expect(config.profiles.bundled).toBe(false);
    expect(overrides.map((o) => o.variable).sort()).toEqual(
      ['WEIR_DATA_DIR', 'WEIR_JOURNAL_COMMIT_INTERVAL_MS', 'WEIR_KAFKA_BROKERS', 'WEIR_MQTT_PORT', 'WEIR_PROFILES_BUNDLED']);
  });

  it('takes a JSON array for a list, the only form a list of objects has (bridge subscriptions, serial ports)', () => {
    const { config } = loadConfig(undefined, {
      WEIR_BRIDGE_SUBSCRIPTIONS: '[{"filter":"site/+/temp","qos":2},{"filter":"meters/#","topicPrefix":"m/"}]',
      WEIR_SERIAL_PORTS: '[{"name":"meter","path":"/dev/ttyUSB0"}]',
      WEIR_KAFKA_BROKERS: ' ["a:1", "b:2"]',
    });
    expect(config.bridge.subscriptions).toEqual([{ filter: 'site/+/temp', qos: 2 }, { filter: 'meters/#', qos: 1, topicPrefix: 'm/' }]);
    expect(config.serial.ports.map((p) => [p.name, p.path])).toEqual([['meter', '/dev/ttyUSB0']]);
    expect(config.kafka.brokers).toEqual(['a:1', 'b:2']);
    // Not JSON after all: the schema names the variable.
    const problems = problemsOf(undefined, { WEIR_BRIDGE_SUBSCRIPTIONS: '[{"filter": site/#}]' });
    expect(problems.map((p) => p.file)).toEqual(['$WEIR_BRIDGE_SUBSCRIPTIONS']);
  });

  it('names WEIR_ variables that set nothing — a misspelt override would otherwise leave its default in force', () => {
    const { config, stray } = loadConfig(undefined, {
      WEIR_KAFKA_BROKER: 'central:9092', // one letter short of WEIR_KAFKA_BROKERS
      WEIR_MQTT_PROT: '1999', // two letters swapped
      WEIR_JOURNAL_NO_SUCH_KEY: '1', // a section's prefix, nothing close
      WEIR_KAFKA_BROKERS_: 'x', // one edit from the real one
      WEIR_CONFIG: '/etc/weir/weir.yaml', // read by resolveConfigPath, not a config key
      WEIR_BENCH_DIR: '/tmp', // another tool's: no section, nothing close
      WEIR_DATA_DIR: '/var/lib/weir', // a real override
    });
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']); // what the typo leaves in force
    expect(stray).toEqual([
      { variable: 'WEIR_JOURNAL_NO_SUCH_KEY' },
      { variable: 'WEIR_KAFKA_BROKER', suggestion: 'WEIR_KAFKA_BROKERS' },
      { variable: 'WEIR_KAFKA_BROKERS_', suggestion: 'WEIR_KAFKA_BROKERS' },
      { variable: 'WEIR_MQTT_PROT', suggestion: 'WEIR_MQTT_PORT' },
    ]);
    expect(loadConfig(undefined, { WEIR_DATA_DIR: '/x', WEIR_CONFIG: 'y' }).stray).toEqual([]);
  });

  it.each([
    ['kafka: { acks: bogus }', 'WEIR_KAFKA_CLIENT_ID', 'x', 'kafka.acks'],
    ['kafka: 5', 'WEIR_KAFKA_CLIENT_ID', 'x', 'kafka'],
    ['kafka:', 'WEIR_KAFKA_BROKERS', 'k:9092', 'kafka'],
    ['kafka: [1]', 'WEIR_KAFKA_CLIENT_ID', 'x', 'kafka'],
    ['kafka: { topics: 7 }', 'WEIR_KAFKA_TOPICS_READINGS', 'r', 'kafka.topics'],
    ['kafka: { partitions: "six" }', 'WEIR_KAFKA_PARTITIONS', '3', 'kafka.partitions'],
    ['serial: { ports: [{ name: a, path: /dev/ttyS0, baudRate: fast }] }', 'WEIR_SERIAL_PORTS', '[{"name":"b","path":"/dev/ttyS1"}]', 'serial.ports.0.baudRate'],
  ])('leave the problem of `%s` reported in the file though %s overrides its block', (text, variable, value, path) => {
    const file = writeConfig(`mqtt: { port: 1883 }\n${text}\n`);
    const problems = problemsOf(file, { [variable]: value });
    expect(problems.map((p) => [p.file, p.path, p.line])).toEqual([[file, path, 2]]);
  });

  it('blame a problem that a variable brings into a valid file on the variable', () => {
    const file = writeConfig('kafka: { compression: lz4 }\nhttp: { maxBodyBytes: 1000, maxBufferedBytes: 2000 }\n');
    expect(loadConfig(file, {}).config.kafka.compression).toBe('lz4');
    const problems = problemsOf(file, { WEIR_KAFKA_CLIENT: 'kafkajs', WEIR_HTTP_MAX_BODY_BYTES: '4000', WEIR_MQTT_PORT: '1999' });
    expect(problems.map((p) => [p.file, p.path, p.line])).toEqual(expect.arrayContaining([
      ['$WEIR_KAFKA_CLIENT', 'kafka.compression', undefined],
      ['$WEIR_HTTP_MAX_BODY_BYTES', 'http.maxBufferedBytes', undefined],
    ]));
    expect(problems).toHaveLength(2);
  });

  it.each([
    ['WEIR_MQTT_PORT', 'abc', 'mqtt.port'],
    ['WEIR_MQTT_PORT', '70000', 'mqtt.port'],
    ['WEIR_JOURNAL_COMMIT_INTERVAL_MS', '5000', 'journal.commitIntervalMs'],
    ['WEIR_MQTT_ENABLED', 'maybe', 'mqtt.enabled'],
    ['WEIR_KAFKA_BROKERS', 'no-port-here', 'kafka.brokers'],
  ])('reports an invalid %s=%s naming the variable', (variable, value, path) => {
    for (const file of [undefined, writeConfig('mqtt: { port: 1883 }\nkafka: { brokers: ["k:9092"] }\n')]) {
      const problems = problemsOf(file, { [variable]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]!.file).toBe(`$${variable}`);
      expect(problems[0]!.path.startsWith(path)).toBe(true);
      expect(problems[0]!.line).toBeUndefined(); // not a place in the file
      expect(formatProblem(problems[0]!)).toContain(variable);
    }
  });
});

describe('host:port and host keys', () => {
  it('take an IPv6 broker in brackets (RFC 3986 §3.2.2), from the file and from $WEIR_KAFKA_BROKERS', () => {
    const file = writeConfig('kafka: { brokers: ["[::1]:9092", "kafka-1:9092", "10.0.0.7:9093"] }\n');
    expect(loadConfig(file, {}).config.kafka.brokers).toEqual(['[::1]:9092', 'kafka-1:9092', '10.0.0.7:9093']);
    expect(loadConfig(undefined, { WEIR_KAFKA_BROKERS: '[fd00::7]:9092,[::1]:9093' }).config.kafka.brokers).toEqual(['[fd00::7]:9092', '[::1]:9093']);
  });

  it.each([
    ['::1:9092', /IPv6 address in brackets, e\.g\. \[::1\]:9092/],
    ['[::1]', /host:port/],
    ['[nope]:9092', /\[nope\] is not an IPv6 address/],
    ['[::1]:99999', /1–65535/],
    ['kafka:0', /1–65535/],
    ['kafka 1:9092', /host:port/],
  ])('refuse the broker %s with a clear message', (broker, message) => {
    const problems = problemsOf(writeConfig(`kafka: { brokers: ["${broker}"] }\n`));
    expect(problems.map((p) => p.path)).toEqual(['kafka.brokers.0']);
    expect(problems[0]!.message).toMatch(message);
    expect(problemsOf(undefined, { WEIR_KAFKA_BROKERS: broker })[0]!.file).toBe('$WEIR_KAFKA_BROKERS');
  });

  it('take a bind address as the socket API does: an IPv6 one without brackets', () => {
    expect(loadConfig(writeConfig('http: { host: "::1" }\nmqtt: { host: "::" }\ncoap: { host: "::" }\n'), {}).config.http.host).toBe('::1');
    // listen('[::1]') fails only at start (ENOTFOUND): `weir check` says so first.
    const problems = problemsOf(writeConfig('http: { host: "[::1]" }\nmqtt: { host: "[::]" }\ncoap: { host: "[::]" }\n'));
    expect(problems.map((p) => p.path).sort()).toEqual(['coap.host', 'http.host', 'mqtt.host']);
    expect(problems[0]!.message).toMatch(/without brackets/);
    // URLs keep their brackets: the bridge's client (url.parse) and the CoAP observe link strip them.
    const urls = 'bridge: { enabled: true, url: "mqtt://[::1]:1883", subscriptions: [{ filter: "a/#" }] }\ncoap: { observe: ["coap://[::1]/t"] }\n';
    expect(loadConfig(writeConfig(urls), {}).config.bridge.url).toBe('mqtt://[::1]:1883');
  });
});

describe('invalid config files', () => {
  it('reports every problem with file:line:column and key path', () => {
    const text = [
      'gateway: { id: gw-1 }',
      'mqtt:',
      '  port: "not-a-number"',
      '  prot: 1883',
      'kafka:',
      '  brokers: ["good:9092", "bad-broker"]',
      'unknownTop: 1',
      '',
    ].join('\n');
    const file = writeConfig(text);
    const problems = problemsOf(file);
    const col = (line: number, needle: string) => text.split('\n')[line - 1]!.indexOf(needle) + 1;
    expect(problems.map((p) => [p.path, p.line, p.column])).toEqual(expect.arrayContaining([
      ['mqtt.port', 3, col(3, '"not-a-number"')],
      ['mqtt.prot', 4, expect.any(Number)],
      ['kafka.brokers.1', 6, col(6, '"bad-broker"')],
      ['unknownTop', 7, expect.any(Number)],
    ]));
    expect(problems).toHaveLength(4);
    expect(problems.every((p) => p.file === file)).toBe(true);
    expect(problems.find((p) => p.path === 'mqtt.prot')?.message).toMatch(/unknown key/);
    // The thrown message lists them all, one per line, as file:line:column: path: message.
    const message = (() => { try { loadConfig(file, {}); } catch (e) { return (e as Error).message; } return ''; })();
    expect(message.split('\n')).toHaveLength(4);
    expect(message).toContain(`${file}:6:${col(6, '"bad-broker"')}: kafka.brokers.1: `);
  });

  it('reports the cross-field problems of a block even when another of its keys has the wrong type', () => {
    const text = [
      'kafka: { client: kafkajs, compression: lz4, partitions: "six" }',
      'bridge: { enabled: true, keepaliveSeconds: "30" }',
      'serial:',
      '  ports:',
      '    - { name: gps, path: /dev/ttyUSB0, baudRate: "fast" }',
      '    - { name: gps, path: /dev/ttyUSB1, reopenMinMs: 5000, reopenMaxMs: 100 }',
      '',
    ].join('\n');
    const problems = problemsOf(writeConfig(text));
    expect(problems.map((p) => p.path).sort()).toEqual([
      'bridge.keepaliveSeconds', 'bridge.subscriptions', 'bridge.url',
      'kafka.compression', 'kafka.partitions',
      'serial.ports.0.baudRate', 'serial.ports.1.name', 'serial.ports.1.reopenMinMs',
    ]);
    // Blocks of the wrong shape altogether get their one problem, and no crash.
    for (const bad of ['kafka: null', 'bridge: 5', 'serial: { ports: [null, 7, { name: a }] }']) {
      expect(problemsOf(writeConfig(`${bad}\n`)).length).toBeGreaterThan(0);
    }
  });

  it('reports YAML syntax errors with their line, and a non-mapping document', () => {
    const problems = problemsOf(writeConfig('mqtt:\n  port: 1883\n   bad: [unclosed\n'));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]!.line).toBeGreaterThanOrEqual(2);
    expect(problemsOf(writeConfig('- just\n- a list\n'))[0]!.message).toMatch(/mapping/);
  });

  it('throws WEIR_CONFIG_NOT_FOUND for a missing file', () => {
    expect(() => loadConfig(join(tempDir(), 'absent.yaml'), {})).toThrow(expect.objectContaining({ code: 'WEIR_CONFIG_NOT_FOUND' }));
  });

  it('resolves the config path: -c, then $WEIR_CONFIG', () => {
    expect(resolveConfigPath('x/a.yaml', { WEIR_CONFIG: 'b.yaml' })).toBe(resolve('x/a.yaml'));
    expect(resolveConfigPath(undefined, { WEIR_CONFIG: 'b.yaml' })).toBe(resolve('b.yaml'));
  });
});
