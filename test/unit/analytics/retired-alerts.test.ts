// Alerts of a rule changed or removed by a reload (SIGHUP) must still resolve: the
// stage promises "alerts of changed or removed rules resolve at the next tick"
// (AnalyticsStage.reconfigure), and a restart from a checkpoint must emit exactly
// what an uninterrupted run would. The pending retirements live only in memory
// (RuleEngine.retiredAlerts), not in snapshot(): a second reconfigure, or a restart
// from the checkpoint the reload barrier writes right after the change, loses them,
// and the old rule's `firing` alert is never followed by `resolved` downstream.
import { describe, expect, it } from 'vitest';
import type { AnalyticsDeclarations } from '../../../src/analytics/declarations.js';
import { AnalyticsStage } from '../../../src/analytics/analytics-stage.js';
import type { JournalEntry } from '../../../src/journal/journal.js';
import { readingEntry } from '../../../src/ingest/ingest.js';
import { makeContext } from '../support.js';

const T0 = 1_700_000_000_000;

const BEFORE: AnalyticsDeclarations = { windows: [], rules: { p: [{ name: 'hot', kind: 'threshold', metric: 'x', above: 90 }] } };
/** "hot" changed (above 80): its keys start afresh, and a firing one must be resolved as retired. */
const AFTER: AnalyticsDeclarations = { windows: [], rules: { p: [{ name: 'hot', kind: 'threshold', metric: 'x', above: 80 }] } };

function stageWith(decl: AnalyticsDeclarations): AnalyticsStage {
  const stage = new AnalyticsStage(makeContext(), decl);
  stage.restore(null);
  return stage;
}

/** A firing "hot" alert for device d (x = 95). */
function firingStage(): AnalyticsStage {
  const stage = stageWith(BEFORE);
  const out = stage.process({ ...readingEntry({ device: 'd', profile: 'p', ts: T0, tags: {}, metrics: { x: 95 } }, T0), seq: 1 });
  expect(out.map((e) => JSON.parse(e.body) as { rule: string; state: string }).map((b) => [b.rule, b.state])).toEqual([['hot', 'firing']]);
  return stage;
}

const alerts = (out: JournalEntry[]) => out.filter((e) => e.stream === 'alerts').map((e) => {
  const b = JSON.parse(e.body) as { rule: string; state: string; details?: Record<string, number> };
  return [e.key, b.rule, b.state, b.details?.retired];
});

describe('alerts of a rule changed by a reload', () => {
  it('resolve (retired) at the next tick after one reload', () => {
    const stage = firingStage();
    stage.reconfigure(AFTER);
    expect(alerts(stage.tick(T0 + 1000))).toEqual([['d', 'hot', 'resolved', 1]]);
  });

  it('still resolve at the next tick when a second reload comes before it (SIGHUP twice within a tick interval)', () => {
    const stage = firingStage();
    stage.reconfigure(AFTER);
    stage.reconfigure(AFTER); // same files reloaded again, before the 1 s tick
    expect(alerts(stage.tick(T0 + 1000))).toEqual([['d', 'hot', 'resolved', 1]]);
  });

  it('still resolve after a restart from the checkpoint the reload barrier writes after the change', () => {
    const stage = firingStage();
    // ProcessorHost.barrier: checkpoint, change, checkpoint — the journal restarts from the latter.
    stage.reconfigure(AFTER);
    const checkpoint = stage.snapshot();
    // Uninterrupted: the next tick resolves the retired alert.
    expect(alerts(stage.tick(T0 + 1000))).toEqual([['d', 'hot', 'resolved', 1]]);
    // Killed before that tick committed: the restarted gateway must emit the same.
    const restarted = new AnalyticsStage(makeContext(), AFTER);
    restarted.restore(Buffer.from(checkpoint));
    expect(alerts(restarted.tick(T0 + 1000))).toEqual([['d', 'hot', 'resolved', 1]]);
  });

  it('still resolve after a restart under changed rules whose replay repeats a logged tick', () => {
    const withStale = (above: number): AnalyticsDeclarations => ({
      windows: [], rules: { p: [{ name: 'hot', kind: 'threshold', metric: 'x', above }, { name: 'silent', kind: 'stale', afterMs: 5000 }] },
    });
    const stage = new AnalyticsStage(makeContext(), withStale(90));
    stage.restore(null);
    stage.process({ ...readingEntry({ device: 'd', profile: 'p', ts: T0, tags: {}, metrics: { x: 95 } }, T0), seq: 1 }); // hot fires
    const checkpoint = stage.snapshot();
    // A tick that derived a record (stale fires) is logged after the checkpoint; then the gateway dies.
    expect(alerts(stage.tick(T0 + 6000))).toEqual([['d', 'silent', 'firing', undefined]]);
    // Restart with "hot" changed: CheckpointStore.replay = restore(checkpoint), then the logged tick
    // (replayTick), whose derived records are discarded (they are in the journal already — but the retirement is not).
    const restarted = new AnalyticsStage(makeContext(), withStale(80));
    restarted.restore(Buffer.from(checkpoint));
    restarted.replayTick(T0 + 6000);
    // Live again: the old "hot" alert has to resolve now, since it has not reached the journal.
    expect(alerts(restarted.tick(T0 + 7000))).toEqual([['d', 'hot', 'resolved', 1]]);
  });

  it('are not emitted twice: a replayed tick takes the retirements its checkpoint held, as the original tick did', () => {
    const stage = firingStage();
    stage.reconfigure(AFTER);
    const checkpoint = stage.snapshot(); // the barrier's checkpoint after the change
    expect(alerts(stage.tick(T0 + 1000))).toEqual([['d', 'hot', 'resolved', 1]]); // journaled, and the tick logged
    const restarted = new AnalyticsStage(makeContext(), AFTER);
    restarted.restore(Buffer.from(checkpoint));
    restarted.replayTick(T0 + 1000);
    expect(alerts(restarted.tick(T0 + 2000))).toEqual([]);
  });
});
