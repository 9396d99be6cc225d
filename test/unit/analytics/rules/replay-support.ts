// Shared by the rule engine's retention tests (not a test file): a RuleEngine run as the
// gateway runs it, uninterrupted, and checkpointed, crashed and replayed as the journal
// would (only the ticks it logged: those that alerted or forgot), for restart-points.ts.
import { RuleEngine, type RuleReading, type RulesByProfile } from '../../../../src/analytics/rules/index.js';
import type { RetentionOptions } from '../../../../src/analytics/retention.js';
import { churnWorkload, type RestartedRun, type StraightRun } from '../restart-points.js';

export type Op = { read: RuleReading } | { tick: number };

/**
 * The retention tests' churn (restart-points.ts) as rule-engine ops from `start`: `ids`
 * device ids, those below `qFrom` on profile p and the rest on q; each reading has one
 * metric x (0–10), a tag t (u or v) and an event time up to 500 ms before its receipt.
 */
export function ruleWorkload(seed: number, n: number, ids: number, qFrom: number, start: number): Op[] {
  return churnWorkload<Op>(seed, n, ids, start, (now) => ({ tick: now }), (d, now, r) => {
    const x = Math.floor(r() * 11);
    return { read: { device: `d${d}`, profile: d < qFrom ? 'p' : 'q', ts: now - Math.floor(r() * 500), received: now, tags: { t: r() < 0.5 ? 'u' : 'v' }, metrics: { x } } };
  });
}

export interface RuleRun extends StraightRun {
  /** Per op: whether the journal logs it (every reading; a tick that alerted or forgot). */
  logged: boolean[];
  refused: number;
}

/** The straight and restarted runs of `rules` under `opts` over one workload. */
export function ruleRuns(rules: RulesByProfile, opts: RetentionOptions, ops: readonly Op[]): { ref: RuleRun; restarted: RestartedRun } {
  const state = (e: RuleEngine): string => JSON.stringify([e.snapshot(), e.stats, e.firing()]);
  const ref = straight();
  return { ref, restarted };

  function step(e: RuleEngine, op: Op): { line: string; logged: boolean } {
    if ('tick' in op) {
      const before = e.forgotten;
      const out = e.tick(op.tick);
      return { line: JSON.stringify(out), logged: out.length > 0 || e.forgotten !== before };
    }
    const before = e.refused;
    return { line: JSON.stringify(e.evaluate(op.read)) + (e.refused !== before ? ' refused' : ''), logged: true };
  }

  function straight(): RuleRun {
    const e = new RuleEngine(rules, opts);
    const lines: string[] = [];
    const logged: boolean[] = [];
    const forgetAt: number[] = [];
    ops.forEach((op, i) => {
      const before = e.forgotten;
      const s = step(e, op);
      if (e.forgotten !== before) forgetAt.push(i);
      lines.push(s.line);
      logged.push(s.logged);
    });
    return { lines, logged, forgetAt, refused: e.refused, final: state(e) };
  }

  function restarted(cp: number, crash: number, oldJournal = false): { lines: string[]; final: string } {
    const live = new RuleEngine(rules, opts);
    for (let i = 0; i < cp; i++) step(live, ops[i]!);
    const e = RuleEngine.restore(rules, JSON.parse(JSON.stringify(live.snapshot())), opts);
    for (let i = cp; i < crash; i++) {
      const op = ops[i]!;
      if ('tick' in op && (!ref.logged[i] || (oldJournal && ref.lines[i] === '[]'))) continue;
      step(e, op);
    }
    const lines = ops.slice(crash).map((op) => step(e, op).line);
    return { lines, final: state(e) };
  }
}
