import { z } from 'zod';
import { ruleListSchema } from '../analytics/rules/schema.js';
import { windowListSchema } from '../analytics/windows/schema.js';
import { checkAlways } from './fields.js';

/** What the site config may replace of one profile's analytics (a list given replaces the profile's whole list). */
const profileAnalytics = z.strictObject({
  windows: windowListSchema.optional().describe('Replaces the profile\'s windows ([] turns them off).'),
  rules: ruleListSchema.optional().describe('Replaces the profile\'s rules ([] turns them off).'),
});

/**
 * Edge analytics (issue 4): event-time windows and anomaly rules, evaluated inside the
 * journal's commit so their state is checkpointed atomically with the sequence it covers.
 */
export const analyticsConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Evaluate the windows and rules the device profiles declare.'),
  idleTimeoutMs: z.number().int().positive().default(300_000)
    .describe('A device silent this long (gateway time) gets its open windows closed and emitted.'),
  maxFutureSkewMs: z.number().int().min(0).default(300_000)
    .describe('A reading stamped more than this ahead of the gateway clock is flagged ("future-ts") and neither aggregated nor allowed to move its device\'s watermark.'),
  maxDevices: z.number().int().positive().default(50_000)
    .describe('Most devices the window engine, and the rule engine, track at once (about 1 KB each). A reading of a further new device is journaled and forwarded but not analysed, and counted in weir_analytics_devices_refused_total: a client that invents a device id per message cannot exhaust memory. Devices already tracked are never affected.'),
  forgetAfterMs: z.number().int().positive().default(7 * 24 * 3_600_000)
    .describe('A device silent this long (gateway time; at least idleTimeoutMs) is forgotten, within the next minute, unless it has an open window or a firing alert other than `stale`. A stale rule waits for its own afterMs first, and its alert stays firing this long before it resolves with details.forgotten = 1. If the device returns it starts afresh: a reading older than its old watermark then counts as on time, not late.'),
  tickIntervalMs: z.number().int().min(100).default(1000)
    .describe('How often idle windows and stale-device rules are checked.'),
  checkpointIntervalMs: z.number().int().min(100).default(60_000)
    .describe('How often window and rule state is checkpointed in the journal; a restart replays the journal from the last checkpoint (longer: fewer flash writes, longer replays).'),
  alertsTopic: z.string().default('weir/alerts/{profile}/{device}/{rule}')
    .describe('Alerts are also published at once, QoS 1, on this topic of the embedded MQTT broker, so equipment on site can react while the uplink is down ({profile}, {device}, {rule} are filled in; empty: off).'),
  profiles: z.record(z.string(), profileAnalytics).default({})
    .describe('Per profile name: windows and rules that replace those the profile declares.'),
}).superRefine(checkAnalytics, checkAlways);

function checkAnalytics(a: { idleTimeoutMs: unknown; forgetAfterMs: unknown }, ctx: z.RefinementCtx): void {
  // A device must not be forgotten while its windows could still be open.
  if (typeof a.idleTimeoutMs === 'number' && typeof a.forgetAfterMs === 'number' && a.forgetAfterMs < a.idleTimeoutMs) {
    ctx.addIssue({ code: 'custom', path: ['forgetAfterMs'], message: `must be at least idleTimeoutMs (${a.idleTimeoutMs})` });
  }
}

export type AnalyticsConfig = z.infer<typeof analyticsConfigSchema>;
