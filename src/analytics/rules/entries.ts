/**
 * The rule engine's (profile, device) entries and their keys (keys.ts has the shapes):
 * lookup, creation under the device cap, the counts behind stats, and forgetting
 * (forget.ts, ../retention.ts). The engine decides what a reading does to a key; this
 * table decides which entries exist.
 *
 * Call order: per reading, reading(received) once, then entry(…, capped: true) and
 * seen(entry, received) before touching its keys; keyAdded() for every new key and
 * alertChanged() for every firing/resolved; per tick, forget(now) after the stale keys
 * fired (it resolves the firing stale alerts of the entries it drops, and returns them).
 * restore: entry(…, capped: false), keyAdded(), alertChanged(), restored(entry, last).
 * No errors.
 */
import { Retention, type RetentionOptions } from '../retention.js';
import { forgetFrom, forgetSilentEntries } from './forget.js';
import { eachKey, tagKey, type DeviceEntry, type Key, type ProfileRules } from './keys.js';
import type { Alert } from './types.js';

export class EntryTable {
  /** Every (profile, device), in first-seen order (snapshots and firing() keep it). */
  readonly list: DeviceEntry[] = [];
  /** The same entries by profile, then device: the per-reading lookup builds no key string. */
  private readonly lookup = new Map<string, Map<string, DeviceEntry>>();
  private readonly retention: Retention;
  firing = 0;
  keys = 0;
  /** Readings of new entries turned away by the cap; entries forgotten (this object's lifetime). */
  refused = 0;
  forgotten = 0;
  /** Some entry's `last` is unknown (restored from an older snapshot): the next reading sets it. */
  private lastUnknown = false;

  /** @throws RangeError on bad options (retention.ts). */
  constructor(options: RetentionOptions) {
    this.retention = new Retention(options);
  }

  /** A reading with a finite `received` is about to be evaluated. */
  reading(received: number): void {
    // Unknown last times take the first evaluated reading's `received`: the same reading
    // in a replay as in the live run, so forgetting them stays exact (rather than at once).
    if (!this.lastUnknown) return;
    this.lastUnknown = false;
    for (const dev of this.list) {
      if (!Number.isNaN(dev.last)) continue;
      dev.last = received;
      this.retention.seen(forgetFrom(dev));
    }
  }

  /** The entry of (profile, device), created if new — unless `capped` and maxDevices are held (then undefined, counted). */
  entry(profile: string, device: string, rules: ProfileRules, capped: boolean): DeviceEntry | undefined {
    let inProfile = this.lookup.get(profile);
    if (!inProfile) this.lookup.set(profile, (inProfile = new Map()));
    let dev = inProfile.get(device);
    if (!dev) {
      if (capped && this.retention.full(this.list.length)) {
        this.refused++;
        return undefined;
      }
      dev = { profile, device, rules, slots: new Array<undefined>(rules.rules.length).fill(undefined), last: -Infinity, firing: 0 };
      inProfile.set(device, dev);
      this.list.push(dev);
    }
    return dev;
  }

  /** A reading evaluated against `dev` at `received`. */
  seen(dev: DeviceEntry, received: number): void {
    if (received > dev.last) dev.last = received;
    this.retention.seen(dev.last);
  }

  /** A restored entry's last reading (null/undefined: unknown, from an older snapshot). */
  restored(dev: DeviceEntry, last: number | null | undefined): void {
    dev.last = last ?? NaN;
    if (last === undefined || last === null) this.lastUnknown = true;
    else this.retention.seen(forgetFrom(dev));
  }

  key(dev: DeviceEntry, i: number, tags: Readonly<Record<string, string>>): Key | undefined {
    const slot = dev.slots[i];
    return slot instanceof Map ? slot.get(tagKey(dev.rules.rules[i]!.by, tags)) : slot;
  }

  addKey(dev: DeviceEntry, i: number, k: Key): Key {
    const by = k.rule.by;
    if (by.length === 0) dev.slots[i] = k;
    else {
      let m = dev.slots[i] as Map<string, Key> | undefined;
      if (!m) dev.slots[i] = m = new Map();
      m.set(tagKey(by, k.tags), k);
    }
    this.keys++;
    return k;
  }

  /** Key k started (+1) or stopped (−1) firing. */
  alertChanged(k: Key, d: 1 | -1): void {
    this.firing += d;
    k.dev.firing += d;
  }

  /**
   * After the stale keys fired: drops the entries silent past forgetAfterMs with no firing
   * alert but stale ones (forget.ts); returns those alerts, resolved.
   */
  forget(now: number): readonly Alert[] {
    const gone = forgetSilentEntries(this.list, this.lookup, this.retention, now);
    this.forgotten += gone.entries;
    this.keys -= gone.keys;
    this.firing -= gone.resolved.length;
    return gone.resolved;
  }

  /** The gateway clock was corrected: last-received times (of entries and stale keys) move with it. */
  shift(deltaMs: number): void {
    for (const dev of this.list) {
      dev.last += deltaMs;
      for (const i of dev.rules.stale) eachKey(dev.slots[i], (k) => { k.last += deltaMs; });
    }
    this.retention.shift(deltaMs);
  }
}
