import type { CompiledRule } from './compile.js';
import type { SavedAlert } from './snapshot.js';
import type { Alert, RuleState } from './types.js';

/**
 * The engine's per-device bookkeeping. One DeviceEntry per (profile, device) that has
 * at least one key; in it one slot per rule of the profile (same index as the rule):
 * the key itself, or for a rule with `by` tags a Map from the tag values to keys
 * (insertion order = creation order). One Map lookup per reading finds them all.
 */

/** The rules that apply to one profile: its own, then the "*" ones; stale rules' indexes apart for tick(). */
export interface ProfileRules {
  rules: CompiledRule[];
  stale: number[];
  index: Map<string, number>;
}

export interface DeviceEntry {
  profile: string;
  device: string;
  rules: ProfileRules;
  slots: Array<Key | Map<string, Key> | undefined>;
  /** The largest `received` of a reading evaluated against the entry (NaN: unknown, from an older snapshot; see RuleEngine.restore). */
  last: number;
  /** How many of its keys are firing: an entry with any but stale ones is never forgotten (forget.ts). */
  firing: number;
}

/** One (profile, device, rule, by-tag values) key. */
export interface Key {
  rule: CompiledRule;
  dev: DeviceEntry;
  tags: Readonly<Record<string, string>>;
  /** Metric rules: the state machine. Stale rules: undefined. */
  state: RuleState | undefined;
  /** Stale rules: the latest `received` seen. */
  last: number;
  /** The firing alert, null while ok. */
  alert: Alert | null;
}

export function profileRules(rules: CompiledRule[]): ProfileRules {
  const stale: number[] = [];
  rules.forEach((r, i) => { if (r.afterMs !== undefined) stale.push(i); });
  return { rules, stale, index: new Map(rules.map((r, i) => [r.name, i])) };
}

/** The `by` tag values as an unambiguous string: one tag: "" when missing, else "=" + value; more: JSON (missing: null). */
export function tagKey(by: readonly string[], tags: Readonly<Record<string, string>>): string {
  if (by.length === 1) {
    const v = tags[by[0]!];
    return typeof v === 'string' ? `=${v}` : '';
  }
  return JSON.stringify(by.map((name) => (typeof tags[name] === 'string' ? tags[name] : null)));
}

const NO_TAGS: Readonly<Record<string, string>> = Object.freeze({});

/** The `by` tags a key's alerts carry (shared frozen {} without `by`). */
export function pickTags(by: readonly string[], tags: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (by.length === 0) return NO_TAGS;
  const out: Record<string, string> = {};
  for (const name of by) if (typeof tags[name] === 'string') out[name] = tags[name];
  return Object.freeze(out);
}

/** Calls fn for every key of the slot, in creation order. */
export function eachKey(slot: Key | Map<string, Key> | undefined, fn: (k: Key) => void): void {
  if (slot instanceof Map) slot.forEach(fn);
  else if (slot) fn(slot);
}

export function makeAlert(k: Key, state: Alert['state'], value: number, ts: number, details: Record<string, number> | null): Alert {
  const { rule, dev } = k;
  const a: Alert = { device: dev.device, profile: dev.profile, rule: rule.name, kind: rule.spec.kind, state, metric: rule.metric, tags: k.tags, value, ts };
  if (details) a.details = details;
  return freeze(a);
}

export function freeze(a: Alert): Alert {
  if (a.details) Object.freeze(a.details);
  return Object.freeze(a);
}

export function saveAlert(a: Alert | null): SavedAlert | null {
  return a ? [a.value, a.ts, a.details ? { ...a.details } : null] : null;
}
