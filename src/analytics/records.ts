import { correctedMark, markUnsynced, UNSYNCED_MARK } from '../journal/clock-corrections.js';
import type { JournalEntry } from '../journal/journal.js';
import type { Alert } from './rules/types.js';
import type { Aggregate } from './windows/types.js';

/**
 * Aggregates and alerts as journal records. The journal supplies gateway, seq,
 * received, device (the key) and profile, and ts for alerts (PRODUCT.md, weir.aggregates
 * and weir.alerts); the body holds the rest, in the contract's field order.
 *
 * Provisional gateway time (issue 4, point 3): records computed from readings whose event
 * time was the gateway's provisional time get the readings' marker as their last member
 * (journal/clock-corrections.ts), so the sync's offset moves their times when they are
 * read for Kafka, as it moves the readings'.
 */
export function aggregateEntry(a: Aggregate, received: number): JournalEntry {
  // A window computed on the provisional timeline (windows/types.ts: Aggregate.clock):
  // closed before the sync, marked and corrected as read; closed after it, the offset
  // is known and is added here. Either way the bounds keep the provisional grid's alignment.
  const shift = typeof a.clock === 'number' ? a.clock : 0;
  // A template, not JSON.stringify of an object: one of these per closed window and
  // series. Numbers are finite (the accumulator guarantees it), so String() is JSON.
  // Every string member comes before window_start (clock-corrections.ts: shiftMember).
  let body = `{"metric":${JSON.stringify(a.metric)},"tags":${JSON.stringify(a.tags)},"window":${JSON.stringify(a.window)},`
    + `"window_start":${a.window_start + shift},"window_end":${a.window_end + shift},"count":${a.count},"min":${a.min},"max":${a.max},`
    + `"avg":${a.avg},"sum":${a.sum},"first":${a.first},"last":${a.last}`;
  if (a.stddev !== undefined) body += `,"stddev":${a.stddev}`;
  if (a.p50 !== undefined) body += `,"p50":${a.p50}`;
  if (a.p95 !== undefined) body += `,"p95":${a.p95}`;
  if (a.p99 !== undefined) body += `,"p99":${a.p99}`;
  if (a.late !== undefined) body += `,"late":${a.late}`;
  if (a.clock !== undefined) body += `,${typeof a.clock === 'number' ? correctedMark(a.clock) : UNSYNCED_MARK}`;
  return { stream: 'aggregates', key: a.device, received, profile: a.profile, body: `${body}}` };
}

/** `provisional`: its ts is a provisional gateway time (then equal to `received`): marked, to be corrected as read. */
export function alertEntry(a: Alert, received: number, provisional = false): JournalEntry {
  const body: Record<string, unknown> = { rule: a.rule, kind: a.kind, state: a.state, metric: a.metric, value: a.value, tags: a.tags };
  if (a.details) body.details = a.details;
  const json = JSON.stringify(body);
  return { stream: 'alerts', key: a.device, received, ts: a.ts, profile: a.profile, body: provisional ? markUnsynced(json) : json };
}

/** The local MQTT topic of an alert: the configured pattern with {profile}, {device}, {rule} filled in (MQTT wildcards and separators replaced). */
export function alertTopic(pattern: string, a: { profile: string; device: string; rule: string }): string {
  const safe = (s: string): string => s.replace(/[+#/\0]/g, '_');
  return pattern.replace(/\{(profile|device|rule)\}/g, (_, k: 'profile' | 'device' | 'rule') => safe(a[k]));
}
