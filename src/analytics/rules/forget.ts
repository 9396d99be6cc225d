/**
 * The rule engine's forgetting (../retention.ts has the rules and the pacing): a
 * (profile, device) entry with no firing key whose last reading (`received`) is older
 * than forgetAfterMs is dropped with all its keys — z-score windows, threshold holds,
 * stale timers. A forgotten device that sends again starts afresh (a z-score rule
 * warms up again). An entry with a firing alert — typically the `stale` alert of a dead
 * device — is kept, so the alert can still resolve when the device returns; so is one
 * with a stale key that has not fired yet (watchedForSilence).
 *
 * Exact across restarts: RuleEngine.tick() calls this after firing stale keys, and the
 * entries it drops depend only on the state and `now` (see retention.ts). A tick that
 * forgot entries but fired nothing changed state silently, which the journal's replay
 * contract ("a tick that returns nothing changed nothing") does not allow; such a tick
 * reports it (AnalyticsStage.tickChanged), the journal logs it like a tick that derived
 * records, and a replay repeats it at its place. Forgetting in evaluate() instead would
 * need no log, but would tie the cost of a scan to some unlucky reading and leave a
 * silent fleet's memory held until the next reading.
 *
 * Call order: from tick(now) only. Keeps the order of the entries it keeps (snapshots and
 * firing() follow it). No errors.
 */
import type { Retention } from '../retention.js';
import { eachKey, type DeviceEntry } from './keys.js';

/** Drops the expired entries from `devices` (in place) and `lookup` when a scan is due at `now`; returns how many entries and keys went. */
export function forgetSilentEntries(
  devices: DeviceEntry[], lookup: Map<string, Map<string, DeviceEntry>>, retention: Retention, now: number,
): { entries: number; keys: number } {
  if (!retention.due(now)) return NOTHING;
  retention.startScan();
  let kept = 0;
  let keys = 0;
  const count = (): void => { keys++; };
  for (const dev of devices) {
    if (dev.firing === 0 && !watchedForSilence(dev) && retention.expired(dev.last, now)) {
      lookup.get(dev.profile)?.delete(dev.device);
      for (const slot of dev.slots) eachKey(slot, count);
      continue;
    }
    // Only entries that may be forgotten bound the next scan: a dead device's firing stale
    // alert would otherwise make every scan due. An entry stops firing only in evaluate(), which calls seen() again.
    if (dev.firing === 0 && !watchedForSilence(dev)) retention.seen(dev.last);
    devices[kept++] = dev;
  }
  const entries = devices.length - kept;
  devices.length = kept;
  return entries === 0 ? NOTHING : { entries, keys };
}

const NOTHING = Object.freeze({ entries: 0, keys: 0 });

/**
 * Whether the entry has a `stale` key: its silence is what that rule waits for, so it is
 * kept — else a rule with afterMs beyond forgetAfterMs (a sensor reporting weekly) would
 * never fire. Once it fires the entry is firing, and kept until the device returns.
 */
function watchedForSilence(dev: DeviceEntry): boolean {
  for (const i of dev.rules.stale) if (dev.slots[i] !== undefined) return true;
  return false;
}
