import type { RetentionOptions } from '../retention.js';
import { compileList, formerRule } from './compile.js';
import { EntryTable } from './entries.js';
import {
  eachKey, freeze, makeAlert, pickTags, profileRules, saveAlert, type DeviceEntry, type Key, type ProfileRules,
} from './keys.js';
import type { RuleSpecInput } from './schema.js';
import { parseSnapshot, type RuleSnapshot, type SavedKey } from './snapshot.js';
import { createState } from './states.js';
import { dec, enc, RuleSnapshotError, type Alert, type Change, type RuleReading } from './types.js';

/** Rules per profile name; the key "*" applies to every profile (after the profile's own). */
export type RulesByProfile = Readonly<Record<string, readonly RuleSpecInput[]>>;

const NONE: readonly Alert[] = Object.freeze([]);

/**
 * The anomaly-rule engine: pure and deterministic — no I/O, no clock; time comes only
 * from the readings (event time `ts`, processing time `received`) and tick(now).
 *
 * Call order: evaluate() for every reading in the order the gateway accepted it
 * (journal order; per device that is arrival order), tick(now) periodically (e.g.
 * every second of processing time) to fire stale rules, snapshot() at a checkpoint
 * (it reflects every call made so far). The alerts are a function of the sequence of
 * evaluate()/tick() calls alone: the same calls on an engine restored from a
 * snapshot yield exactly the alerts the original would have. tick() changes state
 * only when it returns alerts (all stamped `now`) or forgets entries (`forgotten`
 * grows), so a replay from a checkpoint need repeat only those ticks, at their place
 * in the journal.
 *
 * Bounded (../retention.ts, forget.ts): with maxDevices (profile, device) entries held,
 * a reading of a new one is not evaluated (`refused` grows); tick() forgets an entry
 * silent past forgetAfterMs (and its stale rules' afterMs) whose only firing alerts, if
 * any, are stale ones: it returns them resolved, with details.forgotten = 1.
 *
 * A key is (profile, device, rule, values of the rule's `by` tags). Each key fires at
 * most once until it resolves; a call returns at most one alert per key, in rule
 * order. How each kind treats out-of-order readings: states.ts, zscore.ts. Readings
 * of profiles without rules create no state. A metric missing from a reading (or not
 * finite) is simply not evaluated; a reading with a non-finite ts/received is ignored.
 *
 * stale: a key remembers the largest `received` seen; the first tick(now) with
 * now − last >= afterMs fires it (value: ms of silence, ts: now); the next reading
 * resolves it (value: the silence, ts: its `received`). Only keys seen at least once
 * (since start, or in the restored snapshot) can go stale.
 *
 * Memory, bounded per key whatever the traffic (Node 20, 64-bit, measured with 20,000
 * devices, all bookkeeping included): ~220 B per (profile, device) with any key (~30 B
 * more since entries hold their last reading and firing count for forgetting), then
 * per key: stale ~80 B, range ~120 B, rate ~135 B, threshold ~150 B, flatline ~185 B,
 * zscore ~300 B + 8 B per window slot (16 for time windows; slots start at 16 and
 * double up to the window size: ~780 B with the default 60 readings). A rule with
 * `by` tags adds a Map per device (~250 B). A firing key holds its alert (~190 B).
 * Snapshot JSON: ~50–110 B per key, plus ~18 B per z-score window value.
 */
export class RuleEngine {
  private readonly byProfile = new Map<string, ProfileRules>();
  private readonly wildcard: ProfileRules;
  /** The (profile, device) entries with their keys, the cap and forgetting (entries.ts). */
  private readonly table: EntryTable;
  /**
   * Firing alerts of keys dropped by a change of the rules, to be `resolved` by takeRetired():
   * from the snapshot (dropped before it was taken, not yet taken by a tick — a replayed
   * tick takes them as the original did), and dropped by this restore (only a live tick
   * takes them: under a changed config no journaled tick ever emitted them).
   */
  private retiredSaved: Alert[] = [];
  private retiredNew: Alert[] = [];

  /**
   * Parses the rules (defaults applied). Throws WeirError WEIR_CONFIG_INVALID naming
   * profile, rule and path; RangeError on bad retention options.
   */
  constructor(rules: RulesByProfile, options: RetentionOptions = {}) {
    this.table = new EntryTable(options);
    const wildcard = compileList('*', rules['*'] ?? [], []);
    this.wildcard = profileRules(wildcard);
    for (const [profile, list] of Object.entries(rules)) {
      if (profile !== '*') this.byProfile.set(profile, profileRules(compileList(profile, list, wildcard)));
    }
  }

  /** Checks one reading against its profile's rules; returns the alerts it causes (frozen). */
  evaluate(r: RuleReading): readonly Alert[] {
    const pr = this.byProfile.get(r.profile) ?? this.wildcard;
    if (pr.rules.length === 0 || !Number.isFinite(r.ts) || !Number.isFinite(r.received)) return NONE;
    this.table.reading(r.received);
    const tags = r.tags ?? {};
    let dev: DeviceEntry | undefined;
    let out: Alert[] | undefined;
    for (let i = 0; i < pr.rules.length; i++) {
      const rule = pr.rules[i]!;
      const stale = rule.afterMs !== undefined;
      const value = r.metrics[rule.metric];
      if ((!stale || rule.metric !== '*') && !Number.isFinite(value)) continue;
      if (!dev) {
        // Over the cap: no entry, so nothing else to do (no rule before this one applied).
        if (!(dev = this.table.entry(r.profile, r.device, pr, true))) return NONE;
        this.table.seen(dev, r.received);
      }
      let k = this.table.key(dev, i, tags);
      let alert: Alert | undefined;
      if (!k) {
        k = this.table.addKey(dev, i, { rule, dev, tags: pickTags(rule.by, tags), state: stale ? undefined : createState(rule.spec), last: r.received, alert: null });
        if (stale) continue;
      }
      if (stale) {
        const last = k.last;
        if (r.received > last) k.last = r.received;
        if (k.alert) alert = this.change(k, { state: 'resolved', value: Math.max(0, r.received - last), ts: r.received, details: { lastReceived: last, afterMs: rule.afterMs! } });
      } else {
        const change = k.state!.observe(value!, r.ts);
        if (change) alert = this.change(k, change);
      }
      if (alert) (out ??= []).push(alert);
    }
    return out ?? NONE;
  }

  /**
   * Fires every stale key silent for its rule's afterMs at processing time `now` (alerts
   * stamped `now`), then forgets the entries silent past forgetAfterMs with no firing
   * alert but stale ones, which it resolves (forget.ts): the firing ones first.
   */
  tick(now: number): readonly Alert[] {
    if (!Number.isFinite(now)) return NONE;
    let out: Alert[] | undefined;
    const check = (k: Key): void => {
      const afterMs = k.rule.afterMs!;
      if (k.alert !== null || now - k.last < afterMs) return;
      (out ??= []).push(this.change(k, { state: 'firing', value: now - k.last, ts: now, details: { lastReceived: k.last, afterMs } }));
    };
    for (const dev of this.table.list) for (const i of dev.rules.stale) eachKey(dev.slots[i], check);
    // After firing: forget.ts counts an entry's silence from when its stale rules came due.
    const resolved = this.table.forget(now);
    if (resolved.length > 0) (out ??= []).push(...resolved);
    return out ?? NONE;
  }

  /**
   * The gateway clock was corrected by `deltaMs` (NTP sync): the last-received times of
   * stale keys move with it, so a sync does not make every device look silent for years.
   */
  shiftProcessingTime(deltaMs: number): void {
    if (!Number.isFinite(deltaMs)) return;
    this.table.shift(deltaMs);
  }

  /** The alerts firing now, in key order (devices by first key, then rule order): for `weir status`. */
  firing(): Alert[] {
    const out: Alert[] = [];
    for (const dev of this.table.list) for (const slot of dev.slots) eachKey(slot, (k) => { if (k.alert) out.push(k.alert); });
    return out;
  }

  /** How many keys are firing (for /metrics), and how many keys are held. O(1). */
  get stats(): { firing: number; keys: number } {
    return { firing: this.table.firing, keys: this.table.keys };
  }

  /** (profile, device) entries held: at most maxDevices, unless a restore brought more. */
  get entries(): number {
    return this.table.list.length;
  }

  /** Readings of new devices not evaluated because maxDevices entries were held (this engine object; not carried across restore). */
  get refused(): number {
    return this.table.refused;
  }

  /** Entries forgotten by tick() (this engine object; not carried across restore). */
  get forgotten(): number {
    return this.table.forgotten;
  }

  /** The whole state as JSON-safe data (see snapshot.ts). Does not change the engine. */
  snapshot(): RuleSnapshot {
    const rules: RuleSnapshot['rules'] = [];
    const index = new Map<string, number>();
    const devices: RuleSnapshot['devices'] = [];
    for (const dev of this.table.list) {
      const keys: SavedKey[] = [];
      for (const slot of dev.slots) {
        eachKey(slot, (k) => {
          const id = `${dev.profile}\0${k.rule.name}`;
          let ri = index.get(id);
          if (ri === undefined) index.set(id, (ri = rules.push([dev.profile, k.rule.name, k.rule.fingerprint]) - 1));
          keys.push([ri, { ...k.tags }, k.state ? k.state.save() : [k.last], saveAlert(k.alert)]);
        });
      }
      devices.push([dev.profile, dev.device, keys, enc(dev.last)]);
    }
    const retired = [...this.retiredSaved, ...this.retiredNew];
    return retired.length > 0 ? { v: 1, rules, devices, retired } : { v: 1, rules, devices };
  }

  /**
   * An engine with `rules` that continues from `snapshot` (as returned by snapshot(),
   * possibly through JSON). Keys of a rule that no longer exists, or whose spec
   * changed, are dropped; those that were firing are handed out, resolved, by
   * takeRetired(). Entries beyond options.maxDevices are kept (the cap turns only new ones
   * away). Throws RuleSnapshotError on a malformed snapshot, WeirError on bad rules.
   */
  static restore(rules: RulesByProfile, snapshot: unknown, options: RetentionOptions = {}): RuleEngine {
    const s = parseSnapshot(snapshot);
    const engine = new RuleEngine(rules, options);
    engine.retiredSaved = (s.retired ?? []).map((a) => freeze({ ...a, kind: a.kind as Alert['kind'], tags: Object.freeze({ ...a.tags }) }));
    // Per snapshot rule: its index in the current rules if its spec is unchanged, and the rule as it was.
    const table = s.rules.map(([profile, name, fp]) => {
      const pr = engine.byProfile.get(profile) ?? engine.wildcard;
      const i = pr.index.get(name);
      return { pr, current: i !== undefined && pr.rules[i]!.fingerprint === fp ? i : undefined, old: formerRule(name, fp) };
    });
    for (const [profile, device, keys, last] of s.devices) {
      let dev: DeviceEntry | undefined;
      for (const [ri, tags, state, saved] of keys) {
        const { pr, current, old } = table[ri]!;
        const rule = current === undefined ? old : pr.rules[current]!;
        const stale = rule.afterMs !== undefined;
        if (stale && state.length !== 1) throw new RuleSnapshotError(`stale rule "${rule.name}" with a state of ${state.length} fields`);
        const placeholder: DeviceEntry = dev ?? { profile, device, rules: pr, slots: [], last: NaN, firing: 0 };
        const k: Key = { rule, dev: placeholder, tags: Object.freeze({ ...tags }), state: undefined, last: 0, alert: null };
        if (saved) k.alert = makeAlert(k, 'firing', saved[0], saved[1], saved[2]);
        if (current === undefined) {
          if (k.alert) engine.retiredNew.push(k.alert);
          continue;
        }
        if (stale) k.last = dec(state, 0);
        else k.state = createState(rule.spec, state);
        k.dev = dev ??= engine.table.entry(profile, device, pr, false)!;
        engine.table.addKey(dev, current, k);
        if (k.alert) engine.table.alertChanged(k, 1);
      }
      if (dev) engine.table.restored(dev, last);
    }
    return engine;
  }

  /**
   * `resolved` alerts (stamped `now`, details.retired = 1) for keys that were firing
   * under a rule since removed or changed, so nothing stays firing downstream forever;
   * each is handed out once. `live` false (a tick replayed from the journal) takes only
   * those the snapshot held: the ones this restore dropped were never journaled.
   */
  takeRetired(now: number, live = true): Alert[] {
    const taken = live ? [...this.retiredSaved, ...this.retiredNew] : this.retiredSaved;
    this.retiredSaved = [];
    if (live) this.retiredNew = [];
    return taken.map((a) => freeze({ ...a, state: 'resolved', ts: now, details: { retired: 1 } }));
  }

  private change(k: Key, c: Change): Alert {
    const alert = makeAlert(k, c.state, c.value, c.ts, c.details);
    k.alert = c.state === 'firing' ? alert : null;
    this.table.alertChanged(k, c.state === 'firing' ? 1 : -1);
    return alert;
  }
}
