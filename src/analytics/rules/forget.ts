/**
 * The rule engine's forgetting (../retention.ts has the rules and the pacing): a
 * (profile, device) entry silent past forgetAfterMs is dropped with all its keys —
 * z-score windows, threshold holds, stale timers. A forgotten device that sends again
 * starts afresh (a z-score rule warms up again).
 *
 * Its silence counts from forgetFrom(): its last reading (`received`), or later, when a
 * `stale` rule of it comes due (last + afterMs) — so an entry with a stale key is not
 * forgotten before the rule fired (a stale afterMs beyond forgetAfterMs: a sensor that
 * reports weekly), and every stale alert stays firing at least forgetAfterMs. Then its
 * firing stale alerts (still true: the device is silent) are resolved, stamped `now`,
 * with details.forgotten = 1 — not kept for ever: a client inventing device ids on a
 * profile with a stale rule filled analytics.maxDevices with them for good, and real
 * devices got no rules. An entry with a firing alert of another kind is kept, so that
 * alert can still resolve when the device returns.
 *
 * Exact across restarts: RuleEngine.tick() calls this after firing stale keys, and the
 * entries it drops and alerts it resolves depend only on the state and `now` (see
 * retention.ts). A tick that forgot entries but emitted nothing changed state silently,
 * which the journal's replay contract ("a tick that returns nothing changed nothing")
 * does not allow; such a tick reports it (AnalyticsStage.tickChanged), the journal logs
 * it like a tick that derived records, and a replay repeats it at its place. Forgetting
 * in evaluate() instead would need no log, but would tie the cost of a scan to some
 * unlucky reading and leave a silent fleet's memory held until the next reading.
 *
 * Call order: from tick(now) only, after the stale keys due at `now` fired (so an entry
 * past expiry(forgetFrom) has no stale key left waiting). Keeps the order of the entries
 * it keeps (snapshots and firing() follow it). No errors.
 */
import type { Retention } from '../retention.js';
import type { Alert } from './types.js';
import { eachKey, makeAlert, type DeviceEntry, type Key } from './keys.js';

export interface Forgotten {
  entries: number;
  keys: number;
  /** The `resolved` alerts of the firing stale keys of the entries dropped, in entry then key order. */
  resolved: readonly Alert[];
}

/** Drops the expired entries from `devices` (in place) and `lookup` when a scan is due at `now`. */
export function forgetSilentEntries(
  devices: DeviceEntry[], lookup: Map<string, Map<string, DeviceEntry>>, retention: Retention, now: number,
): Forgotten {
  if (!retention.due(now)) return NOTHING;
  retention.startScan();
  let kept = 0;
  let keys = 0;
  const resolved: Alert[] = [];
  const drop = (k: Key): void => {
    keys++;
    if (k.alert) resolved.push(makeAlert(k, 'resolved', now - k.last, now, { lastReceived: k.last, afterMs: k.rule.afterMs!, forgotten: 1 }));
  };
  for (const dev of devices) {
    const from = forgetFrom(dev);
    if (retention.expired(from, now)) {
      lookup.get(dev.profile)?.delete(dev.device);
      // Only stale keys can be firing here (forgetFrom); each resolves in rule order.
      for (const slot of dev.slots) eachKey(slot, drop);
      continue;
    }
    // Only entries that may be forgotten bound the next scan (NaN is ignored): an entry with
    // a firing alert of another kind would make every scan due. It stops firing only in
    // evaluate(), which calls seen() again.
    retention.seen(from);
    devices[kept++] = dev;
  }
  const entries = devices.length - kept;
  devices.length = kept;
  return entries === 0 ? NOTHING : { entries, keys, resolved };
}

const NOTHING: Forgotten = Object.freeze({ entries: 0, keys: 0, resolved: [] as Alert[] });

/**
 * Processing time from which the entry's silence counts: the later of its last reading and
 * of the time each stale key comes due; NaN (never forgotten) while an alert of another
 * kind fires, or while its last reading is unknown (RuleEngine.restore).
 */
export function forgetFrom(dev: DeviceEntry): number {
  let from = dev.last;
  let staleFiring = 0;
  for (const i of dev.rules.stale) {
    eachKey(dev.slots[i], (k) => {
      if (k.alert) staleFiring++;
      from = Math.max(from, k.last + k.rule.afterMs!);
    });
  }
  return dev.firing === staleFiring ? from : NaN;
}
