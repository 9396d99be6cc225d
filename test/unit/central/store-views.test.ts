// The store's dashboard views (docker/store/postgres/20-timeseries.sql) over what the
// edge really sends: the records come from the gateway's own window and rule engines,
// and reach a real PostgreSQL through the upsert the weir-store job's JDBC sinks write
// (docker/sql/00-tables.sql: INSERT ... ON CONFLICT (primary key) DO UPDATE).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuleEngine } from '../../../src/analytics/rules/engine.js';
import type { Alert } from '../../../src/analytics/rules/types.js';
import { WindowEngine, type Aggregate, type WindowSpec } from '../../../src/analytics/windows/index.js';
import { Postgres } from '../../support/postgres.js';

const T0 = 1_642_763_100_000; // a multiple of 5 minutes
const iso = (ms: number): string => new Date(ms).toISOString();

/** The statement Flink's JDBC sink (PostgreSQL dialect) runs for each row of a keyed sink. */
async function upsert(pg: Postgres, table: string, key: string[], row: Record<string, unknown>): Promise<void> {
  const cols = Object.keys(row);
  const updates = cols.filter((c) => !key.includes(c)).map((c) => `${c} = EXCLUDED.${c}`).join(', ');
  await pg.query(
    `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${updates}`,
    cols.map((c) => row[c]),
  );
}

/** store_aggregates' row for a weir.aggregates record (10-store.sql). */
function aggregateRow(gateway: string, seq: number, a: Aggregate): Record<string, unknown> {
  return {
    window_start: iso(a.window_start), window_end: iso(a.window_end), gateway, seq, device: a.device, profile: a.profile,
    metric: a.metric, window_name: a.window, tags: JSON.stringify(a.tags), count: a.count, min: a.min, max: a.max,
    avg: a.avg, sum: a.sum, first: a.first, last: a.last, late: a.late ?? 0,
  };
}

/** store_alerts' row for a weir.alerts record (10-store.sql). */
function alertRow(gateway: string, seq: number, a: Alert): Record<string, unknown> {
  return {
    ts: iso(a.ts), gateway, seq, device: a.device, profile: a.profile, rule: a.rule, kind: a.kind, state: a.state,
    metric: a.metric, value: a.value, tags: JSON.stringify(a.tags),
  };
}

describe('store views over edge records', () => {
  let pg: Postgres;
  let seq = 0;
  beforeAll(async () => {
    pg = await Postgres.start();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('aggregates_latest merges a late correction into its window: the totals of every reading, on time or late', async () => {
    const spec: WindowSpec = {
      name: 'usage-5m', type: 'tumbling', sizeMs: 300_000, aggregates: ['avg', 'max'], allowedLatenessMs: 10_000,
      groupByTags: ['cpu'], profile: 'cpu-monitor', metrics: ['usage'],
    };
    const engine = new WindowEngine([spec]);
    const sent: Aggregate[] = [];
    const add = (ts: number, usage: number, received = ts): void => {
      const r = engine.add({ device: 'host-a', profile: 'cpu-monitor', ts, tags: { cpu: 'cpu0' }, metrics: { usage } }, received);
      sent.push(...r.emitted, ...r.late.map((l) => l.correction));
    };
    add(T0 + 1000, 50);
    add(T0 + 5000, 60);
    add(T0 + 310_000, 40); // closes [T0, T0 + 5 min)
    add(T0 + 2000, 97.5, T0 + 311_000); // late for it: the gateway sends a correction
    expect(sent.map((a) => a.late ?? 0)).toEqual([0, 1]);
    for (const a of sent) await upsert(pg, 'aggregates', ['gateway', 'seq', 'window_start'], aggregateRow('gw-1', ++seq, a));

    const rows = await pg.query(`SELECT count, min, max, avg, sum, first, last, late FROM aggregates_latest
      WHERE gateway = 'gw-1' AND device = 'host-a' AND window_start = $1`, [iso(T0)]);
    // Seed 001's window over all three readings: count 3, avg 69.17, max 97.5.
    expect(rows).toEqual([{ count: '3', min: 50, max: 97.5, avg: 207.5 / 3, sum: 207.5, first: 50, last: 60, late: 1 }]);
  });

  it('alerts_firing takes the state the gateway sent last (seq), not the one with the latest event time', async () => {
    const rules = new RuleEngine({ 'cpu-monitor': [{ name: 'usage-high', kind: 'threshold', metric: 'usage', above: 90 }] });
    const sent: Alert[] = [];
    const add = (ts: number, usage: number, received: number): void => {
      sent.push(...rules.evaluate({ device: 'host-o', profile: 'cpu-monitor', ts, received, tags: { cpu: 'cpu0' }, metrics: { usage } }));
    };
    add(T0 + 10_000, 95, T0 + 10_000); // fires
    add(T0 + 5000, 40, T0 + 11_000); // out of order (5 s older), arrives next: resolves
    expect(sent.map((a) => [a.state, a.ts])).toEqual([['firing', T0 + 10_000], ['resolved', T0 + 5000]]);
    for (const a of sent) await upsert(pg, 'alerts', ['gateway', 'seq', 'ts'], alertRow('gw-1', ++seq, a));

    expect(await pg.query("SELECT rule FROM alerts_firing WHERE device = 'host-o'")).toEqual([]);
  });

  it('a record re-sent with its clock corrected replaces the copy sent before the sync, whichever the store gets first', async () => {
    // clock-corrections.ts: a record forwarded before the gateway's clock synced carries
    // "clock":"unsynced" and provisional times; its re-send after the sync (a crash
    // before the ack) carries "clock":"corrected" and those times moved by the offset.
    // Same (gateway, seq) = the same record (PRODUCT.md, weir-seq): one row, the corrected.
    const offset = 3 * 86_400_000; // a Pi without RTC booted 3 days in the past
    const copies = (at: number, clock: string, ts: number): Array<[string, string[], Record<string, unknown>]> => [
      ['readings', ['gateway', 'seq', 'metric', 'ts'], { ts: iso(ts), gateway: 'gw-c', seq: at, metric: 'usage', value: 42,
        device: 'host-c', profile: 'cpu-monitor', received: iso(ts), tags: '{}', clock }],
      ['alerts', ['gateway', 'seq', 'ts'], { ts: iso(ts), gateway: 'gw-c', seq: at, device: 'host-c', profile: 'cpu-monitor',
        rule: 'usage-high', kind: 'threshold', state: 'firing', metric: 'usage', value: 95, tags: '{}', clock }],
      ['aggregates', ['gateway', 'seq', 'window_start'], { window_start: iso(ts), window_end: iso(ts + 300_000), gateway: 'gw-c',
        seq: at, device: 'host-c', profile: 'cpu-monitor', metric: 'usage', window_name: 'usage-5m', tags: '{}', count: 2,
        min: 40, max: 44, avg: 42, sum: 84, first: 40, last: 44, late: 0, clock }],
      ['gateway_status', ['gateway', 'seq', 'ts'], { ts: iso(ts), gateway: 'gw-c', seq: at, event: 'heartbeat', uplink: 'up', backlog: 0, clock }],
    ];
    const unsynced = (at: number): ReturnType<typeof copies> => copies(at, 'unsynced', T0 - offset + at);
    const corrected = (at: number): ReturnType<typeof copies> => copies(at, 'corrected', T0 + at);
    // The unsynced copy first (in Kafka order), and the other way round (two sink subtasks,
    // or a replay from a Flink checkpoint): the late unsynced copy must not come back.
    for (const [table, key, row] of [...unsynced(1), ...corrected(1), ...corrected(2), ...unsynced(2)]) await upsert(pg, table, key, row);

    for (const table of ['readings', 'alerts', 'aggregates', 'gateway_status']) {
      const time = table === 'aggregates' ? 'window_start' : 'ts';
      const rows = await pg.query(`SELECT seq, ${time} AS t, clock FROM ${table} WHERE gateway = 'gw-c' ORDER BY seq`);
      expect({ table, rows }).toEqual({ table, rows: [{ seq: '1', t: new Date(T0 + 1), clock: 'corrected' }, { seq: '2', t: new Date(T0 + 2), clock: 'corrected' }] });
    }
    // A window's totals counted once.
    const [agg] = await pg.query("SELECT sum(count)::int AS n FROM aggregates_latest WHERE gateway = 'gw-c'");
    expect(agg).toEqual({ n: 4 });
  });

  it('gateway_latest is the status the gateway wrote last (seq), even after its clock stepped back', async () => {
    // store_gateway_status rows (40-gateway-health.sql): ts is the gateway's `received`.
    // The uplink was down with a backlog; then the clock stepped back 10 minutes (a
    // 'jump': NTP fixed a clock that ran ahead), and the next heartbeats say all is well.
    const beat = (ts: number, uplink: string, backlog: number): Record<string, unknown> =>
      ({ ts: iso(ts), gateway: 'gw-jump', seq: ++seq, event: 'heartbeat', uplink, backlog, oldest_unsent_s: backlog > 0 ? 60 : 0 });
    for (const row of [beat(T0, 'down', 500), beat(T0 + 60_000, 'down', 900), beat(T0 - 480_000, 'up', 0), beat(T0 - 420_000, 'up', 0)]) {
      await upsert(pg, 'gateway_status', ['gateway', 'seq', 'ts'], row);
    }
    const rows = await pg.query("SELECT ts, uplink, backlog FROM gateway_latest WHERE gateway = 'gw-jump'");
    expect(rows).toEqual([{ ts: new Date(T0 - 420_000), uplink: 'up', backlog: '0' }]);
  });

  it('gateway_outages follows the order the gateway wrote its status in (seq), across a clock step and the sync', async () => {
    const beat = (gateway: string, ts: number, clock: string | null = null): Record<string, unknown> =>
      ({ ts: iso(ts), gateway, seq: ++seq, event: 'heartbeat', uplink: 'up', backlog: 0, clock });
    // Heartbeats a minute apart; the clock steps back 10 minutes after the 2nd (a 'jump');
    // then the gateway is really down for 17 minutes.
    const jump = [T0, T0 + 60_000, T0 - 480_000, T0 - 420_000, T0 + 600_000].map((ts) => beat('gw-step', ts));
    // Heartbeats a minute apart, forwarded before the clock synced (3 days behind) and after.
    const day = 86_400_000;
    const sync = [beat('gw-sync', T0 - 3 * day, 'unsynced'), beat('gw-sync', T0 - 3 * day + 60_000, 'unsynced'), beat('gw-sync', T0 + 90_000), beat('gw-sync', T0 + 150_000)];
    for (const row of [...jump, ...sync]) await upsert(pg, 'gateway_status', ['gateway', 'seq', 'ts'], row);

    const rows = await pg.query("SELECT gateway, from_ts, to_ts FROM gateway_outages WHERE gateway IN ('gw-step', 'gw-sync') ORDER BY gateway, from_ts");
    expect(rows).toEqual([{ gateway: 'gw-step', from_ts: new Date(T0 - 420_000), to_ts: new Date(T0 + 600_000) }]);
  });
});
