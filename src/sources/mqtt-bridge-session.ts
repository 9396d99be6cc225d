/**
 * What the bridge has subscribed in its persistent session at the site broker, kept in
 * `<dataDir>/bridge-session.json` so that the next run knows it too.
 *
 * Why: a resumed session keeps its subscriptions (MQTT 3.1.1 §3.1.2.4, MQTT 5
 * §3.1.2.4) until they are unsubscribed (§3.10) or the session ends. A filter removed
 * from the config would otherwise go on being delivered and journaled for as long as the
 * session lives — with a week's Session Expiry, or for ever on a 3.1.1 broker. The
 * record is what the bridge compares the config with to know what to UNSUBSCRIBE.
 *
 * The record names the site broker and client id it is about; for another one (either
 * changed in the config) it says nothing. A filter is added only after its SUBACK granted
 * it and removed after its UNSUBACK, and the record is emptied (on disk) as soon as a
 * CONNACK says the broker has no session — before anything is subscribed again. So a
 * crash in between leaves a filter recorded as subscribed only if it is: at worst the next
 * run subscribes or unsubscribes once more. Written only when it changes (rarely: SD
 * cards), atomically (a temporary file, fsync, rename).
 *
 * Call order: load() once at start; then clear(), granted() and unsubscribed() as the
 * CONNACK, SUBACK and UNSUBACK come; known, removed() and missing() any time. Errors: none thrown.
 * An unreadable record is logged and taken as unknown; a failed write is logged and the
 * record stays in memory for this run.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BridgeSubscription } from '../config/bridge-schema.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

export const SESSION_FILE = 'bridge-session.json';

interface Stored {
  url: string;
  clientId: string;
  /** Filter → the QoS the bridge asked for (not the one granted: that is the broker's to lower). */
  filters: Record<string, number>;
}

export class SessionRecord {
  private readonly file: string;
  /** Subscribed filters and their requested QoS; null while unknown (no record, or one about another session). */
  private filters: Map<string, number> | null = null;

  constructor(dataDir: string, private readonly url: string, private readonly clientId: string, private readonly log: Logger) {
    this.file = join(dataDir, SESSION_FILE);
  }

  load(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file: this.file, err: describeError(err) }, 'bridge session record unreadable: filters removed from the config cannot be unsubscribed');
      return;
    }
    try {
      const s = JSON.parse(text) as Stored;
      if (s.url !== this.url || s.clientId !== this.clientId) return; // another session's
      this.filters = new Map(Object.entries(s.filters).filter(([, qos]) => typeof qos === 'number'));
    } catch (err) {
      this.log.warn({ file: this.file, err: describeError(err) }, 'bridge session record unreadable: filters removed from the config cannot be unsubscribed');
    }
  }

  /** Whether the record knows what the session holds. */
  get known(): boolean {
    return this.filters !== null;
  }

  /** Recorded filters the config no longer has: to UNSUBSCRIBE. */
  removed(configured: readonly BridgeSubscription[]): string[] {
    if (!this.filters) return [];
    const keep = new Set(configured.map((s) => s.filter));
    return [...this.filters.keys()].filter((f) => !keep.has(f));
  }

  /** Configured filters the session does not hold with the same QoS: to SUBSCRIBE (all of them while unknown). */
  missing(configured: readonly BridgeSubscription[]): BridgeSubscription[] {
    return configured.filter((s) => this.filters?.get(s.filter) !== s.qos);
  }

  /** The broker has no session for the bridge: it holds no subscriptions. Returns whether the record had any. */
  clear(): boolean {
    if (this.filters?.size === 0) return false;
    const had = this.filters !== null;
    this.filters = new Map();
    this.save();
    return had;
  }

  /** A SUBACK granted these filters, subscribed with these QoS. */
  granted(entries: ReadonlyArray<readonly [string, number]>): void {
    if (entries.length === 0) return;
    this.filters ??= new Map();
    for (const [filter, qos] of entries) this.filters.set(filter, qos);
    this.save();
  }

  /** An UNSUBACK removed these filters. */
  unsubscribed(filters: readonly string[]): void {
    if (!this.filters || filters.length === 0) return;
    for (const f of filters) this.filters.delete(f);
    this.save();
  }

  private save(): void {
    const stored: Stored = { url: this.url, clientId: this.clientId, filters: Object.fromEntries(this.filters ?? []) };
    const tmp = `${this.file}.tmp`;
    try {
      syncWrite(tmp, `${JSON.stringify(stored)}\n`);
      renameSync(tmp, this.file);
      syncWrite(dirname(this.file)); // the rename itself, through a power cut
    } catch (err) {
      // An outdated record could claim a subscription the session does not hold; none is safe (the next run subscribes all).
      try {
        unlinkSync(this.file);
      } catch { /* already gone, or the disk refuses everything: logged below */ }
      this.log.warn({ file: this.file, err: describeError(err) }, 'bridge session record not saved: the next run subscribes every filter again and cannot unsubscribe removed ones');
    }
  }
}

/** Writes `text` to the file `path` (or, without text, just opens the directory `path`) and fsyncs it. */
function syncWrite(path: string, text?: string): void {
  const fd = openSync(path, text === undefined ? 'r' : 'w');
  try {
    if (text !== undefined) writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
