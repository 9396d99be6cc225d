import { AnalyticsStage } from '../analytics/analytics-stage.js';
import { analyticsDeclarations } from '../analytics/declarations.js';
import type { WeirConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import { ClockSync, timesyncdProbe } from '../core/clock-sync.js';
import type { Context } from '../core/context.js';
import { createLogger, type Logger } from '../core/logger.js';
import { WeirError } from '../core/errors.js';
import { Metrics } from '../core/metrics.js';
import { loadProducerFactory, type ProducerFactory } from '../forwarder/create-producer.js';
import { Forwarder } from '../forwarder/forwarder.js';
import type { ForwarderHandle } from '../forwarder/uplink.js';
import { ForwarderThread } from '../forwarder/forwarder-thread.js';
import type { KafkaProducerPort } from '../forwarder/producer.js';
import { HttpServer } from '../http/server.js';
import { Ingest } from '../ingest/ingest.js';
import { markUnsynced } from '../journal/clock-corrections.js';
import { appendAsync } from '../journal/journal.js';
import { SqliteJournal } from '../journal/sqlite-journal.js';
import type { ProfileRegistry } from '../profiles/registry.js';
import { CoapObserveSource } from '../sources/coap/observe.js';
import { CoapServerSource } from '../sources/coap/server.js';
import { HttpIngestSource } from '../sources/http-ingest.js';
import { MqttBridgeSource } from '../sources/mqtt-bridge.js';
import { MqttBrokerSource } from '../sources/mqtt-broker.js';
import { SerialSource } from '../sources/serial/serial-source.js';
import type { Source } from '../sources/source.js';
import { buildStatus, VERSION, type GatewayStatus } from './status.js';

export interface GatewayOptions {
  config: WeirConfig;
  profiles: ProfileRegistry;
  log?: Logger;
  clock?: Clock;
  /** Replaces the Kafka client (tests of the gateway without Kafka say so where used). */
  producer?: KafkaProducerPort;
}

/**
 * The running gateway: journal → forwarder → HTTP → sources, started in that order
 * and stopped in reverse, in phases: stop accepting (in-flight payloads still commit
 * and are acknowledged) → last forward within gateway.stopTimeoutMs → close Kafka →
 * close the journal → close HTTP. A failed start undoes what it had started.
 */
export class Gateway {
  readonly ctx: Context;
  readonly journal: SqliteJournal;
  readonly forwarder: ForwarderHandle;
  readonly ingest: Ingest;
  readonly http: HttpServer;
  readonly mqtt: MqttBrokerSource | null;
  /** Edge analytics, whenever analytics.enabled (with or without windows and rules declared, so a reload can add them). */
  readonly analytics: AnalyticsStage | null = null;
  private cancelTickTimer: (() => void) | null = null;
  private cancelClockTimer: (() => void) | null = null;
  /** Gateway time for every record: provisional until the wall clock is trustworthy. */
  readonly clockSync: ClockSync;
  private readonly sources: Source[] = [];
  private readonly abort = new AbortController();
  private startedAt = 0;
  private running = false;
  private cancelStatusTimer: (() => void) | null = null;
  private stopping: Promise<void> | null = null;

  private profiles: ProfileRegistry;

  private constructor(opts: GatewayOptions, createProducer: ProducerFactory | undefined) {
    const { config } = opts;
    this.profiles = opts.profiles;
    this.ctx = {
      config,
      log: opts.log ?? createLogger(config.log.level),
      clock: opts.clock ?? systemClock,
      metrics: new Metrics(),
      signal: this.abort.signal,
    };
    this.journal = new SqliteJournal(this.ctx);
    const { clock } = config.gateway;
    this.clockSync = new ClockSync({
      clock: this.ctx.clock, minPlausibleMs: Date.parse(clock.minPlausible), jumpThresholdMs: clock.jumpThresholdMs,
      probe: clock.probe === 'timesyncd' ? timesyncdProbe() : undefined,
    });
    const { declarations, problems } = analyticsDeclarations(config.analytics, opts.profiles);
    if (problems.length > 0) throw new WeirError('WEIR_CONFIG_INVALID', problems.join('\n'));
    // With analytics enabled the stage runs even before any profile declares windows or
    // rules (it then costs two map lookups per reading), so a reload can add them.
    if (config.analytics.enabled) {
      this.analytics = new AnalyticsStage(this.ctx, declarations);
      this.journal.setProcessor(this.analytics, config.analytics.checkpointIntervalMs);
    }
    // An injected producer lives in this thread, so its forwarder does too.
    this.forwarder = config.kafka.workerThread && !opts.producer
      ? new ForwarderThread(this.ctx, this.journal)
      : new Forwarder(this.ctx, this.journal, opts.producer ?? createProducer!(this.ctx), { ackedThrough: () => this.journal.stats().ackedThrough });
    this.ingest = new Ingest(this.ctx, this.journal, opts.profiles, () => this.clockSync.stamp());
    const httpIngest = new HttpIngestSource(this.ctx, this.ingest);
    this.http = new HttpServer(this.ctx, {
      ready: () => this.ready(),
      status: () => this.status(),
      ingest: (req, res, path) => httpIngest.handle(req, res, path),
    });
    this.sources.push(httpIngest);
    this.mqtt = config.mqtt.enabled ? new MqttBrokerSource(this.ctx, this.ingest) : null;
    if (this.mqtt) this.sources.push(this.mqtt);
    if (config.coap.enabled) this.sources.push(new CoapServerSource(this.ctx, this.ingest, config.coap));
    if (config.coap.observe.length > 0) this.sources.push(new CoapObserveSource(this.ctx, this.ingest, config.coap));
    if (config.bridge.enabled) this.sources.push(new MqttBridgeSource(this.ctx, this.ingest, config.bridge));
    // SerialSource loads the native serialport addon only when a port is configured.
    if (config.serial.ports.length > 0) this.sources.push(new SerialSource(this.ctx, this.ingest, config.serial));
    this.ctx.metrics.onCollect(() => this.refreshGauges());
  }

  static async start(opts: GatewayOptions): Promise<Gateway> {
    // The Kafka client is loaded only where a producer runs in this thread.
    const inThread = !opts.producer && !opts.config.kafka.workerThread;
    const gw = new Gateway(opts, inThread ? await loadProducerFactory(opts.config.kafka.client, opts.log) : undefined);
    try {
      await gw.startStages();
    } catch (err) {
      await gw.stop().catch(() => undefined);
      throw err;
    }
    return gw;
  }

  private async startStages(): Promise<void> {
    const { log, clock, config } = this.ctx;
    this.startedAt = clock.now();
    this.journal.open();
    this.ingest.open();
    this.forwarder.start();
    await this.http.start();
    for (const source of this.sources) await source.start();
    if (this.analytics && this.mqtt) this.analytics.setLocalPublish((topic, payload) => this.mqtt!.publishLocal(topic, payload));
    if (this.analytics) this.scheduleTick(config.analytics.tickIntervalMs);
    this.scheduleClockCheck();
    if (this.clockSync.state === 'unsynced') log.warn('gateway clock not synced yet: received times are provisional and will be corrected once it syncs');
    this.running = true;
    this.emitStatus('started');
    this.scheduleStatus(config.gateway.statusIntervalSeconds);
    log.info({ gateway: config.gateway.id, version: VERSION, profiles: this.profiles.size }, 'gateway started');
  }

  /** Idle windows and stale devices are checked at journaled ticks (see journal/processor.ts). */
  private scheduleTick(ms: number): void {
    this.cancelTickTimer = this.ctx.clock.setTimer(ms, () => {
      this.journal.tick(this.clockSync.stamp().received);
      this.scheduleTick(ms);
    });
  }

  /** Every second: has the clock synced or jumped? (core/clock-sync.ts) */
  private scheduleClockCheck(): void {
    this.cancelClockTimer = this.ctx.clock.setTimer(1000, () => {
      this.checkClock();
      this.scheduleClockCheck();
    });
  }

  /** Acts on a sync or jump of the wall clock; exposed for tests that drive the clock. */
  checkClock(): void {
    const c = this.clockSync.check();
    this.ctx.metrics.clockSynced.set(this.clockSync.state === 'synced' ? 1 : 0);
    if (!c) return;
    this.ctx.metrics.clockEvents.labels(c.reason).inc();
    if (c.reason === 'sync') {
      this.ctx.log.warn({ offsetMs: c.offsetMs, provisional: c.provisional }, 'gateway clock synced; correcting the received times stamped before');
    } else {
      this.ctx.log.warn({ stepMs: c.offsetMs, state: this.clockSync.state }, 'gateway clock jumped');
    }
    // Both move analytics' processing times (idle timeouts, stale rules) with the stamps.
    this.journal.correctClock(c.offsetMs, c.reason);
  }

  private scheduleStatus(seconds: number): void {
    if (seconds <= 0) return;
    this.cancelStatusTimer = this.ctx.clock.setTimer(seconds * 1000, () => {
      this.emitStatus('heartbeat');
      this.scheduleStatus(seconds);
    });
  }

  /** Puts a status record on the journal's status stream (→ weir.status). */
  emitStatus(event: string): void {
    const s = this.status();
    const body = JSON.stringify({
      event, version: VERSION, uptime_s: s.uptimeSeconds, uplink: s.uplink.state,
      backlog: s.backlog, oldest_unsent_s: s.oldestUnsentAgeSeconds, journal_bytes: s.disk.journalBytes, last_seq: s.lastSeq,
    });
    // Stamped like a reading: before the clock syncs, marked, and corrected when forwarded.
    const { received, unsynced } = this.clockSync.stamp();
    appendAsync(this.journal, { stream: 'status', key: this.ctx.config.gateway.id, received, body: unsynced ? markUnsynced(body) : body })
      .catch((err) => this.ctx.log.warn({ err }, 'could not journal a status record'));
  }

  ready(): { ready: boolean; checks: Record<string, unknown> } {
    // Listeners gate readiness; client sources (bridge, observe) depend on peers, like
    // the Kafka uplink: reported, not required.
    const statuses = this.sources.map((s) => [s.name, s.status()] as const);
    const listening = Object.fromEntries(statuses.filter(([, st]) => 'listening' in st).map(([name, st]) => [name, st.listening === true]));
    const failed = this.running ? this.journal.stats().failed : undefined;
    // Not once stop() began: sources stop one by one, and those without a listener (bridge,
    // observe, serial) go first, so the listeners alone would still say ready.
    const ready = this.running && this.stopping === null && !failed && Object.values(listening).every(Boolean);
    const checks: Record<string, unknown> = { journal: failed ? `failed: ${failed}` : this.running ? 'open' : 'closed', listeners: listening, uplink: this.forwarder.status().state };
    if (this.stopping) checks.stopping = true;
    const bridge = statuses.find(([name]) => name === 'bridge');
    if (bridge) checks.bridge = bridge[1].connected === true ? 'connected' : 'disconnected';
    return { ready, checks };
  }

  status(): GatewayStatus {
    return buildStatus(this.ctx, this.startedAt, this.journal.stats(), this.forwarder.status(), this.sources, this.analytics, this.clockSync.state, this.profiles.list().map((p) => p.name));
  }

  /**
   * SIGHUP: new device profiles and analytics declarations, without dropping a device
   * connection. Everything is validated first; on any problem this throws and the
   * running configuration stays. Other config keys (ports, Kafka, journal) need a restart.
   */
  async reload(profiles: ProfileRegistry, config: WeirConfig): Promise<void> {
    const { declarations, problems } = analyticsDeclarations(config.analytics, profiles);
    if (problems.length > 0) throw new WeirError('WEIR_CONFIG_INVALID', problems.join('\n'));
    if (this.analytics) {
      // Engines are built before anything is swapped: a rule or window they refuse leaves all as it was.
      new AnalyticsStage({ ...this.ctx, metrics: new Metrics({ processMetrics: false }) }, declarations).restore(null);
      const stage = this.analytics;
      await this.journal.reconfigureProcessor(() => stage.reconfigure(declarations));
    }
    this.ingest.setProfiles(profiles);
    this.profiles = profiles;
    this.ctx.log.info({ profiles: profiles.list().map((p) => p.name), windows: declarations.windows.length }, 'profiles and rules reloaded');
  }

  private refreshGauges(): void {
    const stats = this.journal.stats();
    for (const [stream, n] of Object.entries(stats.backlog)) this.ctx.metrics.backlog.labels(stream).set(n);
    this.ctx.metrics.oldestUnsentAge.set(stats.oldestReceived === null ? 0 : Math.max(0, (this.ctx.clock.now() - stats.oldestReceived) / 1000));
    this.ctx.metrics.journalBytes.set(stats.diskBytes);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { log, config } = this.ctx;
      this.abort.abort();
      this.cancelStatusTimer?.();
      this.cancelTickTimer?.();
      this.cancelClockTimer?.();
      for (const source of [...this.sources].reverse()) await source.stop().catch((err) => log.error({ err }, `stopping ${source.name} failed`));
      if (this.running) this.emitStatus('stopped');
      this.running = false;
      await this.forwarder.stop(config.gateway.stopTimeoutMs);
      await this.journal.close();
      await this.http.stop();
      log.info('gateway stopped');
    })();
    return this.stopping;
  }
}
