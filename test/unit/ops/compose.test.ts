// docker/compose.yaml (and its three-broker override): valid for Compose, and built the
// way the central tier needs. Validation is `docker-compose config` (Debian's
// docker-compose 1.29, or the `docker compose` plugin where that is installed); the
// structure is asserted on the configuration Compose resolves (anchors merged, the
// override applied, ${VAR:-default} filled in from an empty environment), so what is
// checked is what `docker compose up` would run. No container is started.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const REPO = new URL('../../../', import.meta.url).pathname.replace(/\/$/, '');
const DOCKER = join(REPO, 'docker');
const BASE = ['-f', 'compose.yaml'];
const THREE = [...BASE, '-f', 'compose.three-brokers.yaml'];
const PROFILES = ['--profile', 'gateway', '--profile', 'cratedb'];

/** The Compose command here: docker-compose (v1), else the docker compose plugin. */
function composeCommand(): string[] {
  for (const cmd of [['docker-compose'], ['docker', 'compose']]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { stdio: 'ignore' });
    if (!r.error && r.status === 0) return cmd;
  }
  throw new Error('neither docker-compose nor `docker compose` found: install with `apt-get install -y --no-install-recommends docker-compose`');
}

/** Runs `compose FILES... ARGS` in docker/, in an environment without any of the file's variables. */
function compose(files: string[], args: string[]): { status: number | null; stdout: string; stderr: string } {
  const [cmd, ...pre] = composeCommand();
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
  const r = spawnSync(cmd!, [...pre, ...files, ...PROFILES, ...args], { cwd: DOCKER, env, encoding: 'utf8' });
  if (r.error) throw r.error;
  return r;
}

interface Service {
  image?: string; build?: { context: string; dockerfile?: string }; profiles?: string[]; restart?: string;
  healthcheck?: { test?: string[] | string; disable?: boolean; interval?: string };
  depends_on?: Record<string, { condition: string }> | string[];
  environment?: Record<string, string | number | null>; volumes?: (string | { type: string; source?: string; target: string })[];
  ports?: (string | { host_ip?: string; target: number; published?: string | number })[];
  mem_limit?: string | number; deploy?: { resources?: { limits?: { memory?: string } } };
  network_mode?: string; command?: string[] | string; entrypoint?: string[] | string;
}
interface Config { services: Record<string, Service>; volumes?: Record<string, unknown> }

/** The resolved configuration of these files. */
function resolved(files: string[]): Config {
  const r = compose(files, ['config']);
  expect(r.status, `compose config failed:\n${r.stderr}`).toBe(0);
  expect(r.stderr).not.toMatch(/error|warn/i);
  return parse(r.stdout) as Config;
}

/** A mount as [source or undefined, target]; source is absolute for a bind mount. */
function mount(v: NonNullable<Service['volumes']>[number]): { source?: string; target: string; bind: boolean } {
  if (typeof v !== 'string') return { source: v.source, target: v.target, bind: v.type === 'bind' };
  const parts = v.split(':');
  if (parts.length === 1) return { target: parts[0]!, bind: false };
  return { source: parts[0], target: parts[1]!, bind: parts[0]!.startsWith('/') };
}

/** The host address a published port binds to ('' when it binds every address). */
function hostIp(p: NonNullable<Service['ports']>[number]): string {
  if (typeof p !== 'string') return p.host_ip ?? '';
  const parts = p.split(':');
  return parts.length === 3 ? parts[0]! : '';
}

const conditions = (s: Service) => (Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, 'service_started'])) : Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([k, v]) => [k, v.condition])));
const ONE_SHOTS = ['cratedb-schema', 'jobs', 'topics'];

describe.each([
  { name: 'docker/compose.yaml', files: BASE },
  { name: 'docker/compose.yaml + compose.three-brokers.yaml', files: THREE },
])('$name', ({ files }) => {
  const config = resolved(files);
  const services = Object.entries(config.services);

  it('is valid for `docker-compose config -q`', () => {
    const r = compose(files, ['config', '-q']);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('gives every long-running service a health check, and only the one-shots none', () => {
    expect(services.filter(([, s]) => s.restart === 'no').map(([n]) => n).sort()).toEqual(ONE_SHOTS);
    for (const [name, s] of services.filter(([n]) => !ONE_SHOTS.includes(n))) {
      expect(s.restart, name).toBe('unless-stopped');
      const test = s.healthcheck?.test;
      expect(s.healthcheck?.disable, name).not.toBe(true);
      expect(Array.isArray(test) ? test[0] : test, `${name} health check`).toMatch(/^CMD(-SHELL)?$/);
      expect(s.healthcheck?.interval, name).toBeDefined();
    }
  });

  it('orders the start with depends_on conditions that can be met', () => {
    for (const [name, s] of services) {
      for (const [dep, condition] of Object.entries(conditions(s))) {
        const target = config.services[dep];
        expect(target, `${name} depends on ${dep}`).toBeDefined();
        if (condition === 'service_healthy') expect(target!.healthcheck, `${name} waits for ${dep} to be healthy`).toBeDefined();
        else expect([name, dep, condition]).toEqual([name, dep, ONE_SHOTS.includes(dep) ? 'service_completed_successfully' : 'service_healthy']);
      }
    }
    const c = (n: string) => conditions(config.services[n]!);
    expect(c('topics')).toMatchObject({ kafka: 'service_healthy' });
    expect(c('jobs')).toEqual({
      jobmanager: 'service_healthy', taskmanager: 'service_healthy', store: 'service_healthy', topics: 'service_completed_successfully',
    });
    expect(c('taskmanager')).toEqual({ jobmanager: 'service_healthy' });
    expect(c('grafana')).toEqual({ store: 'service_healthy' });
    expect(c('store-maintenance')).toEqual({ store: 'service_healthy' });
    expect(c('cratedb-schema')).toEqual({ cratedb: 'service_healthy' });
    expect(c('weir')).toEqual({ topics: 'service_completed_successfully' });
  });

  it('keeps data on named volumes and mounts only paths that exist in the repository', () => {
    const named = Object.keys(config.volumes ?? {});
    for (const [name, s] of services) {
      for (const v of (s.volumes ?? []).map(mount)) {
        expect(v.source, `${name}: anonymous volume at ${v.target}`).toBeDefined();
        if (v.bind) {
          expect(v.source!.startsWith(`${DOCKER}/`), `${name}: ${v.source} is outside docker/`).toBe(true);
          expect(existsSync(v.source!), `${name}: ${v.source}`).toBe(true);
        } else {
          expect(named, `${name}: volume ${v.source}`).toContain(v.source);
        }
      }
      if (s.build) {
        expect(existsSync(join(s.build.context, s.build.dockerfile ?? 'Dockerfile')), `${name}: build`).toBe(true);
      }
    }
    // Every declared volume is used, but the single broker's under the override (kept
    // as it was when a stack moves to three brokers).
    const used = new Set(services.flatMap(([, s]) => (s.volumes ?? []).map(mount).filter((v) => !v.bind).map((v) => v.source)));
    const unused = named.filter((v) => !used.has(v));
    expect(unused).toEqual(files === BASE ? [] : ['kafka-data']);
  });

  it('publishes ports on 127.0.0.1 only, and limits every service\'s memory', () => {
    for (const [name, s] of services) {
      for (const p of s.ports ?? []) expect(hostIp(p), `${name}: ${JSON.stringify(p)}`).toBe('127.0.0.1');
      expect(s.mem_limit ?? s.deploy?.resources?.limits?.memory, `${name}: memory limit`).toBeDefined();
    }
  });

  it('runs Flink from one image with checkpoints on the shared volume, and gives the submitter the runner\'s settings', () => {
    const flink = ['jobmanager', 'taskmanager', 'jobs'].map((n) => config.services[n]!);
    for (const s of flink) {
      expect(s.image).toBe('weir-flink:local');
      expect(s.build).toMatchObject({ context: DOCKER, dockerfile: 'flink/Dockerfile' });
      const props = String(s.environment?.FLINK_PROPERTIES);
      expect(props).toMatch(/^execution\.checkpointing\.interval: 30s$/m);
      expect(props).toMatch(/^state\.checkpoints\.dir: file:\/\/\/var\/lib\/weir-flink\/checkpoints$/m);
      expect(props).toMatch(/^restart-strategy\.type: /m);
      // The image's entrypoint strips every blank of a property: none may need one.
      for (const line of props.trim().split('\n')) expect(line, line).toMatch(/^[\w.-]+: \S+$/);
    }
    for (const s of flink.slice(0, 2)) expect((s.volumes ?? []).map(mount)).toContainEqual(expect.objectContaining({ source: 'flink-state', target: '/var/lib/weir-flink' }));
    const env = config.services.jobs!.environment!;
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['KAFKA_BOOTSTRAP', 'STORE_JDBC_URL', 'STORE_USER', 'STORE_PASSWORD',
      'WEIR_TOPIC_READINGS', 'WEIR_TOPIC_AGGREGATES', 'WEIR_TOPIC_ALERTS', 'WEIR_TOPIC_STATUS', 'WEIR_TOPIC_FLEET_ALERTS']));
    // The same URL the job files default to (docker/sql/00-tables.sql).
    const sqlDefault = /\$\{STORE_JDBC_URL:-([^}]+)\}/.exec(readFileSync(join(REPO, 'docker/sql/00-tables.sql'), 'utf8'))?.[1];
    expect(env.STORE_JDBC_URL).toBe(sqlDefault);
    expect(env.STORE_JDBC_URL).toBe('jdbc:postgresql://store:5432/weir?stringtype=unspecified&reWriteBatchedInserts=true');
    expect(config.services.jobs!.command).toEqual(['/opt/weir/submit-jobs.sh']);
  });

  it('provisions the topics with the mounted script, the store with its init scripts, Grafana with its provisioning', () => {
    const topics = config.services.topics!;
    expect(topics.image).toBe('apache/kafka:4.1.1');
    expect(topics.entrypoint).toEqual(['bash', '/opt/weir/provision-topics.sh']);
    expect((topics.volumes ?? []).map(mount)).toContainEqual({ source: join(DOCKER, 'kafka/provision-topics.sh'), target: '/opt/weir/provision-topics.sh', bind: true });
    const store = config.services.store!;
    expect(store.image).toBe('timescale/timescaledb:2.17.2-pg16');
    expect((store.volumes ?? []).map(mount)).toContainEqual({ source: join(DOCKER, 'store/postgres'), target: '/docker-entrypoint-initdb.d', bind: true });
    expect(String(config.services['store-maintenance']!.command)).toContain('SELECT weir_maintain()');
    const grafana = (config.services.grafana!.volumes ?? []).map(mount);
    expect(grafana).toContainEqual({ source: join(DOCKER, 'grafana/provisioning'), target: '/etc/grafana/provisioning', bind: true });
    expect(grafana).toContainEqual({ source: join(DOCKER, 'grafana/dashboards'), target: '/var/lib/grafana/dashboards', bind: true });
    expect(config.services.cratedb!.profiles).toEqual(['cratedb']);
    expect(config.services['cratedb-schema']!.network_mode).toBe('service:cratedb');
    expect(config.services.weir!.profiles).toEqual(['gateway']);
  });
});

describe('the three-broker override', () => {
  const one = resolved(BASE);
  const three = resolved(THREE);
  const kafkas = ['kafka', 'kafka-2', 'kafka-3'].map((n) => three.services[n]!);

  it('runs three KRaft voters with distinct ids, listeners and volumes, none waiting for another', () => {
    expect(kafkas.map((k) => Number(k.environment!.KAFKA_NODE_ID))).toEqual([1, 2, 3]);
    for (const k of kafkas) {
      expect(k.environment!.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe('1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093');
      expect(Number(k.environment!.KAFKA_MIN_INSYNC_REPLICAS)).toBe(2);
      expect(Number(k.environment!.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR)).toBe(3);
      expect(k.depends_on ?? {}).toEqual({});
    }
    expect(new Set(kafkas.map((k) => mount(k.volumes![0]!).source)).size).toBe(3);
    expect(new Set(kafkas.flatMap((k) => k.ports ?? []).map((p) => JSON.stringify(p))).size).toBe(3);
  });

  it('provisions with replication factor 3 and points every client at all three brokers', () => {
    const all = 'kafka:9092,kafka-2:9092,kafka-3:9092';
    expect(Number(one.services.topics!.environment!.REPLICATION_FACTOR)).toBe(1);
    expect(Number(three.services.topics!.environment!.REPLICATION_FACTOR)).toBe(3);
    expect(three.services.topics!.environment!.KAFKA_BOOTSTRAP).toBe(all);
    expect(three.services.jobs!.environment!.KAFKA_BOOTSTRAP).toBe(all);
    expect(three.services.weir!.environment!.WEIR_KAFKA_BROKERS).toBe(all);
    expect(conditions(three.services.topics!)).toEqual({ kafka: 'service_healthy', 'kafka-2': 'service_healthy', 'kafka-3': 'service_healthy' });
  });
});
