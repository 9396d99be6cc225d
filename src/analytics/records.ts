import type { JournalEntry } from '../journal/journal.js';
import type { Alert } from './rules/types.js';
import type { Aggregate } from './windows/types.js';

/**
 * Aggregates and alerts as journal records. The journal supplies gateway, seq,
 * received, device (the key) and profile, and ts for alerts (PRODUCT.md, weir.aggregates
 * and weir.alerts); the body holds the rest, in the contract's field order.
 */
export function aggregateEntry(a: Aggregate, received: number): JournalEntry {
  // A template, not JSON.stringify of an object: one of these per closed window and
  // series. Numbers are finite (the accumulator guarantees it), so String() is JSON.
  let body = `{"metric":${JSON.stringify(a.metric)},"tags":${JSON.stringify(a.tags)},"window":${JSON.stringify(a.window)},`
    + `"window_start":${a.window_start},"window_end":${a.window_end},"count":${a.count},"min":${a.min},"max":${a.max},`
    + `"avg":${a.avg},"sum":${a.sum},"first":${a.first},"last":${a.last}`;
  if (a.stddev !== undefined) body += `,"stddev":${a.stddev}`;
  if (a.p50 !== undefined) body += `,"p50":${a.p50}`;
  if (a.p95 !== undefined) body += `,"p95":${a.p95}`;
  if (a.p99 !== undefined) body += `,"p99":${a.p99}`;
  if (a.late !== undefined) body += `,"late":${a.late}`;
  return { stream: 'aggregates', key: a.device, received, profile: a.profile, body: `${body}}` };
}

export function alertEntry(a: Alert, received: number): JournalEntry {
  const body: Record<string, unknown> = { rule: a.rule, kind: a.kind, state: a.state, metric: a.metric, value: a.value, tags: a.tags };
  if (a.details) body.details = a.details;
  return { stream: 'alerts', key: a.device, received, ts: a.ts, profile: a.profile, body: JSON.stringify(body) };
}

/** The local MQTT topic of an alert: the configured pattern with {profile}, {device}, {rule} filled in (MQTT wildcards and separators replaced). */
export function alertTopic(pattern: string, a: { profile: string; device: string; rule: string }): string {
  const safe = (s: string): string => s.replace(/[+#/\0]/g, '_');
  return pattern.replace(/\{(profile|device|rule)\}/g, (_, k: 'profile' | 'device' | 'rule') => safe(a[k]));
}
