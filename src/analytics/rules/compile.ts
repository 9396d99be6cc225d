import { WeirError } from '../../core/errors.js';
import { ruleListSchema, ruleName, type RuleSpec, type RuleSpecInput } from './schema.js';
import { canonicalJson } from './snapshot.js';
import { RuleSnapshotError } from './types.js';

/** A parsed rule, ready for the engine. */
export interface CompiledRule {
  name: string;
  spec: RuleSpec;
  fingerprint: string;
  /** The alerts' metric: the spec's, or "*" for a device-wide stale rule. */
  metric: string;
  by: readonly string[];
  /** Stale rules only. */
  afterMs: number | undefined;
}

/**
 * Parses one profile's rules and appends the inherited ("*") ones. Throws WeirError
 * WEIR_CONFIG_INVALID naming the profile and the path of the first problem, or a rule
 * name defined both for the profile and for every profile.
 */
export function compileList(profile: string, list: readonly RuleSpecInput[], inherited: readonly CompiledRule[]): CompiledRule[] {
  const parsed = ruleListSchema.safeParse(list);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new WeirError('WEIR_CONFIG_INVALID', `rules of profile "${profile}" at ${issue.path.join('.')}: ${issue.message}`);
  }
  const own = parsed.data.map((spec) => compileRule(spec, canonicalJson(spec), ruleName(spec)));
  for (const r of own) {
    if (inherited.some((w) => w.name === r.name)) {
      throw new WeirError('WEIR_CONFIG_INVALID', `rules of profile "${profile}": rule "${r.name}" is also defined for every profile ("*")`);
    }
  }
  return [...own, ...inherited];
}

function compileRule(spec: RuleSpec, fingerprint: string, name: string): CompiledRule {
  const afterMs = spec.kind === 'stale' ? spec.afterMs : undefined;
  return { name, spec, fingerprint, by: Array.isArray(spec.by) ? spec.by : [], metric: spec.metric ?? '*', afterMs };
}

/** A rule as it was when a snapshot was taken, rebuilt from its fingerprint (the canonical JSON of its spec). */
export function formerRule(name: string, fingerprint: string): CompiledRule {
  let spec: RuleSpec;
  try {
    spec = JSON.parse(fingerprint) as RuleSpec;
  } catch {
    throw new RuleSnapshotError(`rule "${name}" has a malformed fingerprint`);
  }
  if (typeof spec !== 'object' || spec === null || typeof spec.kind !== 'string') throw new RuleSnapshotError(`rule "${name}" has a malformed fingerprint`);
  return compileRule(spec, fingerprint, name);
}
