// Issue 6's benchmark: the central tier on this machine, Flink in local mode.
//
// 1. Throughput, Kafka → Flink (docker/sql/10-store.sql) → PostgreSQL: N contract-
//    format readings are put on a topic, then the store job reads them to the end
//    (bounded) while the store's row count is sampled. Peers run in the same go on
//    the same data: kcat reading the topic to /dev/null (Kafka's read ceiling here)
//    and psql \copy of the same rows into the same table (PostgreSQL's write ceiling).
// 2. Latency, device → gateway → Kafka → Flink → row visible: a real gateway (child
//    process) takes readings over MQTT QoS 1, stamped with the send time; the store
//    job runs unbounded; latency = the row's stored_at (PostgreSQL's clock_timestamp()
//    at insert) − the reading's send time; same machine, same clock. Split at the
//    Kafka record's timestamp (set by the gateway's producer): device → Kafka and
//    Kafka → row. Run once per JDBC flush interval (the sink's batching knob).
//
//   npm run build && node --import tsx bench/central.ts [--records 200000] [--rate 200] [--seconds 30]
//
// Results: bench/results/central.json.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { REPO } from '../test/support/gateway.js';
import { runFlinkSql, startFlinkSql } from '../test/support/flink.js';
import { Postgres } from '../test/support/postgres.js';
import { sleep, waitFor } from '../test/support/wait.js';
import { distStale } from './dist.js';
import { createBenchTopics, killAll, startKafka, startWeir } from './peers.js';
import { latencySummary } from './report.js';

const run = promisify(execFile);
const { values: a } = parseArgs({ options: { records: { type: 'string', default: '200000' }, rate: { type: 'string', default: '200' }, seconds: { type: 'string', default: '30' } } });
const N = Number(a.records);
const log = (s: string) => console.error(s);
const BOUNDED = join(REPO, 'test/flink/bounded.sql');

interface Topics { readings: string; aggregates: string; alerts: string }

/** The store job reads readings, aggregates and alerts: `topics` names all three. */
function flinkEnv(brokers: string, pg: Postgres, topics: Topics, extra: Record<string, string> = {}): Record<string, string> {
  return { KAFKA_BOOTSTRAP: brokers, STORE_JDBC_URL: `${pg.jdbcUrl}?stringtype=unspecified&reWriteBatchedInserts=true`, STORE_USER: pg.user, STORE_PASSWORD: '',
    WEIR_TOPIC_READINGS: topics.readings, WEIR_TOPIC_AGGREGATES: topics.aggregates, WEIR_TOPIC_ALERTS: topics.alerts, ...extra };
}

async function throughput(brokers: string, pg: Postgres): Promise<Record<string, number>> {
  const topic = `central-bench-${Date.now()}`;
  const topics = { readings: topic, aggregates: `${topic}.aggregates`, alerts: `${topic}.alerts` };
  await createBenchTopics(brokers, Object.values(topics));
  const kafka = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const t0 = Date.UTC(2026, 10, 23);
  const csv: string[] = [];
  for (let i = 0; i < N; i += 2000) {
    const messages = [];
    for (let j = i; j < Math.min(N, i + 2000); j++) {
      const device = `host-${j % 500}`;
      const ts = t0 + j * 10;
      const usage = (j * 37) % 100;
      messages.push({ key: device, value: `{"gateway":"gw-bench","seq":${j + 1},"received":${ts + 3},"device":"${device}","profile":"cpu-monitor","ts":${ts},"tags":{"cpu":"cpu${j % 4}"},"metrics":{"usage":${usage}}}` });
      csv.push(`${new Date(ts).toISOString()},gw-bench,${j + 1},usage,${usage},${device},cpu-monitor,${new Date(ts + 3).toISOString()},"{""cpu"": ""cpu${j % 4}""}"`);
    }
    await producer.send({ topic, messages });
  }
  await producer.disconnect();
  log(`  ${N} readings on ${topic}`);

  let t = Date.now();
  await run('sh', ['-c', `kcat -C -e -q -o beginning -b ${brokers} -t ${topic} -X fetch.wait.max.ms=100 > /dev/null`], { maxBuffer: 1 << 20 });
  const kcatRate = N / ((Date.now() - t) / 1000);
  log(`  kcat read: ${kcatRate.toFixed(0)} records/s`);

  const file = join(tmpdir(), `central-bench-${process.pid}.csv`);
  writeFileSync(file, `${csv.join('\n')}\n`);
  t = Date.now();
  await pg.psql(['-c', `\\copy readings (ts, gateway, seq, metric, value, device, profile, received, tags) FROM '${file}' CSV`]);
  const copyRate = N / ((Date.now() - t) / 1000);
  log(`  psql \\copy: ${copyRate.toFixed(0)} rows/s`);
  await pg.query('TRUNCATE readings');

  const flink: Record<string, number> = {};
  for (const parallelism of [1, 2]) {
    const rate = await storeJobRate(brokers, pg, topics, parallelism);
    flink[`flinkP${parallelism}RowsPerS`] = Math.round(rate.rowsPerS);
    flink[`flinkP${parallelism}WallS`] = +rate.wallS.toFixed(1);
    flink[`ratioToCopyP${parallelism}`] = +(rate.rowsPerS / copyRate).toFixed(3);
  }
  return { records: N, ...flink, kcatRecordsPerS: Math.round(kcatRate), copyRowsPerS: Math.round(copyRate) };
}

/** The store job's own rate, from its first stored row to its last (row count sampled every 250 ms). */
async function storeJobRate(brokers: string, pg: Postgres, topics: Topics, parallelism: number): Promise<{ rowsPerS: number; wallS: number }> {
  const samples: Array<[number, number]> = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push([Date.now(), await pg.count('readings')]);
      await sleep(250);
    }
  })();
  const setting = join(tmpdir(), `central-bench-p${parallelism}.sql`);
  writeFileSync(setting, `SET 'parallelism.default' = '${parallelism}';\n`);
  const t = Date.now();
  try {
    await runFlinkSql(['00-tables.sql', BOUNDED, setting, '10-store.sql'], flinkEnv(brokers, pg, topics), 15 * 60_000);
  } finally {
    sampling = false;
    await sampler;
  }
  const wallS = (Date.now() - t) / 1000;
  const stored = await pg.count('readings');
  if (stored !== N) throw new Error(`the store job stored ${stored} of ${N} rows`);
  const first = samples.find(([, n]) => n > 0)!;
  const last = samples.find(([, n]) => n >= N) ?? [Date.now(), N];
  const rowsPerS = (N - first[1]) / ((last[0] - first[0]) / 1000);
  log(`  Flink store job, parallelism ${parallelism}: ${rowsPerS.toFixed(0)} rows/s while writing; ${wallS.toFixed(1)} s wall including JVM and job start`);
  await pg.query('TRUNCATE readings');
  return { rowsPerS, wallS };
}
async function latency(brokers: string, pg: Postgres, flush: string): Promise<Record<string, number | string>> {
  const weir = await startWeir(brokers);
  const flink = await startFlinkSql(['00-tables.sql', '10-store.sql'], flinkEnv(brokers, pg, weir.topics, { WEIR_SINK_FLUSH: flush }));
  try {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${weir.mqttPort}`, { protocolVersion: 4 });
    const send = (device: string, i: number) =>
      client.publishAsync('iot-data-input', JSON.stringify({ hostname: device, cpu: 'cpu0', usage: i % 100, occurred_at: Date.now() }), { qos: 1 });
    // Warm-up: until the job has started and stored a reading.
    let w = 0;
    await waitFor(async () => {
      await send('warm', w++);
      return (await pg.count('readings')) > 0;
    }, 120_000, 'the store job storing', 500);
    const rate = Number(a.rate);
    const total = rate * Number(a.seconds);
    const start = Date.now();
    for (let i = 0; i < total; i++) {
      await sleep(Math.max(0, start + (i * 1000) / rate - Date.now()));
      void send(`lat-${i % 50}`, i);
    }
    await waitFor(async () => (await pg.query<{ n: string }>("SELECT count(*) AS n FROM readings WHERE device LIKE 'lat-%'"))[0]!.n === String(total), 60_000, 'every reading stored', 250);
    const rows = await pg.query<{ seq: string; ms: number }>(
      "SELECT seq, EXTRACT(EPOCH FROM stored_at - ts) * 1000 AS ms FROM readings WHERE device LIKE 'lat-%'");
    // The Kafka record timestamp (CreateTime, set by the gateway's producer) splits the path.
    const { stdout } = await run('kcat', ['-C', '-e', '-q', '-o', 'beginning', '-b', brokers, '-t', weir.topics.readings, '-f', '%T\\t%s\\n'], { maxBuffer: 256 << 20 });
    const kafkaTs = new Map<string, number>();
    for (const line of stdout.split('\n')) {
      const [tsText, value] = line.split('\t');
      if (!value) continue;
      const v = JSON.parse(value) as { seq: number; ts: number };
      kafkaTs.set(String(v.seq), Number(tsText) - v.ts);
    }
    const endToEnd = latencySummary(rows.map((r) => Number(r.ms)));
    const toKafka = latencySummary(rows.map((r) => kafkaTs.get(r.seq) ?? NaN).filter(Number.isFinite));
    const afterKafka = latencySummary(rows.map((r) => Number(r.ms) - (kafkaTs.get(r.seq) ?? NaN)).filter(Number.isFinite));
    await client.endAsync();
    await pg.query('TRUNCATE readings');
    const res = { sinkFlush: flush, readings: rows.length, rate, p50Ms: Math.round(endToEnd.p50), p99Ms: Math.round(endToEnd.p99), maxMs: Math.round(endToEnd.max),
      deviceToKafkaP50Ms: Math.round(toKafka.p50), deviceToKafkaP99Ms: Math.round(toKafka.p99),
      kafkaToRowP50Ms: Math.round(afterKafka.p50), kafkaToRowP99Ms: Math.round(afterKafka.p99) };
    log(`  flush ${flush}: p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms (device→Kafka p50 ${res.deviceToKafkaP50Ms}/p99 ${res.deviceToKafkaP99Ms}; Kafka→row p50 ${res.kafkaToRowP50Ms}/p99 ${res.kafkaToRowP99Ms})`);
    return res;
  } finally {
    await flink.stop();
    await weir.stop();
  }
}

async function main(): Promise<void> {
  if (distStale()) throw new Error('dist/ is older than src/: run `npm run build` first');
  const { broker } = await startKafka();
  const pg = await Postgres.start();
  try {
    log('throughput: Kafka → Flink → PostgreSQL');
    const tp = await throughput(broker.brokers, pg);
    log('latency: device → gateway → Kafka → Flink → row');
    const lat = [];
    for (const flush of ['1 s', '100 ms']) lat.push(await latency(broker.brokers, pg, flush));
    const result = { when: new Date().toISOString(), machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, throughput: tp, latency: lat };
    writeFileSync(join(REPO, 'bench/results/central.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await pg.stop();
    await broker.destroy();
    killAll();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exit(1);
});
