import type { Context } from '../core/context.js';
import type { ErrorCode } from '../core/errors.js';
import type { ClockStamp } from '../core/clock-sync.js';
import { unflagFutureTs } from '../analytics/analytics-stage.js';
import { markUnsynced, unmarkUnsynced } from '../journal/clock-corrections.js';
import { RETAIN_TAIL, type Journal, type JournalEntry, type StoredRecord } from '../journal/journal.js';
import type { Reading, Rejection } from '../profiles/profile.js';
import type { ProfileRegistry } from '../profiles/registry.js';
import type { Protocol } from '../profiles/schema.js';
import { RecentRecords, type RecordIdentity } from './dedup.js';

/** Records remembered for recognising resent payloads: as many as the journal keeps on disk. */
export const DEDUP_WINDOW = RETAIN_TAIL;

/** Dead letters carry at most this much of the payload, so Kafka (1 MiB per message by default) always takes them. */
export const DEADLETTER_PAYLOAD_MAX = 64 * 1024;

/** One payload as a source received it. */
export interface Delivery {
  protocol: Protocol;
  /** MQTT topic, CoAP/HTTP path, or serial port name: what profiles match on. */
  topic: string;
  payload: Buffer;
  /** Who sent it: MQTT client id, remote address, port name. */
  client: string;
  /** Size limit for this protocol; larger payloads are dead-lettered. */
  maxBytes: number;
  /** The source sends nothing more until this payload is acknowledged: commit without waiting for company (JournalEntry.eager). */
  eager?: boolean;
}

export interface IngestOutcome {
  readings: number;
  /** Error code and reason of each dead letter, for protocols that can tell the device. */
  rejects: ReadonlyArray<{ code: ErrorCode; reason: string }>;
  /** No profile matched and the source is configured to ignore such payloads. */
  ignored: boolean;
}

const EMPTY_PAYLOAD = Buffer.alloc(0);

/** The outcome of every payload without dead letters shares this one. */
const NO_REJECTS: IngestOutcome['rejects'] = Object.freeze([]);

export type IngestCallback = (err: Error | null, outcome: IngestOutcome) => void;

/**
 * The path every source feeds: size check → profile match → decode → journal.
 *
 * submit() appends synchronously (so the journal keeps each device's order exactly
 * as submit() was called) and calls back once every record of the payload is
 * committed — only then may the source acknowledge the device. A bad payload is
 * committed as a dead letter and acknowledged like a good one: the device must not
 * resend it forever. The callback carries an error only when the journal could not
 * commit (closed, busy, disk); then the source must not acknowledge.
 */
export class Ingest {
  /** A remembered record (only readings and dead letters are) is confirmed against the journal's copy (dedup.ts). */
  private readonly recent = new RecentRecords(DEDUP_WINDOW, (seq) => {
    const r = this.journal.record(seq);
    return r && asBuilt(r);
  });

  constructor(
    private readonly ctx: Context,
    private readonly journal: Journal,
    private profiles: ProfileRegistry,
    /** Gateway time of receipt; the gateway passes its ClockSync's (provisional until NTP synced). */
    private readonly stamp: () => ClockStamp = () => ({ received: ctx.clock.now(), unsynced: false }),
  ) {
    ctx.metrics.onCollect(() => this.flushReceived());
  }

  /**
   * Payloads received per protocol since the last scrape, added to weir_received_total
   * when /metrics is rendered (Metrics.onCollect). Why not inc() per payload: even a
   * counter bound to its label hashes the label set at every call, ~1 % of the gateway
   * thread at full ingest in the CPU profile.
   */
  private readonly receivedSinceScrape = new Map<Protocol, number>();

  private countReceived(protocol: Protocol): void {
    this.receivedSinceScrape.set(protocol, (this.receivedSinceScrape.get(protocol) ?? 0) + 1);
  }

  private flushReceived(): void {
    for (const [protocol, n] of this.receivedSinceScrape) this.ctx.metrics.received.labels(protocol).inc(n);
    this.receivedSinceScrape.clear();
  }

  /**
   * Call once the journal is open, before any submit(): remembers its recent records, by
   * the body as ingest built it — without the marks added after the identity was taken
   * (the unsynced-clock mark here, analytics' future-ts flag in the commit) — so a resend
   * matches what is stored.
   */
  open(): void {
    const tail = this.journal.tail(DEDUP_WINDOW).reverse();
    for (const r of tail) {
      if (r.stream === 'readings' || r.stream === 'deadletter') this.recent.add(RecentRecords.hashOf(asBuilt(r)), r.seq);
    }
  }

  /** Swaps the profiles (live reload); payloads already submitted are unaffected. */
  setProfiles(profiles: ProfileRegistry): void {
    this.profiles = profiles;
  }

  submit(d: Delivery, done: IngestCallback): void {
    const { received, unsynced } = this.stamp();
    this.countReceived(d.protocol);
    if (d.payload.length > d.maxBytes) {
      const reject = { code: 'WEIR_PAYLOAD_TOO_LARGE' as const, reason: `payload of ${d.payload.length} bytes exceeds the limit of ${d.maxBytes}` };
      return this.commit([this.deadLetter(d, received, reject)], [reject], done, unsynced, d.eager);
    }
    const match = this.profiles.match(d.protocol, d.topic);
    if (!match) {
      if (d.protocol === 'mqtt' && this.ctx.config.mqtt.unmatched === 'ignore') {
        return process.nextTick(done, null, { readings: 0, rejects: [], ignored: true });
      }
      const reject = { code: 'WEIR_NO_PROFILE' as const, reason: `no device profile matches ${d.protocol} "${d.topic}"` };
      return this.commit([this.deadLetter(d, received, reject)], [reject], done, unsynced, d.eager);
    }
    const { readings, rejects } = match.profile.decode({ payload: d.payload, params: match.params, received });
    const entries = readings.map((r) => readingEntry(r, received));
    for (const reject of rejects) entries.push(this.deadLetter(d, received, reject, match.profile.name));
    this.commit(entries, rejects, done, unsynced, d.eager);
  }

  /**
   * A payload the source had to drop unread: an MQTT packet announcing more than the
   * connection's cap, cut off before it was buffered (mqtt-packet-guard.ts), or an
   * HTTP body over http.maxBodyBytes. It is dead-lettered like any oversize payload —
   * the reason, the size, no payload bytes — so what the metrics count is on
   * weir.deadletter too. `done` as for submit(); the device is told no more than its
   * protocol allows (MQTT: the connection closes; HTTP: 413).
   */
  refuseUnread(d: Pick<Delivery, 'protocol' | 'topic' | 'client'>, announcedBytes: number, reject: Rejection, done: IngestCallback): void {
    const { received, unsynced } = this.stamp();
    this.countReceived(d.protocol);
    const delivery: Delivery = { ...d, payload: EMPTY_PAYLOAD, maxBytes: 0 };
    this.commit([this.deadLetter(delivery, received, reject, undefined, announcedBytes)], [reject], done, unsynced, true);
  }

  private deadLetter(d: Delivery, received: number, r: Rejection, profile?: string, unreadBytes?: number): JournalEntry {
    this.ctx.metrics.deadLetters.labels(r.code).inc();
    this.ctx.log.debug({ code: r.code, topic: d.topic, client: d.client }, r.reason);
    const body: Record<string, unknown> = {
      protocol: d.protocol,
      source: d.topic,
      client: d.client,
      code: r.code satisfies ErrorCode,
      reason: r.reason,
      payload_b64: '',
    };
    const payload = r.payload ?? d.payload;
    body.payload_b64 = payload.subarray(0, DEADLETTER_PAYLOAD_MAX).toString('base64');
    if (payload.length > DEADLETTER_PAYLOAD_MAX || unreadBytes !== undefined) {
      body.payload_truncated = true;
      body.payload_bytes = unreadBytes ?? payload.length;
    }
    if (profile) body.profile = profile;
    if (r.device) body.device = r.device;
    return { stream: 'deadletter', key: r.device ?? d.client, received, body: JSON.stringify(body) };
  }

  private commit(all: JournalEntry[], rejects: Rejection[], done: IngestCallback, unsynced: boolean, eager = false): void {
    if (eager) for (const e of all) e.eager = true;
    const outcome: IngestOutcome = {
      readings: all.length - rejects.length,
      rejects: rejects.length === 0 ? NO_REJECTS : rejects.map((r) => ({ code: r.code, reason: r.reason })), ignored: false,
    };
    // Most payloads carry one reading: no arrays or counters for them (this runs per reading).
    if (all.length === 1) return this.commitOne(all[0]!, outcome, done, unsynced);
    // Each record's identity is hashed once (admit): looked up now, remembered once committed.
    const hashes: number[] = [];
    const entries: JournalEntry[] = [];
    for (const e of all) {
      const hash = this.admit(e, unsynced);
      if (hash === undefined) continue;
      hashes.push(hash);
      entries.push(e);
    }
    if (entries.length < all.length) this.ctx.metrics.duplicates.inc(all.length - entries.length);
    // Nothing new (an empty JSON array, or a resend of committed records): acknowledge.
    if (entries.length === 0) return process.nextTick(done, null, outcome);
    let left = entries.length;
    let failed: Error | null = null;
    entries.forEach((entry, i) => {
      const hash = hashes[i]!;
      this.journal.append(entry, (err, seq) => {
        // Remembered only once durable: a resend racing its original's commit is journaled again (rare, harmless).
        if (!err) this.recent.add(hash, seq);
        failed ??= err;
        if (--left === 0) done(failed, outcome);
      });
    });
  }

  /** commit() of a single record, with the same steps. */
  private commitOne(e: JournalEntry, outcome: IngestOutcome, done: IngestCallback, unsynced: boolean): void {
    const hash = this.admit(e, unsynced);
    if (hash === undefined) {
      this.ctx.metrics.duplicates.inc(1);
      return process.nextTick(done, null, outcome);
    }
    this.journal.append(e, (err, seq) => {
      if (!err) this.recent.add(hash, seq);
      done(err, outcome);
    });
  }

  /**
   * One record's check before it is appended: its identity's hash, or undefined for a
   * resend of a remembered record. The hash is taken before the unsynced mark, so a
   * resend after the clock synced is recognised too; provisional stamps are then marked
   * so the forwarder can correct them once the clock syncs.
   */
  private admit(e: JournalEntry, unsynced: boolean): number | undefined {
    const hash = RecentRecords.hashOf(e);
    if (this.recent.has(e, hash)) return undefined;
    if (unsynced) e.body = markUnsynced(e.body);
    return hash;
  }
}

/** A stored record's identity as ingest built it: its body without the marks added after (see Ingest.open). */
function asBuilt(r: StoredRecord): RecordIdentity {
  return { key: r.key, ts: r.ts, profile: r.profile, body: unmarkUnsynced(unflagFutureTs(r.body)) };
}

/** A reading as journaled: weir.readings' value less what the journal supplies (see JournalEntry). */
export function readingEntry(r: Reading, received: number): JournalEntry {
  return {
    stream: 'readings',
    key: r.device,
    received,
    ts: r.ts,
    profile: r.profile,
    body: JSON.stringify({ tags: r.tags, metrics: r.metrics }),
    reading: r,
  };
}
