import { z } from 'zod';
import { AGGREGATE_NAMES, windowSpecProblems, type WindowSpec } from './spec.js';

/**
 * A window as a profile (or the site config's analytics.profiles) declares it, in YAML.
 * The profile it belongs to is implied, so `profile` is not written. Every rule of
 * spec.ts (windowSpecProblems) is checked here too, so `weir check` reports them with
 * file, line and path.
 */
export const windowSpecSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be A-Z a-z 0-9 . _ - (at most 64)')
    .describe('Window name, the `window` field of its aggregates; unique per profile.'),
  type: z.enum(['tumbling', 'hopping']).describe('tumbling: back-to-back windows of sizeMs; hopping: windows of sizeMs every slideMs (Flink\'s sliding windows).'),
  sizeMs: z.number().int().positive().describe('Window length in ms of event time; windows are aligned to the epoch (plus offsetMs), start inclusive, end exclusive.'),
  slideMs: z.number().int().positive().optional().describe('Hopping only: a new window starts every slideMs (0 < slideMs <= sizeMs).'),
  offsetMs: z.number().int().optional().describe('Alignment offset from the epoch, as Flink\'s `offset` (e.g. a time-zone shift for daily windows).'),
  aggregates: z.array(z.enum(AGGREGATE_NAMES)).default([])
    .describe('Extras beyond count, sum, min, max, avg, first and last (always emitted): stddev, p50, p95, p99 (a DDSketch of 1% relative accuracy).'),
  allowedLatenessMs: z.number().int().min(0).default(0)
    .describe('How far behind its device\'s newest reading (event time) a reading may arrive and still count; seed 001 uses 10000. Later readings are counted as late corrections, never dropped silently.'),
  groupByTags: z.array(z.string().min(1)).default([]).describe('Tags that split a device\'s metric into separate series, e.g. [cpu].'),
  metrics: z.array(z.string().min(1)).optional().describe('Only these metrics; all of the reading\'s metrics when absent.'),
}).superRefine((spec, ctx) => {
  for (const p of windowSpecProblems(spec as WindowSpec)) {
    const colon = p.indexOf(': ');
    ctx.addIssue({ code: 'custom', path: [p.slice(0, colon)], message: p.slice(colon + 2) });
  }
});

/** The windows of one profile: names must be unique. */
export const windowListSchema = z.array(windowSpecSchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((w, i) => {
    if (seen.has(w.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate window name "${w.name}"` });
    seen.add(w.name);
  });
}).describe('Event-time windows whose aggregates go to weir.aggregates.');

export type WindowSpecInput = z.input<typeof windowSpecSchema>;
export type WindowDecl = z.output<typeof windowSpecSchema>;
