// analytics.maxDevices and analytics.forgetAfterMs through the AnalyticsStage and the real
// journal: readings of devices beyond the cap are counted (weir_analytics_devices_refused_total)
// and warned about once a minute; and a gateway killed without close() and restarted emits
// exactly the derived records of an uninterrupted run while devices are forgotten (PLCs
// with their stale alerts resolved) and refused — because a tick that only forgot is
// logged for the replay (tickChanged).
import { Writable } from 'node:stream';
import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AnalyticsStage } from '../../../src/analytics/analytics-stage.js';
import type { AnalyticsDeclarations } from '../../../src/analytics/declarations.js';
import { configSchema } from '../../../src/config/schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import { createLogger } from '../../../src/core/logger.js';
import type { JournalEntry, StoredRecord } from '../../../src/journal/journal.js';
import { SqliteJournal } from '../../../src/journal/sqlite-journal.js';
import { streamName } from '../../../src/journal/streams.js';
import { mulberry32 } from '../../../src/simulate/prng.js';
import { makeContext, tempDir, turns, killJournal, openJournal, useCleanups } from '../support.js';

const T0 = 1_642_763_100_000;
const decl: AnalyticsDeclarations = {
  windows: [{ name: 'usage-1m', type: 'tumbling', sizeMs: 60_000, aggregates: ['avg', 'max'], allowedLatenessMs: 5000, metrics: ['usage'], profile: 'cpu-monitor' }],
  rules: {
    'cpu-monitor': [{ name: 'usage-high', kind: 'threshold', metric: 'usage', above: 90 }],
    plc: [{ name: 'silent', kind: 'stale', afterMs: 30_000 }],
  },
};

const entry = (device: string, ts: number, received: number, usage: number, profile = 'cpu-monitor'): JournalEntry => ({
  stream: 'readings', key: device, received, ts, profile, body: JSON.stringify({ tags: {}, metrics: { usage } }),
});

describe('analytics.maxDevices and analytics.forgetAfterMs', () => {
  it('default to 50,000 devices and a week, and a device may not be forgotten before it goes idle', () => {
    expect(configSchema.parse({}).analytics).toMatchObject({ maxDevices: 50_000, forgetAfterMs: 604_800_000 });
    const r = configSchema.safeParse({ analytics: { idleTimeoutMs: 600_000, forgetAfterMs: 300_000 } });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['analytics.forgetAfterMs', 'must be at least idleTimeoutMs (600000)']]);
    expect(configSchema.safeParse({ analytics: { maxDevices: 0 } }).success).toBe(false);
  });
});

describe('the device cap in the analytics stage', () => {
  it('counts every reading refused by an engine, once, and warns at most once a minute', async () => {
    const chunks: string[] = [];
    const stream = new Writable({ write(c, _e, cb) { chunks.push(c.toString()); cb(); } });
    const clock = new ManualClock(T0);
    const ctx = { ...makeContext({ analytics: { maxDevices: 2 } }, clock), log: createLogger('info', stream) };
    const stage = new AnalyticsStage(ctx, decl);
    stage.restore(null);
    let seq = 0;
    const process = (device: string, at: number): JournalEntry[] => stage.process({ ...entry(device, at, at, 95), seq: ++seq });
    expect(process('d0', T0).map((e) => e.stream)).toEqual(['alerts']);
    process('d1', T0);
    for (const d of ['d2', 'd3', 'd4']) expect(process(d, T0 + 1)).toEqual([]); // refused by both engines: counted once each
    expect(process('d0', T0 + 70_000).map((e) => e.stream)).toEqual(['aggregates']); // known: analysed as ever
    clock.advance(60_000);
    process('d2', T0 + 70_001);
    const refused = (await ctx.metrics.devicesRefused.get()).values[0]!.value;
    expect(refused).toBe(4);
    expect(stage.stats()).toMatchObject({ windowDevices: 2, ruleDevices: 2 });
    const warnings = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 40);
    expect(warnings.map((w) => [w.device, w.suppressed])).toEqual([['d2', undefined], ['d2', 2]]);
    expect(warnings[0]!.msg).toMatch(/maxDevices/);
  });
});

// ---- killed and restarted while devices are forgotten and refused ----

const defer = useCleanups();

/** `oldJournal`: the stage does not report ticks that only forgot, as before tickChanged(). */
function start(dataDir: string, clock: ManualClock, oldJournal: boolean): SqliteJournal {
  const analytics = { checkpointIntervalMs: 30_000, idleTimeoutMs: 20_000, forgetAfterMs: 60_000, maxDevices: 4 };
  const ctx = makeContext({ dataDir, analytics, journal: { commitFillBytes: 0 } }, clock);
  const stage = new AnalyticsStage(ctx, decl);
  if (oldJournal) Object.defineProperty(stage, 'tickChanged', { value: undefined });
  const j = new SqliteJournal(ctx);
  j.setProcessor(stage, analytics.checkpointIntervalMs);
  return openJournal(j, defer);
}

/** 10 device ids (two of them PLCs with a stale rule) taking turns over 40 minutes: 1–5 active at a time, under a cap of 4. */
function workload(): Array<JournalEntry & { received: number }> {
  const r = mulberry32(3);
  const out: Array<JournalEntry & { received: number }> = [];
  let active: number[] = [];
  for (let t = T0; t < T0 + 40 * 60_000; t += 1000) {
    if ((t - T0) % 150_000 === 0) active = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].filter(() => r() < 0.3);
    for (const d of active) {
      if (r() > 0.3) continue;
      const late = r() < 0.05 ? 30_000 : Math.floor(r() * 4000);
      out.push({ ...entry(`d${d}`, t - late, t, Math.round(r() * 1000) / 10, d >= 8 ? 'plc' : 'cpu-monitor'), received: t });
    }
  }
  return out;
}

function allRecords(j: SqliteJournal): StoredRecord[] {
  const db = (j as unknown as { db: Database.Database }).db;
  const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'seg_*'").pluck().all() as string[]);
  const rows = tables.flatMap((t) => db.prepare(`SELECT seq, stream, key, received, ts, body FROM ${t}`).all() as Array<Omit<StoredRecord, 'stream'> & { stream: number }>);
  return rows.map((x) => ({ ...x, stream: streamName(x.stream) })).sort((a, b) => a.seq - b.seq);
}

/** Groups of 30 readings, a tick every 5 s of arrival time; killed (SIGKILL: no close) after the groups in `crashAt`. */
async function feed(evs: ReturnType<typeof workload>, crashAt: ReadonlySet<number>, oldJournal = false): Promise<string[]> {
  const dir = tempDir();
  const clock = new ManualClock(T0);
  let j = start(dir, clock, oldJournal);
  let nextTick = T0;
  for (let g = 0, i = 0; i < evs.length; g++) {
    for (const e of evs.slice(i, i + 30)) {
      while (e.received >= nextTick) { j.tick(nextTick); nextTick += 5000; }
      j.append(e, () => undefined);
    }
    i += 30;
    clock.advance(10_000);
    await turns(2);
    if (crashAt.has(g)) {
      killJournal(j); // SIGKILL: no close()
      j = start(dir, clock, oldJournal);
    }
  }
  j.tick(nextTick + 3_600_000);
  clock.advance(10_000);
  await turns(2);
  return allRecords(j).filter((x) => x.stream !== 'readings').map((x) => `${x.seq} ${x.stream} ${x.key} ${x.received} ${x.body}`);
}

describe('forgetting and the cap across SIGKILL and restart', () => {
  const evs = workload();
  const crashes = new Set<number>();
  for (let g = 2; g < evs.length / 30 - 1; g += 3) crashes.add(g);

  it('emits exactly the derived records of an uninterrupted run', async () => {
    const straight = await feed(evs, new Set());
    expect(straight.length).toBeGreaterThan(200);
    // PLCs forgotten with their stale alert, resolved (rules/forget.ts) — at a tick a crash may follow.
    expect(straight.filter((l) => l.includes('"forgotten":1')).length).toBeGreaterThan(2);
    expect(crashes.size).toBeGreaterThan(10);
    expect(await feed(evs, crashes)).toEqual(straight);
  });

  it('(the test has teeth) would not, were ticks that only forgot left out of the journal', async () => {
    const straight = await feed(evs, new Set(), true);
    expect(await feed(evs, crashes, true)).not.toEqual(straight);
  });
});
