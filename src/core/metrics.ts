import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every Prometheus instrument the gateway exports, in one registry per gateway (tests
 * run several gateways in one process). Gauges that mirror state (backlog, uplink)
 * are refreshed by the owning component through `onCollect`, so a scrape costs the
 * hot path nothing.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly received = new Counter({
    name: 'weir_received_total', help: 'Payloads received from devices, by protocol.',
    labelNames: ['protocol'] as const, registers: [this.registry],
  });
  readonly committed = new Counter({
    name: 'weir_records_committed_total', help: 'Records committed to the journal, by stream.',
    labelNames: ['stream'] as const, registers: [this.registry],
  });
  readonly forwarded = new Counter({
    name: 'weir_records_forwarded_total', help: 'Records acknowledged by Kafka, by stream.',
    labelNames: ['stream'] as const, registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'weir_deadletters_total', help: 'Payloads dead-lettered, by error code.',
    labelNames: ['code'] as const, registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'weir_duplicates_total', help: 'Resent payloads acknowledged without journaling them again (already committed).',
    registers: [this.registry],
  });
  readonly kafkaErrors = new Counter({
    name: 'weir_kafka_errors_total',
    help: 'Failed Kafka connects and sends, by kind: connect, send (resent by the same producer), timeout (no answer within kafka.requestTimeoutMs), producer_reset (Kafka no longer knew the producer: a new one resends, copies possible), too_large, thread.',
    labelNames: ['kind'] as const, registers: [this.registry],
  });
  readonly backlog = new Gauge({
    name: 'weir_backlog_records', help: 'Records in the journal not yet acknowledged by Kafka, by stream.',
    labelNames: ['stream'] as const, registers: [this.registry],
  });
  readonly oldestUnsentAge = new Gauge({
    name: 'weir_oldest_unsent_age_seconds', help: 'Age of the oldest record not yet acknowledged by Kafka (0 when none).',
    registers: [this.registry],
  });
  readonly journalBytes = new Gauge({
    name: 'weir_journal_bytes', help: 'Bytes of the journal files on disk.', registers: [this.registry],
  });
  readonly uplinkUp = new Gauge({
    name: 'weir_uplink_up', help: '1 while the Kafka uplink is connected and sending, else 0.', registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: 'weir_journal_commit_seconds', help: 'Time to commit one group of records, fsync included.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1], registers: [this.registry],
  });
  readonly forwardLatency = new Histogram({
    name: 'weir_forward_latency_seconds', help: 'From receipt at the gateway to acknowledgement by Kafka, observed for the oldest and newest record of each request.',
    buckets: [0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300], registers: [this.registry],
  });
  readonly commitRecords = new Histogram({
    name: 'weir_journal_commit_records', help: 'Records per journal commit (group commit size).',
    buckets: [1, 4, 16, 64, 256, 1024, 4096], registers: [this.registry],
  });
  readonly mqttClients = new Gauge({
    name: 'weir_mqtt_clients', help: 'Connected MQTT clients.', registers: [this.registry],
  });
  readonly mqttCut = new Counter({
    name: 'weir_mqtt_connections_cut_total',
    help: 'MQTT connections the broker refused or closed to protect the gateway: connection_limit (mqtt.maxConnections), oversize_packet, slow_subscriber (QoS 1/2 messages beyond mqtt.subscriberBufferBytes waiting for it, or no data taken for mqtt.slowSubscriberTimeoutMs).',
    labelNames: ['reason'], registers: [this.registry],
  });
  readonly mqttDropped = new Counter({
    name: 'weir_mqtt_messages_dropped_total',
    help: 'QoS 0 messages the embedded broker did not deliver to a subscriber because mqtt.subscriberBufferBytes already waited for it (MQTT 3.1.1 §4.3.1: at most once).',
    registers: [this.registry],
  });

  readonly openWindows = new Gauge({
    name: 'weir_analytics_open_windows', help: 'Open window keys: one per (device, window, series, window start) holding readings.', registers: [this.registry],
  });
  readonly lateReadings = new Counter({
    name: 'weir_analytics_late_readings_total', help: 'Readings that arrived after their window closed (each is counted on weir.aggregates as a late correction).', registers: [this.registry],
  });
  readonly futureReadings = new Counter({
    name: 'weir_analytics_future_readings_total', help: 'Readings stamped beyond analytics.maxFutureSkewMs ahead of the gateway clock: flagged, not aggregated.', registers: [this.registry],
  });
  readonly devicesRefused = new Counter({
    name: 'weir_analytics_devices_refused_total',
    help: 'Readings of a device new to the window or rule engine while it already tracked analytics.maxDevices devices: journaled and forwarded, not analysed.',
    registers: [this.registry],
  });
  readonly aggregates = new Counter({
    name: 'weir_analytics_aggregates_total', help: 'Aggregates (and late corrections) committed to the journal.', registers: [this.registry],
  });
  readonly alerts = new Counter({
    name: 'weir_alerts_total', help: 'Alert state changes committed to the journal, by state.', labelNames: ['state'] as const, registers: [this.registry],
  });
  readonly alertsFiring = new Gauge({
    name: 'weir_alerts_firing', help: 'Alert keys firing now.', registers: [this.registry],
  });

  readonly clockSynced = new Gauge({
    name: 'weir_clock_synced', help: '1 while the gateway clock is trusted (plausible, NTP synced where known), else 0: received times are provisional.', registers: [this.registry],
  });
  readonly clockEvents = new Counter({
    name: 'weir_clock_events_total', help: 'Gateway clock events: sync (provisional times corrected) and jump (a step of the wall clock).', labelNames: ['event'] as const, registers: [this.registry],
  });

  readonly evicted = new Counter({
    name: 'weir_journal_evicted_total', help: 'Unsent records evicted at the journal\'s disk limit (journal.fullPolicy: evict), by stream; each eviction is a gap record on weir.status.',
    labelNames: ['stream'] as const, registers: [this.registry],
  });

  readonly journalQuarantined = new Counter({
    name: 'weir_journal_quarantined_total', help: 'Journal files that failed the integrity check at start and were moved aside (what could be read was kept).', registers: [this.registry],
  });

  readonly forwarderHeap = new Gauge({
    name: 'weir_forwarder_thread_heap_bytes', help: 'V8 heap of the forwarder\'s thread (kafka.workerThread), its own isolate beside the weir_nodejs_heap_* of the main one: total (reserved), used, and young (its young generation\'s current size).',
    labelNames: ['kind'] as const, registers: [this.registry],
  });

  private collectors: Array<() => void> = [];
  private remotes: Array<() => Promise<object[]>> = [];

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'weir_' });
  }

  /** Registers a callback run before every scrape to refresh state gauges. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  /**
   * Adds the metrics of another thread (its registry's getMetricsAsJSON()) to every
   * scrape: same-named series are summed, as prom-client's AggregatorRegistry does
   * for a cluster's workers.
   */
  addRemote(fn: () => Promise<object[]>): void {
    this.remotes.push(fn);
  }

  async render(): Promise<string> {
    for (const fn of this.collectors) fn();
    if (this.remotes.length === 0) return this.registry.metrics();
    const all = await Promise.all([this.registry.getMetricsAsJSON(), ...this.remotes.map((fn) => fn())]);
    return AggregatorRegistry.aggregate(all).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
