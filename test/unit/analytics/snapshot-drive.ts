// The call sequence behind the analytics snapshot fixtures (not a test file): seed 001's
// workload through an AnalyticsStage, a tick before every reading. The v1 fixture was
// written by this sequence on the gateway before the binary snapshot (commit 65b2c87),
// so tests can check that a checkpoint an older gateway left still restores exactly.
import type { AnalyticsDeclarations } from '../../../src/analytics/declarations.js';
import type { AnalyticsStage } from '../../../src/analytics/analytics-stage.js';
import { readingEntry } from '../../../src/ingest/ingest.js';
import { seed001Workload, T0, type Ev } from './windows/support.js';

export const COMPAT_DECL: AnalyticsDeclarations = {
  windows: [
    { name: 'usage-5m', type: 'tumbling', sizeMs: 300_000, aggregates: ['avg', 'max'], allowedLatenessMs: 10_000, groupByTags: ['cpu'], metrics: ['usage'], profile: 'cpu-monitor' },
    { name: 'all-2m', type: 'hopping', sizeMs: 120_000, slideMs: 30_000, offsetMs: 7000, aggregates: ['stddev', 'p50', 'p95', 'p99'], allowedLatenessMs: 3000 },
  ],
  rules: {
    'cpu-monitor': [
      { name: 'usage-high', kind: 'threshold', metric: 'usage', above: 90, by: ['cpu'] },
      { name: 'usage-z', kind: 'zscore', metric: 'usage', k: 2, window: { readings: 20 }, minSamples: 5 },
      { name: 'silent', kind: 'stale', afterMs: 60_000 },
    ],
  },
};

/** 3 hosts × 2 cpus for 40 minutes, host-2 silent from minute 10 to 20. */
export function compatWorkload(): Ev[] {
  const evs = seed001Workload({ seed: 11, hosts: 3, cpus: 2, durationMs: 2_400_000, periodMs: 7000, maxDisorderMs: 10_000, lateFraction: 0.05, maxLateMs: 90_000 });
  return evs.filter((e) => !(e.device === 'host-2' && e.received >= T0 + 600_000 && e.received < T0 + 1_200_000));
}

/** The fixture's cut: the v1 snapshot covers readings [0, COMPAT_CUT). */
export const COMPAT_CUT = 1000;

/** Feeds readings [from, to) as ingest journals them (a tick at each one's arrival first); every derived record as a JSON line. */
export function drive(stage: AnalyticsStage, evs: readonly Ev[], from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    const e = evs[i]!;
    for (const d of stage.tick(e.received)) out.push(JSON.stringify(d));
    for (const d of stage.process({ ...readingEntry(e, e.received), seq: i + 1 })) out.push(JSON.stringify(d));
  }
  return out;
}
