import type { Context } from '../core/context.js';
import { LogThrottle } from '../core/log-throttle.js';
import { makeFormatter } from '../forwarder/record-format.js';
import { UNSYNCED_MARK_END } from '../journal/clock-corrections.js';
import type { JournalEntry, StoredRecord } from '../journal/journal.js';
import type { RecordProcessor } from '../journal/processor.js';
import type { AnalyticsDeclarations } from './declarations.js';
import { packSnapshot, unpackSnapshot } from './packed-snapshot.js';
import { aggregateEntry, alertEntry, alertTopic } from './records.js';
import { RuleEngine } from './rules/engine.js';
import type { Alert } from './rules/types.js';
import { WindowEngine } from './windows/engine.js';
import type { Aggregate } from './windows/types.js';

/**
 * Snapshot format version: bump when the layout changes (a version it cannot read starts
 * afresh, loudly). 3: packed, with the windows of provisional event times; 2: packed
 * (packed-snapshot.ts), without them; 1: JSON. 2 and 1 are still read after an upgrade.
 */
const SNAPSHOT_VERSION = 3;

/** Flag added to a reading's record when its event time is too far ahead of the gateway clock. */
export const FUTURE_TS_FLAG = 'future-ts';
const FUTURE_TS_SUFFIX = `,"flags":["${FUTURE_TS_FLAG}"]}`;

/** A stored reading's body without the future-ts flag process() appended: the body as ingest built it. */
export function unflagFutureTs(body: string): string {
  return body.endsWith(FUTURE_TS_SUFFIX) ? `${body.slice(0, -FUTURE_TS_SUFFIX.length)}}` : body;
}

/** Publishes one message on the embedded broker (QoS 1); set once the broker runs. */
export type LocalPublish = (topic: string, payload: string) => void;

interface Body {
  tags?: Record<string, string>;
  metrics?: Record<string, number>;
  clock?: string;
}

/**
 * Edge analytics as the journal's RecordProcessor: every committed reading goes
 * through the window engine and the rule engine, and what they emit — aggregates,
 * late corrections, alerts — is committed in the same transaction as the reading
 * (see journal/processor.ts for why that makes restarts exact).
 *
 * Processing time is the reading's journaled `received` (and a tick's journaled time),
 * never the clock, so a replay sees exactly what the live run saw.
 *
 * Provisional time (issue 4, point 3): a reading marked unsynced whose ts is its
 * received (the device sent no time) has a provisional event time. Its windows are
 * marked (windows/device-windows.ts) and its alerts too, so their times are corrected by
 * the sync's offset like the readings' (records.ts, journal/clock-corrections.ts).
 *
 * Bounded (analytics.maxDevices, analytics.forgetAfterMs; retention.ts): a reading of a
 * device new to an engine that is full is journaled and forwarded but not analysed by
 * it (counted, warned about once a minute); a tick forgets long-silent devices, and
 * tickChanged() tells the journal to log that tick so a replay forgets them too.
 */
export class AnalyticsStage implements RecordProcessor {
  private windows!: WindowEngine;
  private rules!: RuleEngine;
  private publish: LocalPublish | null = null;
  private readonly format: ReturnType<typeof makeFormatter>;
  private readonly log: Context['log'];
  private readonly warnings: LogThrottle;
  /** The last tick() forgot devices (in either engine): see tickChanged(). */
  private tickForgot = false;

  constructor(private readonly ctx: Context, private decl: AnalyticsDeclarations) {
    this.log = ctx.log.child({ component: 'analytics' });
    this.warnings = new LogThrottle(this.log, ctx.clock);
    this.format = makeFormatter(ctx.config);
    ctx.metrics.onCollect(() => {
      if (!this.windows) return;
      ctx.metrics.openWindows.set(this.windows.stats().openWindows);
      ctx.metrics.alertsFiring.set(this.rules.stats.firing);
    });
  }

  /** Alerts go to the embedded broker too, once it runs (analytics.alertsTopic). */
  setLocalPublish(publish: LocalPublish | null): void {
    this.publish = this.ctx.config.analytics.alertsTopic ? publish : null;
  }

  restore(snapshot: string | Uint8Array | null): void {
    const { maxFutureSkewMs, maxDevices, forgetAfterMs } = this.ctx.config.analytics;
    const bounds = { maxDevices, forgetAfterMs };
    const opts = { maxFutureSkewMs, ...bounds };
    if (snapshot === null) {
      this.windows = new WindowEngine(this.decl.windows, opts);
      this.rules = new RuleEngine(this.decl.rules, bounds);
      return;
    }
    let windows: unknown;
    let rules: unknown;
    if (typeof snapshot === 'string') {
      // Version 1, left by a gateway before the packed snapshot: one JSON document.
      const s = JSON.parse(snapshot) as { v?: unknown; windows?: unknown; rules?: unknown };
      if (s.v !== 1) throw new Error(`analytics snapshot version ${String(s.v)}, expected 1 or ${SNAPSHOT_VERSION}`);
      ({ windows, rules } = s);
    } else {
      const { header, block } = unpackSnapshot(snapshot);
      const h = header as { v?: unknown; windows?: unknown; rules?: unknown };
      if (h.v !== SNAPSHOT_VERSION && h.v !== 2) throw new Error(`analytics snapshot version ${String(h.v)}, expected 1 to ${SNAPSHOT_VERSION}`);
      windows = { header: h.windows, block };
      rules = h.rules;
    }
    this.windows = WindowEngine.restore(this.decl.windows, windows, opts);
    this.rules = RuleEngine.restore(this.decl.rules, rules, bounds);
    // Alerts of rules removed or changed since the snapshot resolve at the first live tick (RuleEngine.takeRetired).
    const dropped = this.windows.stats().droppedOnRestore;
    if (dropped > 0) this.log.warn({ dropped }, 'open windows of removed or changed window specs were dropped');
  }

  /**
   * New windows and rules (SIGHUP): the state carries over as a restore would — open
   * windows of changed or removed specs are dropped, alerts of changed or removed rules
   * resolve at the next tick. The journal calls this inside a commit, between two
   * checkpoints, so no replay ever spans the change.
   */
  reconfigure(decl: AnalyticsDeclarations): void {
    const state = this.snapshot();
    const before = this.decl;
    this.decl = decl;
    try {
      this.restore(state);
    } catch (err) {
      this.decl = before;
      this.restore(state);
      throw err;
    }
  }

  snapshot(): Uint8Array {
    const w = this.windows.snapshot();
    return packSnapshot({ v: SNAPSHOT_VERSION, windows: w.header, rules: this.rules.snapshot() }, w.doubles, w.fill);
  }

  process(entry: JournalEntry & { seq: number }): JournalEntry[] {
    if (entry.stream !== 'readings') return [];
    const out: JournalEntry[] = [];
    // Ingest appends the unsynced marker last (clock-corrections.ts: markUnsynced).
    const unsynced = entry.body.endsWith(UNSYNCED_MARK_END);
    const body: Body = entry.reading ?? parseBody(entry.body);
    const future = this.evaluate(entry.key, entry.profile, entry.ts, entry.received, body, unsynced || body.clock === 'unsynced', out, true);
    // Flagged on the reading itself, so the central tier sees why it was not aggregated.
    if (future) entry.body = `${entry.body.slice(0, -1)}${FUTURE_TS_SUFFIX}`;
    return out;
  }

  replay(record: StoredRecord): void {
    if (record.stream !== 'readings') return;
    const body = parseBody(record.body);
    this.evaluate(record.key, record.profile, record.ts, record.received, body, body.clock === 'unsynced', [], false);
  }

  tick(now: number): JournalEntry[] {
    return this.tickAt(now, true);
  }

  replayTick(now: number): void {
    this.tickAt(now, false);
  }

  /** Whether the last tick forgot devices: it changed state, so the journal must log it even when it derived nothing. */
  tickChanged(): boolean {
    return this.tickForgot;
  }

  private tickAt(now: number, live: boolean): JournalEntry[] {
    const out: JournalEntry[] = [];
    const forgotBefore = this.windows.forgotten + this.rules.forgotten;
    for (const a of this.rules.takeRetired(now, live)) out.push(alertEntry(a, now));
    for (const a of this.windows.advanceIdle(now, this.ctx.config.analytics.idleTimeoutMs)) out.push(aggregateEntry(a, now));
    for (const a of this.rules.tick(now)) out.push(alertEntry(a, now));
    this.tickForgot = this.windows.forgotten + this.rules.forgotten !== forgotBefore;
    return out;
  }

  /** Also the sync's offset for the windows of provisional event times (WindowEngine.shiftProcessingTime). */
  shiftClock(offsetMs: number): void {
    this.windows.shiftProcessingTime(offsetMs);
    this.rules.shiftProcessingTime(offsetMs);
  }

  committed(derived: ReadonlyArray<JournalEntry & { seq: number }>): void {
    const m = this.ctx.metrics;
    for (const r of derived) {
      if (r.stream === 'alerts') {
        const body = JSON.parse(r.body) as { state: string; rule: string };
        m.alerts.labels(body.state).inc();
        if (this.publish) this.publishAlert(r, body.rule);
      } else if (r.stream === 'aggregates') {
        m.aggregates.inc();
      }
    }
  }

  /** The alerts firing now, for `weir status`. */
  firing(): Alert[] {
    return this.rules?.firing() ?? [];
  }

  stats(): { openWindows: number; windowDevices: number; lateReadings: number; futureReadings: number; alertsFiring: number; ruleKeys: number; ruleDevices: number } {
    const w = this.windows.stats();
    return {
      openWindows: w.openWindows, windowDevices: w.keys, lateReadings: w.lateTotal, futureReadings: w.futureSkewTotal,
      alertsFiring: this.rules.stats.firing, ruleKeys: this.rules.stats.keys, ruleDevices: this.rules.entries,
    };
  }

  /** Feeds one reading to both engines; returns whether it was refused for future skew. */
  private evaluate(
    device: string, profile: string | undefined, ts: number | undefined, received: number, body: Body, unsyncedClock: boolean, out: JournalEntry[], live: boolean,
  ): boolean {
    if (profile === undefined || ts === undefined) return false;
    // ts = received on a reading stamped unsynced: the gateway's provisional time (applyClockCorrections' test too).
    const provisionalTs = unsyncedClock && ts === received;
    const reading = { device, profile, ts, received, tags: body.tags ?? {}, metrics: body.metrics ?? {}, unsyncedClock, provisionalTs };
    const r = this.windows.add(reading, received);
    for (const a of r.emitted) out.push(aggregateEntry(a, received));
    for (const l of r.late) out.push(aggregateEntry(l.correction as Aggregate, received));
    if (live) {
      if (r.late.length > 0) this.ctx.metrics.lateReadings.inc(r.late.length);
      if (r.futureSkew) this.ctx.metrics.futureReadings.inc();
    }
    // A reading refused by the windows for its time (or the device cap) is still checked by
    // the rules, except one from the future: its event time would corrupt time-based rule state.
    if (r.futureSkew) return true;
    const refusedBefore = this.rules.refused;
    // An alert's ts is the reading's ts, or (stale) its received: provisional when it equals that provisional received.
    for (const a of this.rules.evaluate(reading)) out.push(alertEntry(a, received, unsyncedClock && a.ts === received));
    if (live && (r.overCap === true || this.rules.refused !== refusedBefore)) this.refused(device);
    return false;
  }

  /** A reading of a device new to a full engine (analytics.maxDevices): counted, and warned about at most once a minute. */
  private refused(device: string): void {
    this.ctx.metrics.devicesRefused.inc();
    this.warnings.warn('devices-refused', { device, maxDevices: this.ctx.config.analytics.maxDevices },
      'analytics.maxDevices devices tracked: readings of new devices are journaled and forwarded, not analysed (a client inventing device ids?)');
  }

  private publishAlert(r: JournalEntry & { seq: number }, rule: string): void {
    try {
      const topic = alertTopic(this.ctx.config.analytics.alertsTopic, { profile: r.profile ?? '', device: r.key, rule });
      this.publish!(topic, this.format(r).value);
    } catch (err) {
      this.log.warn({ err }, 'could not publish an alert on the local broker');
    }
  }
}

function parseBody(body: string): Body {
  return JSON.parse(body) as Body;
}
