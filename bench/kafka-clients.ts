// Producer comparison: kafkajs 2.2.4 vs @platformatic/kafka 1.35.0 on a real broker,
// with the forwarder's workload shape: keyed JSON readings (~180 B), 3 headers,
// acks=all, caller-made batches with one request in flight. It decides which client
// the gateway ships with, so both run in the same process, same broker, same data.
//
//   node --import tsx bench/kafka-clients.ts
//   BENCH_RECORDS=500000 BENCH_BATCH=2000 BENCH_REPEAT=3 [BENCH_ONLY=kafkajs] [KAFKA_BROKERS=host:port] \
//     node --import tsx bench/kafka-clients.ts
//
// CPU is process.cpuUsage() (user+system of this Node process, all threads, so
// kafkajs's async zlib work on the libuv pool counts too); the broker is a separate
// process and is not counted, but it shares the 2 cores, so records/s is a floor.
import { randomBytes } from 'node:crypto';
import { CompressionTypes, Kafka, Partitioners, logLevel } from 'kafkajs';
import { Connection, Producer as PlatformaticProducer, describeProducersV0, stringSerializers } from '@platformatic/kafka';
import { KafkaBroker, createTopics } from '../test/support/kafka-broker.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 500_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1); // >1: report the median run (2 shared cores are noisy)
const ONLY = process.env.BENCH_ONLY; // 'kafkajs' | 'platformatic', e.g. for --cpu-prof
const BATCH = Number(process.env.BENCH_BATCH ?? 2_000);
const KEYS = 1_000;
const PARTITIONS = 6;
const WARMUP = 20_000;
const POOL = 50_000; // multiple of every batch size we use, so batches never straddle the wrap

type Compression = 'none' | 'gzip' | 'lz4' | 'snappy';
interface Rec { key: string; value: string; headers: Record<string, string> }
interface Row { client: string; compression: Compression; idempotent: boolean; recPerSec: number; cpuPer1M: number; wallS: number; ok: string; producers: string; spread: string }
/** Sends one batch and resolves once the broker acknowledged it (acks=all). */
type SendBatch = (topic: string, batch: Rec[]) => Promise<void>;
interface Client { send: SendBatch; close: () => Promise<void> }

// Readings shaped like weir.readings values; values vary so gzip sees realistic entropy.
function makeRecords(n: number, seqBase = 0): Rec[] {
  const out: Rec[] = new Array(n);
  const t0 = 1_767_000_000_000;
  for (let i = 0; i < n; i++) {
    const seq = seqBase + i + 1;
    const device = `dev-${String(i % KEYS).padStart(4, '0')}`;
    const value = JSON.stringify({
      gateway: 'gw-1', device, profile: 'th-v2', ts: t0 + i * 10, received: t0 + i * 10 + 37, seq,
      tags: { site: 'plant-3' },
      metrics: { temp: 20 + ((i * 7919) % 1000) / 100, hum: 40 + ((i * 104729) % 2000) / 100, bat: 3.1 + (i % 9) / 100 },
    });
    out[i] = { key: device, value, headers: { 'weir-gateway': 'gw-1', 'weir-seq': String(seq), 'weir-schema': '1' } };
  }
  return out;
}

async function kafkajsClient(brokers: string, compression: Compression, idempotent: boolean): Promise<Client> {
  const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: brokers.split(','), logLevel: logLevel.ERROR });
  const producer = kafka.producer({
    idempotent, maxInFlightRequests: 1, allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner, // murmur2, same as Java and platformatic
  });
  await producer.connect();
  const codec = compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  return {
    send: async (topic, batch) => {
      await producer.sendBatch({ acks: -1, compression: codec, topicMessages: [{ topic, messages: batch }] });
    },
    close: () => producer.disconnect(),
  };
}

async function platformaticClient(brokers: string, compression: Compression, idempotent: boolean): Promise<Client> {
  const producer = new PlatformaticProducer({
    clientId: 'bench-platformatic', bootstrapBrokers: brokers.split(','), serializers: stringSerializers,
    idempotent, acks: -1, compression, autocreateTopics: false, maxInflights: 1,
  });
  return {
    send: async (topic, batch) => {
      await producer.send({ messages: batch.map((m) => ({ topic, key: m.key, value: m.value, headers: m.headers })) });
    },
    close: () => producer.close(),
  };
}

// Broker-side proof that idempotence was really on: DescribeProducers lists the
// producer ids with state in each partition (plain producers write id -1 and are
// absent). Asked of the first bootstrap broker, so this is exact for a single node.
async function activeProducers(brokers: string, topic: string): Promise<string> {
  const [host, port] = brokers.split(',')[0]!.split(':');
  const conn = new Connection('bench-check');
  try {
    await conn.connect(host!, Number(port));
    const partitionIndexes = Array.from({ length: PARTITIONS }, (_, i) => i);
    const res = await describeProducersV0.api.async(conn, [{ name: topic, partitionIndexes }]);
    const parts = res.topics[0]?.partitions ?? [];
    const ids = new Set(parts.flatMap((p) => p.activeProducers.map((a) => a.producerId.toString())));
    const used = parts.filter((p) => p.activeProducers.length > 0).length;
    return ids.size ? `id ${[...ids].join(',')} on ${used}/${parts.length} partitions` : 'none';
  } catch (err) {
    return `n/a (${(err as Error).message})`;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

async function endOffsetsSum(brokers: string, topic: string): Promise<number> {
  const admin = new Kafka({ clientId: 'bench-admin', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

const slice = (data: Rec[], i: number) => data.slice(i % data.length, (i % data.length) + BATCH);

async function runOne(brokers: string, data: Rec[], client: 'kafkajs' | 'platformatic', compression: Compression, idempotent: boolean): Promise<Row> {
  const topic = `bench-${client}-${compression}-${idempotent ? 'idem' : 'plain'}-${randomBytes(3).toString('hex')}`;
  await createTopics(brokers, [topic], PARTITIONS);
  const make = client === 'kafkajs' ? kafkajsClient : platformaticClient;
  let c: Client;
  try {
    c = await make(brokers, compression, idempotent);
    // Warm-up (JIT, connections, producer id) on the same topic, outside the measurement.
    for (let i = 0; i < WARMUP; i += BATCH) await c.send(topic, slice(data, i));
  } catch (err) {
    return { client, compression, idempotent, recPerSec: NaN, cpuPer1M: NaN, wallS: NaN, ok: `FAILED: ${(err as Error).message}`, producers: '', spread: '' };
  }
  global.gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let ok = 'ok';
  try {
    for (let i = 0; i < RECORDS; i += BATCH) await c.send(topic, slice(data, i)); // one request in flight
  } catch (err) {
    ok = `FAILED: ${(err as Error).message}`;
  }
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await c.close();
  const expected = WARMUP + RECORDS;
  const landed = await endOffsetsSum(brokers, topic);
  if (ok === 'ok' && landed !== expected) ok = `COUNT ${landed} != ${expected}`;
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const producers = await activeProducers(brokers, topic);
  return { client, compression, idempotent, recPerSec: RECORDS / wallS, cpuPer1M: (cpuS * 1e6) / RECORDS, wallS, ok, producers, spread: '' };
}

/** Median of REPEAT runs by records/s; the spread column shows the min–max records/s. */
async function measure(brokers: string, data: Rec[], client: 'kafkajs' | 'platformatic', compression: Compression, idempotent: boolean): Promise<Row> {
  const runs: Row[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const row = await runOne(brokers, data, client, compression, idempotent);
    console.error(`  ${client} ${compression} idempotent=${idempotent}: ${fmt(row.recPerSec)} rec/s, ${fmt(row.cpuPer1M, 2)} CPU s/1M, ${row.ok}`);
    runs.push(row);
    if (row.ok !== 'ok') return row;
  }
  runs.sort((a, b) => a.recPerSec - b.recPerSec);
  const median = runs[Math.floor(runs.length / 2)]!;
  if (runs.length > 1) median.spread = `${fmt(runs[0]!.recPerSec / 1000)}–${fmt(runs.at(-1)!.recPerSec / 1000)}k`;
  return median;
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '—');

function printTable(rows: Row[]): void {
  const header = ['client', 'compression', 'idempotent', 'records/s', 'CPU s / 1M rec', 'wall s', 'runs rec/s', 'count', 'broker: producer state'];
  const lines = rows.map((r) => [r.client, r.compression, r.idempotent ? 'yes' : 'no', fmt(r.recPerSec), fmt(r.cpuPer1M, 2), fmt(r.wallS, 1), r.spread || '-', r.ok, r.producers]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i >= 3 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w, i) => (i >= 3 && i <= 5 ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|');
  for (const l of lines) console.log(line(l));

  console.log('\nplatformatic / kafkajs (same compression and idempotence):');
  for (const p of rows.filter((r) => r.client === 'platformatic')) {
    const k = rows.find((r) => r.client === 'kafkajs' && r.compression === p.compression && r.idempotent === p.idempotent);
    if (!k) continue;
    console.log(`  ${p.compression.padEnd(6)} idempotent=${p.idempotent ? 'yes' : 'no '}  throughput ×${fmt(p.recPerSec / k.recPerSec, 2)}  CPU per record ×${fmt(p.cpuPer1M / k.cpuPer1M, 2)}`);
  }
}

async function main(): Promise<void> {
  const external = process.env.KAFKA_BROKERS?.trim();
  const t0 = Date.now();
  const broker = external ? undefined : await KafkaBroker.start();
  const brokers = external ?? broker!.brokers;
  console.log(`Kafka at ${brokers}${broker ? ` (private broker, started in ${((Date.now() - t0) / 1000).toFixed(1)} s)` : ''}`);
  // A pool reused cyclically rather than 500k live records: a forwarder holds one
  // batch at a time, and a 300 MB live heap would bill both clients for old-space GC.
  const data = makeRecords(POOL);
  const avgValue = data.slice(0, 10_000).reduce((s, r) => s + Buffer.byteLength(r.value), 0) / 10_000;
  console.log(`${fmt(RECORDS)} records (+${fmt(WARMUP)} warm-up) cycling over ${fmt(POOL)} pre-built ones, ${KEYS} keys, ~${fmt(avgValue)} B values, 3 headers, ` +
    `${PARTITIONS} partitions, acks=all, ${fmt(BATCH)} records per request, 1 in flight, Node ${process.version}\n`);

  // Interleaved so that drift on a shared 2-core box (broker log flushes, GC) hits both clients alike.
  const plan: Array<[Compression, boolean]> = [['none', true], ['gzip', true], ['none', false], ['gzip', false]];
  const rows: Row[] = [];
  try {
    for (const [compression, idempotent] of plan) {
      for (const client of ['kafkajs', 'platformatic'] as const) {
        if (!ONLY || ONLY === client) rows.push(await measure(brokers, data, client, compression, idempotent));
      }
    }
    // Codecs kafkajs lacks without extra packages; platformatic ships them (WASM). zstd needs Node >= 22.15.
    if (!ONLY || ONLY === 'platformatic') {
      for (const compression of ['lz4', 'snappy'] as const) rows.push(await measure(brokers, data, 'platformatic', compression, true));
    }
  } finally {
    await broker?.destroy();
  }
  console.log('');
  printTable(rows);
}

await main();
