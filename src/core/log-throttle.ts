import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

/** How often one kind of throttled warning may be logged (LogThrottle). */
export const THROTTLE_INTERVAL_MS = 60_000;

/**
 * Warnings a device can set off at will — every oversize packet, every QoS 0 message
 * while the journal refuses — logged at most once per `intervalMs` per kind, the next
 * one carrying how many were left out (`suppressed`) and over how long (`sinceMs`).
 * A misbehaving device or a full disk must not flood the log: journald writes it to
 * the same SD card. What happened is still counted in full by the metrics.
 *
 * Kinds are the caller's fixed strings (one map entry each), not per-device keys.
 * Call order: warn() at any time. No errors.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly log: Logger, private readonly clock: Clock, private readonly intervalMs = THROTTLE_INTERVAL_MS) {}

  warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    const now = this.clock.monotonic();
    const seen = this.last.get(kind);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.log.warn(seen && seen.suppressed > 0 ? { ...fields, suppressed: seen.suppressed, sinceMs: Math.round(now - seen.at) } : fields, msg);
    this.last.set(kind, { at: now, suppressed: 0 });
  }
}
