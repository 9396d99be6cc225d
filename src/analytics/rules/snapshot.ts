import { z } from 'zod';
import { RuleSnapshotError, type Alert, type SavedValue } from './types.js';

/**
 * The checkpoint format of a RuleEngine: plain JSON (numbers are doubles and
 * round-trip exactly through JSON.stringify/parse), so it can go in the journal next
 * to the sequence number it covers.
 *
 * - `rules`: [profile, rule name, fingerprint] of every rule some key refers to; the
 *   fingerprint is the canonical JSON of the parsed spec, so restoring under a changed
 *   rule starts that rule afresh instead of misreading its state.
 * - `devices`: [profile, device, keys, last] in the engine's order (first key
 *   created first); keys in rule order, keys of one rule in creation order:
 *   [rule index, by-tags, state, alert]. state: the state machine's save(), or
 *   [last received] for a stale rule. alert: null when ok, else the firing alert's
 *   [value, ts, details]. last: the entry's largest `received`, for forgetting
 *   (forget.ts); null or absent (a gateway before forgetting wrote it) when unknown.
 * - `retired` (only when some are pending): firing alerts of keys a change of the
 *   rules dropped, whose `resolved` no tick has emitted yet (RuleEngine.takeRetired),
 *   as the alerts themselves, since their rule is gone.
 */
export interface RuleSnapshot {
  v: 1;
  rules: Array<[profile: string, rule: string, fingerprint: string]>;
  devices: Array<[profile: string, device: string, keys: SavedKey[], last?: number | null]>;
  retired?: Alert[];
}

export type SavedKey = [rule: number, tags: Record<string, string>, state: SavedValue[], alert: SavedAlert | null];
export type SavedAlert = [value: number, ts: number, details: Record<string, number> | null];

const savedAlert = z.tuple([z.number(), z.number(), z.record(z.string(), z.number()).nullable()]);
const tags = z.record(z.string(), z.string());

const snapshotSchema = z.strictObject({
  v: z.literal(1),
  rules: z.array(z.tuple([z.string(), z.string(), z.string()])),
  // The 4th element is optional: snapshots written before forgetting have three (still v 1, still restored).
  devices: z.array(z.tuple([z.string(), z.string(), z.array(z.tuple([z.number().int().min(0), tags, z.array(z.unknown()), savedAlert.nullable()])), z.number().nullable().optional()])),
  retired: z.array(z.strictObject({
    device: z.string(), profile: z.string(), rule: z.string(), kind: z.string(), state: z.literal('firing'), metric: z.string(),
    tags, value: z.number(), ts: z.number(), details: z.record(z.string(), z.number()).optional(),
  })).optional(),
});

/**
 * Validates a snapshot read back from storage; throws RuleSnapshotError naming the
 * first problem. The inside of each key's state is checked by its kind's loader
 * (field by field, when the key is restored), not here.
 */
export function parseSnapshot(input: unknown): RuleSnapshot {
  const r = snapshotSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new RuleSnapshotError(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const s = r.data as RuleSnapshot;
  for (const [, , keys] of s.devices) {
    for (const [i] of keys) if (i >= s.rules.length) throw new RuleSnapshotError(`rule index ${i} out of range`);
  }
  return s;
}

/** JSON with object keys sorted at every level: equal specs give equal strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
