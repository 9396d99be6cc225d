import { z } from 'zod';

/**
 * Anomaly-rule specs (issue 4, point 5): data that device profiles and the site config
 * embed. Every key carries a `.describe()` so `weir check` and generated docs can
 * explain it. All durations are milliseconds; every rule watches one metric of the
 * readings of one profile (stale watches the device).
 *
 * Parse with `ruleSpecSchema` / `ruleListSchema`; the RuleEngine re-parses what it is
 * given, so defaults below always apply.
 */

const ruleNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const metricNamePattern = /^[a-zA-Z_][a-zA-Z0-9_.-]*$/;

const common = {
  name: z.string().regex(ruleNamePattern, 'must be A-Z a-z 0-9 . _ - (at most 64)').optional()
    .describe('Rule name, the `rule` field of its alerts; unique per profile. Default: "<metric>-<kind>" ("stale" for a device-wide stale rule).'),
  by: z.array(z.string().min(1)).default([])
    .describe('Tags that split a device into independent alert keys, e.g. [cpu] for one alert per (hostname, cpu). A missing tag is its own key.'),
};
const metric = z.string().regex(metricNamePattern).describe('Metric the rule watches; a reading without it is not evaluated by this rule.');
const hysteresis = z.number().min(0).default(0)
  .describe('Resolve only once the value is back past the limit by this much (same unit as the limit). 0: resolve as soon as the condition no longer holds.');

export const thresholdRuleSchema = z.strictObject({
  kind: z.literal('threshold').describe('Fires while the value is above (or below) a fixed limit.'),
  ...common,
  metric,
  above: z.number().optional().describe('Fire when value > above (strict, like seed 001\'s `usage > 90`). Give exactly one of above, below.'),
  below: z.number().optional().describe('Fire when value < below (strict). Give exactly one of above, below.'),
  hysteresis,
  minDurationMs: z.number().int().min(0).default(0)
    .describe('Fire only once the condition has held, reading after reading, for this long in event time (the largest event time seen minus that at the start of the run). 0: fire on the first breaching reading.'),
}).refine((r) => (r.above === undefined) !== (r.below === undefined), { message: 'give exactly one of above, below', path: ['above'] });

const countWindow = z.strictObject({
  readings: z.number().int().min(2).max(100_000).describe('The window is the last N readings (arrival order) before the one being scored.'),
});
const timeWindow = z.strictObject({
  ms: z.number().int().positive().describe('The window holds readings whose event time is within this many ms of the largest event time seen (evicted oldest-arrival first).'),
  maxReadings: z.number().int().min(2).max(100_000).default(1000).describe('Memory bound: at most this many readings are kept; the oldest arrival is evicted beyond it.'),
});

export const zscoreRuleSchema = z.strictObject({
  kind: z.literal('zscore').describe('Fires when a reading is more than k standard deviations from the rolling mean (seed 003: |Z| > 3).'),
  ...common,
  metric,
  k: z.number().positive().default(3).describe('Fire when |z| > k, z = (value - mean) / stddev of the window (sample stddev, n-1).'),
  window: z.union([countWindow, timeWindow]).default({ readings: 60 })
    .describe('The rolling window the mean and stddev come from: { readings: N } or { ms: D, maxReadings: M }. Default: { readings: 60 }.'),
  minSamples: z.number().int().min(2).default(10).describe('No z is computed (so no change of state) until the window holds this many readings.'),
  minStd: z.number().min(0).default(0)
    .describe('Floor for the stddev. 0: a window of identical values has no z (nothing fires); > 0: the floor is used instead, so any departure of more than k*minStd fires.'),
  hysteresis: hysteresis.describe('Resolve when |z| <= k - hysteresis (must be < k).'),
}).refine((r) => r.hysteresis < r.k, { message: 'hysteresis must be smaller than k', path: ['hysteresis'] })
  .refine((r) => r.minSamples <= ('readings' in r.window ? r.window.readings : r.window.maxReadings),
    { message: 'minSamples must not exceed the window size', path: ['minSamples'] });

export const rateRuleSchema = z.strictObject({
  kind: z.literal('rate').describe('Fires when the value changes faster than a limit, per second of event time, between consecutive readings.'),
  ...common,
  metric,
  limit: z.number().positive().describe('Units per second; fire when the rate exceeds it (see direction).'),
  direction: z.enum(['any', 'up', 'down']).default('any')
    .describe('any: |rate| > limit; up: rate > limit (rising); down: rate < -limit (falling).'),
  hysteresis: hysteresis.describe('Resolve when the rate is back to limit - hysteresis or less (must be < limit).'),
}).refine((r) => r.hysteresis < r.limit, { message: 'hysteresis must be smaller than limit', path: ['hysteresis'] });

export const rangeRuleSchema = z.strictObject({
  kind: z.literal('range').describe('Fires when the value leaves an operational range (narrower than the profile\'s valid min/max, which the mapper enforces).'),
  ...common,
  metric,
  min: z.number().optional().describe('Fire when value < min. Give min, max or both.'),
  max: z.number().optional().describe('Fire when value > max. Give min, max or both.'),
  hysteresis: hysteresis.describe('Resolve when min + hysteresis <= value <= max - hysteresis.'),
}).refine((r) => r.min !== undefined || r.max !== undefined, { message: 'give min, max or both', path: ['min'] })
  .refine((r) => r.min === undefined || r.max === undefined || r.min + 2 * r.hysteresis <= r.max,
    { message: 'min + 2*hysteresis must not exceed max', path: ['max'] });

export const flatlineRuleSchema = z.strictObject({
  kind: z.literal('flatline').describe('Stuck sensor: fires when the value stays within epsilon of the first value of a run.'),
  ...common,
  metric,
  epsilon: z.number().min(0).default(0).describe('A reading continues the run when |value - first value of the run| <= epsilon.'),
  readings: z.number().int().min(2).optional().describe('Fire once the run has this many readings. Give readings, ms or both (both must then hold).'),
  ms: z.number().int().positive().optional().describe('Fire once the run spans this long in event time (largest event time seen minus that at its start).'),
}).refine((r) => r.readings !== undefined || r.ms !== undefined, { message: 'give readings, ms or both', path: ['readings'] });

export const staleRuleSchema = z.strictObject({
  kind: z.literal('stale').describe('Fires when no reading came from the device for a while (processing time, checked by tick()); the next reading resolves it.'),
  ...common,
  metric: z.string().regex(metricNamePattern).optional()
    .describe('Count only readings carrying this metric. Absent: any reading counts, and alerts carry metric "*".'),
  afterMs: z.number().int().positive().describe('Fire once this long has passed, in gateway time, since the last reading was received.'),
});

/** One anomaly rule, discriminated by `kind`. */
export const ruleSpecSchema = z.discriminatedUnion('kind', [
  thresholdRuleSchema, zscoreRuleSchema, rateRuleSchema, rangeRuleSchema, flatlineRuleSchema, staleRuleSchema,
]).describe('An anomaly rule: threshold, zscore, rate, range, flatline or stale.');

/** The rules of one profile: names (explicit or default) must be unique. */
export const ruleListSchema = z.array(ruleSpecSchema).superRefine((rules, ctx) => {
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    const name = ruleName(r);
    if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate rule name "${name}": give each rule a distinct name` });
    seen.add(name);
  });
}).describe('Anomaly rules; each rule name (default "<metric>-<kind>") must be unique.');

export type RuleSpec = z.output<typeof ruleSpecSchema>;
export type RuleSpecInput = z.input<typeof ruleSpecSchema>;
export type RuleKind = RuleSpec['kind'];
export type ThresholdRule = z.output<typeof thresholdRuleSchema>;
export type ZScoreRule = z.output<typeof zscoreRuleSchema>;
export type RateRule = z.output<typeof rateRuleSchema>;
export type RangeRule = z.output<typeof rangeRuleSchema>;
export type FlatlineRule = z.output<typeof flatlineRuleSchema>;
export type StaleRule = z.output<typeof staleRuleSchema>;

/** The name alerts carry: the explicit name, else "<metric>-<kind>", else "stale". */
export function ruleName(r: { name?: string | undefined; kind: string; metric?: string | undefined }): string {
  return r.name ?? (r.metric === undefined ? r.kind : `${r.metric}-${r.kind}`);
}
