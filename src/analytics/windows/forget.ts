/**
 * The window engine's forgetting (../retention.ts has the rules and the pacing): a
 * device with no open window whose last accepted reading is older than forgetAfterMs
 * loses its entry — watermark, last-seen time and idle horizons.
 *
 * Consequence, by design: a forgotten device that sends again starts afresh, so a
 * reading older than its forgotten watermark or idle horizon is windowed as on time
 * instead of being reported late. After forgetAfterMs (default a week) of silence
 * that is the better trade than holding every device id ever seen.
 *
 * Call order: from advanceIdle(now), after its idle closes (a device closed there has
 * no open window any more and, being silent longer than forgetAfterMs ≥ idleMs, goes in
 * the same call). Iteration order does not matter: the set forgotten depends only on the
 * state and `now`. No errors.
 */
import type { Retention } from '../retention.js';
import type { DeviceState } from './state.js';

/** Deletes the expired devices of `devices` when a scan is due at `now`; returns how many. */
export function forgetSilentDevices(devices: Map<string, DeviceState>, retention: Retention, now: number): number {
  if (!retention.due(now)) return 0;
  retention.startScan();
  let forgotten = 0;
  // Deleting the entry just visited is safe while iterating a Map.
  for (const [device, dev] of devices) {
    if (dev.open === 0 && retention.expired(dev.lastSeen, now)) {
      devices.delete(device);
      forgotten++;
    } else {
      // Devices with open windows too: they become forgettable once idle closes them.
      retention.seen(dev.lastSeen);
    }
  }
  return forgotten;
}
