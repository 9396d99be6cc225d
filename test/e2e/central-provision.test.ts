// docker/kafka/provision-topics.sh against the suite's real Kafka broker. The compose
// file runs it with the Kafka image's kafka-topics.sh / kafka-configs.sh; here the
// same tools run on plain java from the Kafka 4.1 jars (test/kafka/pom.xml), passed
// in as KAFKA_TOPICS_CMD / KAFKA_CONFIGS_CMD. Every test uses its own topic names
// (WEIR_TOPIC_* with a random suffix). What is checked is read back through kafkajs,
// not through the script's own parsing.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kafkaClasspath } from '../support/kafka-broker.js';

const REPO = new URL('../../', import.meta.url).pathname;
const SCRIPT = join(REPO, 'docker/kafka/provision-topics.sh');
const DAY = 86_400_000;

// The script's table, restated: a change there must be a deliberate change here.
const COMMON = { 'min.insync.replicas': '1', 'message.timestamp.type': 'LogAppendTime', 'segment.ms': String(DAY) };
const DECLARED: Record<string, { env: string; partitions: number; configs: Record<string, string> }> = {
  readings: { env: 'WEIR_TOPIC_READINGS', partitions: 12, configs: { 'cleanup.policy': 'delete', 'retention.ms': String(7 * DAY) } },
  aggregates: { env: 'WEIR_TOPIC_AGGREGATES', partitions: 6, configs: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * DAY) } },
  alerts: { env: 'WEIR_TOPIC_ALERTS', partitions: 3, configs: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * DAY) } },
  deadletter: { env: 'WEIR_TOPIC_DEADLETTER', partitions: 3, configs: { 'cleanup.policy': 'delete', 'retention.ms': String(14 * DAY) } },
  status: {
    env: 'WEIR_TOPIC_STATUS', partitions: 3,
    configs: { 'cleanup.policy': 'compact,delete', 'retention.ms': String(90 * DAY), 'min.compaction.lag.ms': String(7 * DAY) },
  },
  'fleet-alerts': { env: 'WEIR_TOPIC_FLEET_ALERTS', partitions: 3, configs: { 'cleanup.policy': 'delete', 'retention.ms': String(7 * DAY) } },
};
const KINDS = Object.keys(DECLARED);

interface Run { code: number; stdout: string; stderr: string }

describe('docker/kafka/provision-topics.sh', () => {
  const brokers = inject('kafkaBrokers');
  let admin: Admin;
  let java: string;

  beforeAll(async () => {
    const cp = await kafkaClasspath();
    // The script splits the command on spaces (a classpath under ~/.m2 has none).
    expect(cp).not.toMatch(/\s/);
    // C1 only and the serial collector: these JVMs live for a second or two, where
    // JIT work and GC threads are wasted (each run starts several).
    java = `java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp ${cp}`;
    admin = new Kafka({ clientId: 'weir-test-provision', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.disconnect();
  });

  /** Topic names for one test: weir-prov-<random>.<kind>. */
  function names(): Record<string, string> {
    const prefix = `weir-prov-${randomBytes(4).toString('hex')}`;
    return Object.fromEntries(KINDS.map((k) => [k, `${prefix}.${k}`]));
  }

  function provision(topics: Record<string, string>, extra: Record<string, string> = {}): Promise<Run> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      KAFKA_BOOTSTRAP: brokers,
      KAFKA_TOPICS_CMD: `${java} org.apache.kafka.tools.TopicCommand`,
      // kafka-configs.sh in Kafka 4.1 is still the Scala tool in kafka_2.13.
      KAFKA_CONFIGS_CMD: `${java} kafka.admin.ConfigCommand`,
      ...Object.fromEntries(KINDS.map((k) => [DECLARED[k]!.env, topics[k]!])),
      ...extra,
    };
    return new Promise((resolve) => {
      execFile('bash', [SCRIPT], { env, timeout: 150_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  /** Partition count and replica counts per topic, from the broker's metadata. */
  async function partitions(topics: string[]): Promise<Record<string, { count: number; replicas: number[] }>> {
    const md = await admin.fetchTopicMetadata({ topics });
    return Object.fromEntries(md.topics.map((t) => [t.name, { count: t.partitions.length, replicas: t.partitions.map((p) => p.replicas.length) }]));
  }

  /** Every config of each topic as the broker reports it, default or not. */
  async function configs(topics: string[]): Promise<Record<string, Record<string, string>>> {
    const r = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
    });
    return Object.fromEntries(r.resources.map((res) => [
      res.resourceName,
      Object.fromEntries(res.configEntries.map((e) => [e.configName, e.configValue])),
    ]));
  }

  /** TopicCommand --describe for the topics: partitions, leaders, replicas, non-default configs. */
  function describeTopics(topics: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const pattern = topics.map((t) => t.replaceAll('.', '\\.')).join('|');
      execFile('bash', ['-c', `${java} org.apache.kafka.tools.TopicCommand --bootstrap-server "$1" --describe --topic "$2"`, 'describe', brokers, pattern],
        { timeout: 60_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
  }

  function expectDeclared(have: Awaited<ReturnType<typeof configs>>, topics: Record<string, string>): void {
    for (const k of KINDS) {
      const want = { ...COMMON, ...DECLARED[k]!.configs };
      const got = Object.fromEntries(Object.keys(want).map((key) => [key, have[topics[k]!]?.[key]]));
      expect(got, topics[k]).toEqual(want);
    }
  }

  // The first test's topics, which the second provisions again (a fresh set only
  // when the first did not get that far), saving a JVM-heavy first run.
  let provisioned: Record<string, string> | undefined;

  it('creates every topic with the declared partitions and configs', async () => {
    const topics = names();
    const run = await provision(topics);
    if (run.code === 0) provisioned = topics;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    for (const k of KINDS) {
      expect(run.stdout).toContain(`provision-topics: ${topics[k]}: created (${DECLARED[k]!.partitions} partitions, replication factor 1)\n`);
    }
    expect(run.stdout).toMatch(/provision-topics: 6 topics, 6 changes\n$/);

    const parts = await partitions(Object.values(topics));
    for (const k of KINDS) {
      expect(parts[topics[k]!], topics[k]).toEqual({ count: DECLARED[k]!.partitions, replicas: Array(DECLARED[k]!.partitions).fill(1) });
    }
    expectDeclared(await configs(Object.values(topics)), topics);
  }, 180_000);

  it('a second run changes nothing and says so', async () => {
    const topics = provisioned ?? names();
    if (!provisioned) expect((await provision(topics)).code).toBe(0);
    const list = Object.values(topics);
    const before = { describe: await describeTopics(list), configs: JSON.stringify(await configs(list)) };
    expect(before.describe.match(/^Topic: /gm)).toHaveLength(6);

    const again = await provision(topics);
    expect(again).toEqual({ code: 0, stdout: 'provision-topics: 6 topics, no changes\n', stderr: '' });
    const after = { describe: await describeTopics(list), configs: JSON.stringify(await configs(list)) };
    expect(after.describe).toBe(before.describe);
    expect(after.configs).toBe(before.configs);
  }, 180_000);

  it('fixes too few partitions and drifted configs, and never lowers partitions or drops undeclared configs', async () => {
    const topics = names();
    // As a gateway (kafka.createTopics) or an operator might have left them.
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: topics.readings!, numPartitions: 4, configEntries: [{ name: 'retention.ms', value: '60000' }] },
        { topic: topics.aggregates!, numPartitions: 8 },
        { topic: topics.status!, numPartitions: 3, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] },
        { topic: topics.alerts!, numPartitions: 3, configEntries: [{ name: 'retention.bytes', value: '1000000' }] },
      ],
    });
    const run = await provision(topics);
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toContain(`${topics.readings}: partitions 4 -> 12\n`);
    expect(out).toContain(`${topics.readings}: retention.ms 60000 -> ${7 * DAY}\n`);
    expect(out).toContain(`${topics.status}: cleanup.policy delete -> compact,delete\n`);
    expect(out).toContain(`${topics.aggregates}: has 8 partitions, more than the declared 6: left as is`);
    expect(out).toContain(`${topics.alerts}: retention.bytes=1000000 is set but not declared here: left as is\n`);
    for (const k of ['deadletter', 'fleet-alerts']) expect(out).toContain(`${topics[k]}: created`);

    const parts = await partitions(Object.values(topics));
    expect(parts[topics.readings!]!.count).toBe(12);
    expect(parts[topics.aggregates!]!.count).toBe(8);
    const have = await configs(Object.values(topics));
    expectDeclared(have, topics);
    expect(have[topics.alerts!]!['retention.bytes']).toBe('1000000');

    // Fixed means stable: the next run has nothing left to do but the two notes.
    const again = await provision(topics);
    expect(again.code).toBe(0);
    expect(again.stdout.split('\n').filter((l) => !/left as is/.test(l))).toEqual(['provision-topics: 6 topics, no changes', '']);
  }, 180_000);

  it('stops with the failing command and its output when a Kafka tool fails', async () => {
    // `false` stands for a kafka-topics that cannot reach its broker.
    const run = await provision(names(), { KAFKA_TOPICS_CMD: 'false' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^provision-topics: kafka-topics --describe --if-exists --topic \S+ failed:\n/);
    expect(run.stdout).toBe('');
  });
});
