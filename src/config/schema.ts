import { hostname } from 'node:os';
import { z } from 'zod';
import { analyticsConfigSchema } from './analytics-schema.js';
import { bridgeConfigSchema } from './bridge-schema.js';
import { coapConfigSchema } from './coap-schema.js';
import { checkAlways, host, hostPort, port, shortName } from './fields.js';
import { serialConfigSchema } from './serial-schema.js';

/**
 * The one config schema: it validates, types (`WeirConfig`) and documents every key
 * (`weir check --schema` prints it as JSON Schema). Every leaf has a default, so an
 * empty file — or no file — is a complete config, and every leaf can be overridden
 * from the environment as WEIR_<PATH> (see env.ts).
 */

/** A Kafka topic name (Kafka's own rule: [a-zA-Z0-9._-], at most 249 characters). */
const topic = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'must be 1–249 characters of a-z A-Z 0-9 . _ -');

function defaultGatewayId(): string {
  return hostname().replace(/[^a-zA-Z0-9._-]/g, '-') || 'weir';
}

const clock = z.strictObject({
  minPlausible: z.iso.datetime({ offset: true }).default('2026-01-01T00:00:00Z')
    .describe('A gateway clock before this is not synced yet (a Pi without RTC boots at 1970, or at fake-hwclock\'s last save): records get provisional received times, corrected once it syncs.'),
  jumpThresholdMs: z.number().int().positive().default(2000).describe('A step of the wall clock larger than this (against the monotonic clock) is a jump: logged, counted, and — when it ends an unsynced period — the correction.'),
  probe: z.enum(['timesyncd', 'none']).default('timesyncd')
    .describe('Ask systemd-timesyncd whether NTP synced (/run/systemd/timesync/synchronized; ignored where timesyncd is not running), or rely on the plausibility and jump checks alone.'),
});

const gateway = z.strictObject({
  id: shortName.default(defaultGatewayId).describe('Gateway id: key of weir.status records and the weir-gateway header. Default: the host name.'),
  statusIntervalSeconds: z.number().int().min(0).default(60).describe('A status record goes to weir.status this often (0: only at start and stop).'),
  stopTimeoutMs: z.number().int().positive().default(10000).describe('Graceful stop: how long the last forward to Kafka may take.'),
  clock: clock.default(() => clock.parse({})).describe('Detecting a gateway clock that is not yet synced (no RTC on a Pi) or that jumps.'),
});

const profiles = z.strictObject({
  bundled: z.boolean().default(true).describe('Load the device profiles shipped in device-profiles/.'),
  dirs: z.array(z.string()).default([]).describe('More directories of *.yaml device profiles; a later profile may not reuse a name.'),
});

const mqtt = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the embedded MQTT 3.1.1 broker.'),
  host: host.default('0.0.0.0').describe('Address the MQTT listener binds to.'),
  port: port.default(1883).describe('MQTT listener port (TCP).'),
  maxPayloadBytes: z.number().int().positive().default(64 * 1024)
    .describe('Larger PUBLISH payloads are dead-lettered (WEIR_PAYLOAD_TOO_LARGE); the packet itself is capped at 4x this.'),
  unmatched: z.enum(['deadletter', 'ignore']).default('deadletter')
    .describe('What to do with a PUBLISH whose topic no profile matches: dead-letter it, or just broker it.'),
  maxConnections: z.number().int().positive().default(10_000)
    .describe('Most MQTT connections at once; more are closed as they arrive (like Mosquitto\'s max_connections), so a flood of connections cannot exhaust memory or file descriptors.'),
  subscriberBufferBytes: z.number().int().positive().default(256 * 1024)
    .describe('Bytes of messages that may wait for one subscriber\'s connection. Beyond it, QoS 0 messages to that subscriber are dropped (counted in weir_mqtt_messages_dropped_total) and a subscriber to QoS 1/2 is disconnected (a persistent session gets its queued messages when it returns), so a slow subscriber never holds up the devices publishing to it.'),
  slowSubscriberTimeoutMs: z.number().int().positive().default(2000)
    .describe('A subscriber whose connection takes no data at all for this long while messages wait for it is disconnected.'),
  sessionExpirySeconds: z.number().int().min(0).default(7 * 24 * 3600)
    .describe('A persistent session (CleanSession 0) whose client stays away this long is removed, with its subscriptions and queued messages (like Mosquitto\'s persistent_client_expiration). 0: kept while the gateway runs.'),
});

const http = z.strictObject({
  host: host.default('0.0.0.0').describe('Address the HTTP server binds to.'),
  port: port.default(8080).describe('HTTP port: /healthz, /readyz, /metrics, /api/status and ingest.'),
  maxBodyBytes: z.number().int().positive().default(1024 * 1024).describe('Largest accepted request body.'),
  maxBufferedBytes: z.number().int().positive().default(16 * 1024 * 1024)
    .describe('Most bytes of request bodies held at once, across all connections, while they are read: a request that would exceed it gets 503 with Retry-After, so many slow or large uploads cannot exhaust memory. At least maxBodyBytes.'),
}).superRefine((h, ctx) => {
  if (h.maxBufferedBytes < h.maxBodyBytes) ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: `must be at least maxBodyBytes (${h.maxBodyBytes})` });
});

const topics = z.strictObject({
  readings: topic.default('weir.readings'),
  aggregates: topic.default('weir.aggregates'),
  alerts: topic.default('weir.alerts'),
  deadletter: topic.default('weir.deadletter'),
  status: topic.default('weir.status'),
});

const kafka = z.strictObject({
  brokers: z.array(hostPort).min(1).default(['127.0.0.1:9092'])
    .describe('Bootstrap brokers, host:port; an IPv6 address in brackets, [::1]:9092. Default: $WEIR_KAFKA_BROKERS (comma-separated) or 127.0.0.1:9092.'),
  clientId: z.string().default('weir').describe('Kafka client id.'),
  topics: topics.default(() => topics.parse({})).describe('Topic per journal stream.'),
  createTopics: z.boolean().default(true).describe('Create missing topics at connect.'),
  partitions: z.number().int().min(-1).default(6).describe('Partitions of topics Weir creates (-1: broker default).'),
  replicationFactor: z.number().int().min(-1).default(-1).describe('Replication factor of topics Weir creates (-1: broker default).'),
  client: z.enum(['platformatic', 'kafkajs']).default('platformatic')
    .describe('Kafka client library: @platformatic/kafka (default: ~2x the throughput at half the CPU of KafkaJS, measured in bench/kafka-clients.ts) or kafkajs.'),
  compression: z.enum(['none', 'gzip', 'snappy', 'lz4']).default('lz4').describe('Batch compression (kafkajs: none or gzip only).'),
  // 1,000, not more: the client's per-record objects live until the request is encoded,
  // and a batch of ~2,600 (the byte limit) outlived the forwarder thread's young
  // generation, so its GC took 42 % of the thread. Drain at 50 % load, same session:
  // 53–55k records/s at 1,000 against 44–46k at 5,000 (bench/README.md).
  batchMaxRecords: z.number().int().positive().default(1000).describe('Most records in one produce request.'),
  batchMaxBytes: z.number().int().positive().default(768 * 1024)
    .describe('Most value bytes in one produce request; keep it under the brokers\' message.max.bytes (1 MiB by default) for compression: none.'),
  // 5 ms: the Java producer's linger.ms default since Kafka 4.0 (KIP-1030). On this
  // project's machine (Kafka on the same cores, a few ms per request) 5 ms changed
  // nothing measurable and 10 ms cut Kafka's CPU by a third at twice the p50 (bench/README.md).
  lingerMs: z.number().min(0).max(1000).default(5)
    .describe('Under steady traffic, a produce request begins at least this long after the one before, unless a full batch (batchMaxRecords) is already waiting: fewer, larger requests for the broker, for at most this much added latency. Like the Java producer\'s linger.ms, but counted from the last request, so a reading after a quiet spell goes at once and a backlog never waits. It only acts while Kafka answers faster than this. 0: each request as soon as the one before is acknowledged.'),
  requestTimeoutMs: z.number().int().positive().default(30000).describe('Produce request timeout.'),
  retryInitialMs: z.number().int().positive().default(250).describe('First reconnect/resend delay; doubles up to retryMaxMs, with full jitter.'),
  retryMaxMs: z.number().int().positive().default(30000).describe('Longest reconnect/resend delay.'),
  workerThread: z.boolean().default(true)
    .describe('Run the forwarder (journal reads, record formatting, compression, the Kafka client) on its own thread, so Kafka work never delays a device\'s acknowledgement.'),
});

/** Cross-field rules of the kafka block. */
function checkKafka(k: { client: unknown; compression: unknown }, ctx: z.RefinementCtx): void {
  // Only for a valid compression: an invalid one has its own problem already.
  if (k.client === 'kafkajs' && (k.compression === 'snappy' || k.compression === 'lz4')) {
    ctx.addIssue({ code: 'custom', path: ['compression'], message: `kafkajs supports only none or gzip, not ${k.compression}` });
  }
}

const journal = z.strictObject({
  synchronous: z.enum(['FULL', 'NORMAL']).default('FULL')
    .describe('Durability of a commit. FULL: an acknowledged reading survives a power cut (the WAL is flushed to the device before any acknowledgement or forward; see flushInlineBelowMs for where). NORMAL: it survives a process crash only.'),
  // 0.1 ms: about what handing a flush to a pool thread costs. Inline, a flush stops the
  // event loop for its whole length, and an outlier (tens of ms on a busy disk) for that
  // long: on a ~0.6 ms virtual disk, where the old default of 1 ms kept flushes inline,
  // the loop's longest stall was 20-40 % shorter on the pool at the same CPU (bench/README.md).
  flushInlineBelowMs: z.number().min(0).max(1000).default(0.1)
    .describe('synchronous FULL: a WAL flush whose moving average stays below this runs on the event loop right after the commit (a fast NVMe: cheaper than waking a pool thread); a slower one (an SD card, most SSDs) on the thread pool, so devices keep being served meanwhile. 0: always the thread pool.'),
  commitIntervalMs: z.number().min(0).max(1000).default(2)
    .describe('Group commit: how long a record waits for others to share its transaction; then the group is committed if it holds commitFillBytes (0: every turn of the event loop, whatever the size).'),
  commitFillBytes: z.number().int().min(0).default(4096)
    .describe('Group commit under light traffic: a group smaller than this after commitIntervalMs waits on, until it is this large or commitMaxWaitMs has passed, because every commit rewrites and flushes whole pages (the last leaf of a segment, its parent, the file header) however little it adds. 0: commit after commitIntervalMs whatever the size.'),
  commitMaxWaitMs: z.number().min(0).max(10_000).default(50)
    .describe('Group commit under light traffic: the longest a record waits for its commit (and its device for the acknowledgement). Larger: less flash written per reading; see the README for figures. Below commitIntervalMs: commitIntervalMs.'),
  maxBatchRecords: z.number().int().positive().default(2000).describe('Group commit: most records in one transaction.'),
  cacheBytes: z.number().int().min(64 * 1024).default(2 * 1024 ** 2)
    .describe('SQLite page cache of each journal connection (the gateway\'s writer, the forwarder\'s reader). Appends and reads in sequence order touch few pages and the kernel caches the file; better-sqlite3\'s own default, 16 MiB per connection, only filled the process\'s memory as the backlog grew.'),
  segmentRecords: z.number().int().min(16).default(16384)
    .describe('Records per journal segment (a table); a segment is dropped whole once Kafka acknowledged all of it, which writes far less flash than deleting rows.'),
  maxBytes: z.number().int().min(0).default(2 * 1024 ** 3)
    .describe('Cap on the journal database\'s bytes in use (0: none). Reached: fullPolicy applies. The WAL is bounded apart (at most an eighth of the cap, or 64 MiB).'),
  minFreeBytes: z.number().int().min(0).default(256 * 1024 ** 2)
    .describe('Floor on free space in the filesystem of dataDir: below it, fullPolicy applies as at the cap.'),
  fullPolicy: z.enum(['evict', 'refuse']).default('evict')
    .describe('At the cap or floor. evict: drop the oldest readings (dead letters and status next, aggregates and alerts last), announcing each gap on weir.status. refuse: stop acknowledging new readings (QoS 1/2, confirmable CoAP, HTTP get 503) so devices keep them.'),
  maxPendingRecords: z.number().int().positive().default(100000)
    .describe('Records waiting for a commit beyond which new ones are refused (WEIR_JOURNAL_BUSY).'),
});

const log = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('Log level (JSON lines on stdout).'),
});

export const configSchema = z.strictObject({
  gateway: gateway.default(() => gateway.parse({})),
  dataDir: z.string().default('./weir-data').describe('Journal directory.'),
  profiles: profiles.default(() => profiles.parse({})),
  mqtt: mqtt.default(() => mqtt.parse({})),
  coap: coapConfigSchema.default(() => coapConfigSchema.parse({})),
  http: http.default(() => http.parse({})),
  bridge: bridgeConfigSchema.default(() => bridgeConfigSchema.parse({})).describe('Subscribe to an existing site MQTT broker (MQTT 5 or 3.1.1), acknowledging each message only after its commit.'),
  serial: serialConfigSchema.default(() => serialConfigSchema.parse({})).describe('Devices on serial lines.'),
  kafka: kafka.superRefine(checkKafka, checkAlways).default(() => kafka.parse({})),
  journal: journal.default(() => journal.parse({})),
  analytics: analyticsConfigSchema.default(() => analyticsConfigSchema.parse({})).describe('Edge analytics: event-time windows and anomaly rules.'),
  log: log.default(() => log.parse({})),
});

export type WeirConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
