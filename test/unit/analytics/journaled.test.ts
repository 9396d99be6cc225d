// Analytics inside the journal's commit (src/journal/processor.ts): aggregates and alerts
// are committed with the readings they come from, state is checkpointed with the sequence
// it covers, and a journal abandoned without close() (what SIGKILL leaves) and reopened
// continues exactly as an uninterrupted run: same derived records, same sequences.
// Real SQLite files; a ManualClock drives group commit and checkpoints, so nothing sleeps.
import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AnalyticsStage } from '../../../src/analytics/analytics-stage.js';
import type { AnalyticsDeclarations } from '../../../src/analytics/declarations.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { JournalEntry, StoredRecord } from '../../../src/journal/journal.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { streamName } from '../../../src/journal/streams.js';
import { mulberry32 } from '../../../src/simulate/prng.js';
import { makeContext, tempDir, turns, killJournal, openJournal, useCleanups } from '../support.js';
import { exact, reference, seed001Workload, T0, wkey, type Ev } from './windows/support.js';

const WINDOW = 300_000;
const LATENESS = 10_000;
const decl: AnalyticsDeclarations = {
  windows: [{ name: 'usage-5m', type: 'tumbling', sizeMs: WINDOW, aggregates: ['avg', 'max'], allowedLatenessMs: LATENESS, groupByTags: ['cpu'], metrics: ['usage'], profile: 'cpu-monitor' }],
  rules: {
    'cpu-monitor': [
      { name: 'usage-high', kind: 'threshold', metric: 'usage', above: 90, by: ['cpu'] },
      { name: 'silent', kind: 'stale', afterMs: 60_000 },
    ],
  },
};

/** Seed 001's workload, with host-3 silent from minute 20 to 30 of event (and arrival) time: a stale alert. */
function workload(): Ev[] {
  const evs = seed001Workload({ seed: 7, hosts: 4, cpus: 2, durationMs: 3_600_000, periodMs: 10_000, maxDisorderMs: 10_000, lateFraction: 0.04, maxLateMs: 60_000 });
  return evs.filter((e) => !(e.device === 'host-3' && e.received >= T0 + 1_200_000 && e.received < T0 + 1_800_000));
}

const entryOf = (e: Ev): JournalEntry => ({
  stream: 'readings', key: e.device, received: e.received, ts: e.ts, profile: e.profile,
  body: JSON.stringify({ tags: e.tags, metrics: e.metrics }),
});

const defer = useCleanups();

function start(dataDir: string, clock: ManualClock): { j: SqliteJournal; stage: AnalyticsStage } {
  // commitFillBytes 0: a group commits after commitIntervalMs, within the clock steps below.
  const ctx = makeContext({ dataDir, analytics: { checkpointIntervalMs: 30_000 }, journal: { commitFillBytes: 0 } }, clock);
  const stage = new AnalyticsStage(ctx, decl);
  const j = new SqliteJournal(ctx);
  j.setProcessor(stage, ctx.config.analytics.checkpointIntervalMs);
  openJournal(j, defer);
  return { j, stage };
}

function allRecords(j: SqliteJournal): StoredRecord[] {
  const db = (j as unknown as { db: Database.Database }).db;
  const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'seg_*'").pluck().all() as string[]);
  const rows = tables.flatMap((t) => db.prepare(`SELECT seq, stream, key, received, ts, body FROM ${t}`).all() as Array<Omit<StoredRecord, 'stream'> & { stream: number }>);
  return rows.map((r) => ({ ...r, stream: streamName(r.stream) })).sort((a, b) => a.seq - b.seq);
}

/**
 * Feeds the workload in groups (a commit every 50 readings, as group commit would make
 * them), a tick every 5 s of arrival time; `crashAt` lists group numbers after which the
 * journal is killed with `inFlight` readings appended but not committed — the device
 * resends those to the next run. Ends with a tick far in the future: idle windows close.
 */
async function feed(dataDir: string, evs: Ev[], crashAt: Set<number>, inFlight = 7): Promise<{ records: StoredRecord[]; restarts: number }> {
  const clock = new ManualClock(T0);
  let { j } = start(dataDir, clock);
  let restarts = 0;
  let nextTick = T0;
  const GROUP = 50;
  for (let g = 0, i = 0; i < evs.length; g++) {
    const group = evs.slice(i, i + GROUP);
    for (const e of group) {
      while (e.received >= nextTick) {
        j.tick(nextTick);
        nextTick += 5000;
      }
      j.append(entryOf(e), () => undefined);
    }
    clock.advance(10_000); // commits the group (and checkpoints every 30 s of clock)
    await turns(2);
    i += group.length;
    if (crashAt.has(g) && i < evs.length) {
      const lost = evs.slice(i, i + inFlight);
      for (const e of lost) j.append(entryOf(e), () => undefined); // appended, never committed
      killJournal(j);
      restarts++;
      ({ j } = start(dataDir, clock));
    }
  }
  j.tick(nextTick + 3_600_000);
  clock.advance(10_000);
  await turns(2);
  return { records: allRecords(j), restarts };
}

const derived = (records: StoredRecord[]) => records.filter((r) => r.stream !== 'readings');

describe('analytics committed with the journal', () => {
  const evs = workload();

  it('emits seed 001 aggregates equal to brute force, late corrections counted per window, and alerts in the journal', async () => {
    const { records } = await feed(tempDir(), evs, new Set());
    const aggs = records.filter((r) => r.stream === 'aggregates').map((r) => ({ key: r.key, ...JSON.parse(r.body) }));
    const onTime = aggs.filter((a) => a.late === undefined);
    const ref = reference(evs, WINDOW, WINDOW, LATENESS);
    expect(onTime).toHaveLength(ref.windows.size);
    for (const a of onTime) {
      const w = ref.windows.get(wkey(a.key, a.tags.cpu, a.window_start))!;
      const x = exact(w.values, w.ts);
      expect({ count: a.count, sum: a.sum, min: a.min, max: a.max, avg: a.avg, first: a.first, last: a.last, end: a.window_end })
        .toEqual({ count: x.count, sum: x.sum, min: x.min, max: x.max, avg: x.avg, first: x.first, last: x.last, end: w.end });
    }
    const late = new Map<string, number>();
    for (const a of aggs.filter((g) => g.late === 1)) late.set(wkey(a.key, a.tags.cpu, a.window_start), (late.get(wkey(a.key, a.tags.cpu, a.window_start)) ?? 0) + 1);
    expect(late).toEqual(ref.late);
    expect([...ref.late.values()].reduce((s, n) => s + n, 0)).toBeGreaterThan(5);

    // usage > 90 per (host, cpu): fires on the first breach, resolves on the first reading back at or below 90.
    const expected: string[] = [];
    const firing = new Set<string>();
    for (const e of evs) {
      const k = `${e.device}/${e.tags.cpu}`;
      const u = e.metrics.usage!;
      if (u > 90 && !firing.has(k)) { firing.add(k); expected.push(`${k} firing ${u}`); }
      else if (u <= 90 && firing.has(k)) { firing.delete(k); expected.push(`${k} resolved ${u}`); }
    }
    const alerts = records.filter((r) => r.stream === 'alerts').map((r) => ({ key: r.key, ts: r.ts, ...JSON.parse(r.body) }));
    expect(alerts.filter((a) => a.rule === 'usage-high').map((a) => `${a.key}/${a.tags.cpu} ${a.state} ${a.value}`)).toEqual(expected);
    const stale = alerts.filter((a) => a.rule === 'silent');
    // host-3's silence: one stale alert fired at a tick and resolved by its next reading;
    // then the last tick, an hour after the end, finds every host silent.
    expect(stale.map((a) => `${a.key} ${a.state}`).slice(0, 2)).toEqual(['host-3 firing', 'host-3 resolved']);
    expect(stale.slice(2).map((a) => `${a.key} ${a.state}`).sort()).toEqual(['host-0 firing', 'host-1 firing', 'host-2 firing', 'host-3 firing']);
  });

  it('killed without close() at five points and restarted: the same derived records, in the same order, with the same sequences', async () => {
    const straight = await feed(tempDir(), evs, new Set());
    const r = mulberry32(11);
    const groups = Math.ceil(evs.length / 50);
    const crashes = new Set<number>();
    while (crashes.size < 5) crashes.add(1 + Math.floor(r() * (groups - 2)));
    const killed = await feed(tempDir(), evs, crashes);
    expect(killed.restarts).toBe(5);
    const strip = (rs: StoredRecord[]) => derived(rs).map(({ seq, stream, key, received, ts, body }) => ({ seq, stream, key, received, ts, body }));
    expect(derived(straight.records).length).toBeGreaterThan(100);
    expect(strip(killed.records)).toEqual(strip(straight.records));
    expect(killed.records.filter((x) => x.stream === 'readings')).toHaveLength(evs.length);
  });

  it('flags a reading stamped beyond maxFutureSkewMs and keeps it out of the windows', async () => {
    const clock = new ManualClock(T0);
    const { j, stage } = start(tempDir(), clock);
    const e: Ev = { device: 'host-9', profile: 'cpu-monitor', ts: T0 + 3_600_000, received: T0, tags: { cpu: 'cpu0' }, metrics: { usage: 5 } };
    j.append(entryOf(e), () => undefined);
    clock.advance(10);
    await turns(2);
    const [rec] = allRecords(j);
    expect(JSON.parse(rec!.body).flags).toEqual(['future-ts']);
    expect(stage.stats()).toMatchObject({ futureReadings: 1, openWindows: 0 });
  });

  it('moves processing time with a clock correction, and replays it: a sync does not make every device look silent', async () => {
    const dir = tempDir();
    const clock = new ManualClock(5_000); // 1970, before the sync
    let { j, stage } = start(dir, clock);
    const e: Ev = { device: 'host-1', profile: 'cpu-monitor', ts: T0, received: 5_000, tags: { cpu: 'cpu0' }, metrics: { usage: 5 } };
    j.append({ ...entryOf(e), body: JSON.stringify({ tags: e.tags, metrics: e.metrics, clock: 'unsynced' }) }, () => undefined);
    clock.advance(10);
    await turns(2);
    const offset = T0 - 5_000;
    j.correctClock(offset);
    j.tick(T0 + 30_000); // 30 s after the reading, in corrected time: not stale (afterMs 60 s)
    clock.advance(10);
    await turns(2);
    expect(stage.firing()).toEqual([]);
    killJournal(j); // the shift is replayed from the journal's log, not lost with the process
    ({ j, stage } = start(dir, clock));
    j.tick(T0 + 50_000);
    clock.advance(10);
    await turns(2);
    expect(stage.firing()).toEqual([]);
    j.tick(T0 + 61_000);
    clock.advance(10);
    await turns(2);
    expect(stage.firing().map((a) => `${a.device} ${a.rule}`)).toEqual(['host-1 silent']);
  });
});
