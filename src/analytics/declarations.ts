import type { AnalyticsConfig } from '../config/analytics-schema.js';
import type { ProfileRegistry } from '../profiles/registry.js';
import type { RulesByProfile } from './rules/engine.js';
import type { RuleSpecInput } from './rules/schema.js';
import type { WindowSpec } from './windows/spec.js';

export interface AnalyticsDeclarations {
  windows: WindowSpec[];
  rules: RulesByProfile;
}

/**
 * The windows and rules in force: each profile's own, or the site config's
 * replacement for that profile (analytics.profiles.<name>). A replacement naming a
 * profile that is not loaded is reported, not ignored.
 */
export function analyticsDeclarations(config: AnalyticsConfig, profiles: ProfileRegistry): { declarations: AnalyticsDeclarations; problems: string[] } {
  const windows: WindowSpec[] = [];
  const rules: Record<string, readonly RuleSpecInput[]> = {};
  const problems = Object.keys(config.profiles)
    .filter((name) => !profiles.get(name))
    .map((name) => `analytics.profiles.${name}: no device profile is named "${name}"`);
  if (!config.enabled) return { declarations: { windows, rules }, problems };
  for (const p of profiles.list()) {
    const site = config.profiles[p.name];
    for (const w of site?.windows ?? p.spec.windows) windows.push({ ...w, profile: p.name });
    const list = site?.rules ?? p.spec.rules;
    if (list.length > 0) rules[p.name] = list;
  }
  return { declarations: { windows, rules }, problems };
}
