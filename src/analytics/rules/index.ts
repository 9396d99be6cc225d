/**
 * Anomaly rules (issue 4, point 5): specs (zod, for profiles and config), the pure
 * RuleEngine, and the alert/reading types it speaks. See engine.ts for the call order.
 */
export { RuleEngine, type RulesByProfile } from './engine.js';
export {
  flatlineRuleSchema, rangeRuleSchema, rateRuleSchema, ruleListSchema, ruleName, ruleSpecSchema, staleRuleSchema,
  thresholdRuleSchema, zscoreRuleSchema,
  type FlatlineRule, type RangeRule, type RateRule, type RuleKind, type RuleSpec, type RuleSpecInput, type StaleRule,
  type ThresholdRule, type ZScoreRule,
} from './schema.js';
export type { RuleSnapshot } from './snapshot.js';
export { RuleSnapshotError, type Alert, type AlertState, type RuleReading } from './types.js';
