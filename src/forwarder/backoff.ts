/**
 * Exponential backoff with full jitter (the AWS Architecture Blog's "full jitter"):
 * delay = random(0, min(max, initial * 2^attempt)). Jitter spreads a site's
 * gateways so they do not reconnect in lockstep after a central outage.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.min(maxMs, Math.max(initialMs / 2, Math.floor(random() * ceiling)));
}
