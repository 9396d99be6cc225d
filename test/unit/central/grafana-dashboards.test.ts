// The Grafana provisioning of the central tier (docker/grafana): the datasource and
// dashboard provider files, the dashboards' JSON model, and every panel and variable query
// run, macros expanded as Grafana's PostgreSQL data source does, against a real
// PostgreSQL loaded with the store schema and a small fixture of an hour of fleet data.
// A query that errors, or returns nothing where the fixture has data, fails the test.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  allPanels, DASHBOARD_DIR, DATASOURCE_FILE, dashboardQueries, expandMacros, GRAFANA_DIR, loadDashboards, runAllPanelQueries,
  type QueryRun,
} from '../../support/grafana-sql.js';
import { Postgres } from '../../support/postgres.js';

const UID = 'weir-store';
const DS_TYPE = 'grafana-postgresql-datasource';

describe('expandMacros (Grafana PostgreSQL data source)', () => {
  const ctx = {
    from: new Date('2024-05-01T10:00:00Z'), to: new Date('2024-05-01T11:30:00.250Z'), intervalMs: 60_000,
    vars: { gateway: "gw-o'brien", device: 'host-a', cpus: ['cpu0', 'cpu1'] },
  };
  const x = (sql: string, more: object = {}): string => expandMacros(sql, { ...ctx, ...more });

  it('expands time filters and bounds as RFC 3339 in UTC, trailing zeros dropped', () => {
    expect(x('WHERE $__timeFilter(ts)')).toBe("WHERE ts BETWEEN '2024-05-01T10:00:00Z' AND '2024-05-01T11:30:00.25Z'");
    expect(x('$__timeFrom()::timestamptz, $__timeTo()')).toBe("'2024-05-01T10:00:00Z'::timestamptz, '2024-05-01T11:30:00.25Z'");
    expect(x('$__unixEpochFilter(e)')).toBe('e >= 1714557600 AND e <= 1714563000');
    expect(x('$__unixEpochFrom()-$__unixEpochNanoTo()')).toBe('1714557600-1714563000250000000');
    expect(x('SELECT $__time(ts), $__timeEpoch(ts)')).toBe('SELECT ts AS "time", extract(epoch from ts) as "time"');
  });

  it('groups by interval, or with time_bucket when the datasource says timescaledb', () => {
    expect(x('SELECT $__timeGroupAlias(ts, $__interval)')).toBe('SELECT floor(extract(epoch from ts)/60)*60 AS "time"');
    expect(x('SELECT $__timeGroupAlias(ts, $__interval)', { timescaledb: true })).toBe('SELECT time_bucket(\'60.000s\',ts) AS "time"');
    expect(x("GROUP BY $__timeGroup(ts, '5m', 0)")).toBe('GROUP BY floor(extract(epoch from ts)/300)*300');
    // Go prints float64 seconds with %v: exponent form from 1e6 on.
    expect(x("$__timeGroup(ts, '14d')")).toBe('floor(extract(epoch from ts)/1.2096e+06)*1.2096e+06');
    // Grafana's pre-5.3 compatibility: "$__timeGroup(...)," aliases itself.
    expect(x("SELECT $__timeGroup(ts,'1m'), v")).toBe('SELECT floor(extract(epoch from ts)/60)*60 AS "time", v');
  });

  it('formats $__interval like Grafana (largest whole unit) and $__interval_ms as a number', () => {
    expect(x('$__interval $__interval_ms', { intervalMs: 90_000 })).toBe('1m 90000');
    expect(x('$__interval', { intervalMs: 500 })).toBe('500ms');
    expect(x('$__interval', { intervalMs: 2 * 86_400_000 })).toBe('2d');
  });

  it('interpolates template variables: single values unquoted with quotes doubled, :sqlstring quoted, :csv joined', () => {
    expect(x("gateway = '${gateway}' AND device = '$device'")).toBe("gateway = 'gw-o''brien' AND device = 'host-a'");
    expect(x('gateway = ${gateway:sqlstring}')).toBe("gateway = 'gw-o''brien'");
    expect(x('cpu IN (${cpus:sqlstring}) -- ${cpus:csv} [[device]]')).toBe("cpu IN ('cpu0','cpu1') -- cpu0,cpu1 host-a");
  });

  it('throws on a macro, variable or format it does not know', () => {
    expect(() => x('$__timeFoo(ts)')).toThrow(/unknown macro \$__timeFoo/);
    expect(() => x('SELECT $__nope')).toThrow(/unexpanded \$__nope/);
    expect(() => x("gateway = '$site'")).toThrow(/unknown template variable \$site/);
    expect(() => x('${gateway:json}')).toThrow(/format json/);
    expect(() => x("$__timeGroup(ts, 'soon')")).toThrow(/error parsing interval/);
    expect(() => x("$__timeGroup(ts, '1m', zero)")).toThrow(/error parsing fill value/);
  });
});

describe('Grafana provisioning', () => {
  it('provisions the store as the weir-store PostgreSQL datasource, credentials from the environment', () => {
    const doc = parseYaml(readFileSync(DATASOURCE_FILE, 'utf8')) as { datasources: Record<string, unknown>[] };
    expect(doc.datasources).toHaveLength(1);
    expect(doc.datasources[0]).toMatchObject({
      uid: UID, type: DS_TYPE, url: 'store:5432', user: '${STORE_USER}', secureJsonData: { password: '${STORE_PASSWORD}' },
      jsonData: { database: 'weir', sslmode: 'disable', timescaledb: true, postgresVersion: 1500 },
    });
  });

  it('loads the dashboards directory into the Weir folder', () => {
    const doc = parseYaml(readFileSync(join(GRAFANA_DIR, 'provisioning/dashboards/weir.yaml'), 'utf8')) as { providers: Record<string, unknown>[] };
    expect(doc.providers[0]).toMatchObject({ type: 'file', folder: 'Weir', options: { path: '/var/lib/grafana/dashboards' } });
  });

  it('has four dashboards with unique uids, the Grafana 11 schema, and every panel and query on weir-store', () => {
    const dashboards = loadDashboards();
    expect(dashboards.map((d) => d.file)).toEqual(['alerts.json', 'device-drilldown.json', 'fleet-overview.json', 'gateway-health.json']);
    const uids = dashboards.map((d) => d.json.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const { file, json } of dashboards) {
      expect(json.uid, file).toMatch(/^weir-[a-z-]+$/);
      expect(json.schemaVersion, file).toBe(39);
      const panels = allPanels(json);
      expect(new Set(panels.map((p) => p.id)).size, file).toBe(panels.length);
      // Titles name the results of runAllPanelQueries, so they must be unique too.
      expect(new Set(panels.map((p) => p.title)).size, file).toBe(panels.length);
      for (const p of panels) {
        const where = `${file}: ${p.title}`;
        expect(['timeseries', 'table', 'stat', 'bargauge'], where).toContain(p.type);
        expect(p.datasource, where).toEqual({ type: DS_TYPE, uid: UID });
        expect(p.targets?.length, where).toBeGreaterThan(0);
        for (const t of p.targets ?? []) {
          expect(t.datasource, where).toEqual({ type: DS_TYPE, uid: UID });
          expect(t.rawSql?.trim(), where).toBeTruthy();
          expect(['time_series', 'table'], where).toContain(t.format);
        }
      }
      for (const v of json.templating?.list ?? []) expect(v.datasource, `${file}: $${v.name}`).toEqual({ type: DS_TYPE, uid: UID });
    }
    expect(dashboardQueries(DASHBOARD_DIR).filter((q) => q.kind === 'variable').map((q) => q.variable)).toEqual(['gateway', 'device', 'metric']);
  });
});

describe('every dashboard query against the store', () => {
  let pg: Postgres;
  // An hour ending on a 5-minute boundary, so the fixture's windows line up with the epoch.
  const to = new Date(Math.floor(Date.now() / 300_000) * 300_000);
  const from = new Date(to.getTime() - 3_600_000);
  const range = { from, to, intervalMs: 60_000 };

  beforeAll(async () => {
    pg = await Postgres.start();
    await loadFleetFixture(pg, from);
  });
  afterAll(async () => {
    await pg?.stop();
  });

  const report = (runs: QueryRun[]): string => runs.map((r) => `${r.file} / ${r.panel} / ${r.refId}: ${r.error ?? `${r.rows} rows`}${r.error ? `\n  ${r.sql}` : ''}`).join('\n');

  function expectAllRowsNoErrors(runs: QueryRun[]): void {
    expect(runs.length).toBe(dashboardQueries().length);
    if (process.env.WEIR_TEST_VERBOSE) console.log(report(runs));
    const bad = runs.filter((r) => r.error !== undefined || r.rows === 0);
    expect(bad, report(bad)).toEqual([]);
  }

  it('runs each query without error and with rows, on plain PostgreSQL (floor(extract(epoch)) grouping)', async () => {
    const runs = await runAllPanelQueries(pg, { ...range, timescaledb: false });
    expectAllRowsNoErrors(runs);
    // The variables resolved to the first gateway / device / metric, as a fresh dashboard would.
    expect(runs.filter((r) => r.kind === 'variable').map((r) => r.rows)).toEqual([2, 2, 1]);
  });

  it('runs each query as the provisioned datasource sends it (timescaledb: time_bucket)', async () => {
    // TimescaleDB is not packaged for the test machine: a stand-in with time_bucket's
    // signature and its default origin (Monday 2000-01-03) checks the generated SQL.
    await pg.query(`CREATE OR REPLACE FUNCTION time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
      LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(bucket_width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$`);
    try {
      expectAllRowsNoErrors(await runAllPanelQueries(pg, range));
    } finally {
      await pg.query('DROP FUNCTION time_bucket(interval, timestamptz)');
    }
  });

  it('shows what the fixture holds: the late correction, the firing alert, gateways up, outages', async () => {
    const runs = await runAllPanelQueries(pg, { ...range, timescaledb: false });
    const rows = async (panel: string): Promise<Record<string, unknown>[]> => {
      const run = runs.find((r) => r.panel === panel);
      if (!run) throw new Error(`no panel ${panel}`);
      return pg.query(run.sql);
    };
    const windows = await rows('Edge aggregate windows');
    const corrected = windows.filter((w) => Number(w.versions) > 1);
    expect(corrected).toHaveLength(1);
    expect(corrected[0]).toMatchObject({ late: 1, count: '11', max: 99 });
    expect(await rows('Alerts firing')).toEqual([{ firing: '1' }]);
    expect(await rows('Gateways up')).toEqual([{ up: '2', gateways: '3' }]);
    const outages = await rows('Outages');
    expect(outages.map((o) => [o.gateway, Number(o.duration), o.to_ts === null])).toEqual([
      ['gw-oslo', 25 * 60, true], // stopped 25 minutes before the end of the range, still silent
      ['gw-lyon', 11 * 60, false], // last heartbeat at minute 29, back at 40
    ]);
    expect(await rows('Evictions')).toMatchObject([{ gateway: 'gw-berlin', records: '500', stream: 'weir.readings' }]);
  });
});

type Row = Record<string, unknown>;
const MINUTE = 60_000;

/**
 * An hour of a three-site fleet, as the Flink jobs would have stored it. gw-berlin: a
 * cpu-monitor host (two CPUs) whose cpu0 spikes over 90 at minutes 20-25 (alert fired and
 * resolved, a late reading corrected the 10-15 window) and a thermometer; its uplink was
 * down at minutes 10-20 and the disk limit evicted 500 readings. gw-lyon: a cpu-monitor
 * host over 90 from minute 50 (still firing) and a GPS tracker; silent from minute 29 to
 * 40 (restart). gw-oslo: no devices, stopped at minute 35.
 */
async function loadFleetFixture(pg: Postgres, from: Date): Promise<void> {
  const at = (min: number): string => new Date(from.getTime() + min * MINUTE).toISOString();
  const seqs = new Map<string, number>();
  const seq = (gw: string): number => {
    seqs.set(gw, (seqs.get(gw) ?? 0) + 1);
    return seqs.get(gw)!;
  };
  const devices = [
    { gateway: 'gw-berlin', device: 'host-a', profile: 'cpu-monitor', tags: { cpu: 'cpu0' }, values: (m: number) => ({ usage: m >= 20 && m < 25 ? 95 : 40 + m * 0.2 }) },
    { gateway: 'gw-berlin', device: 'host-a', profile: 'cpu-monitor', tags: { cpu: 'cpu1' }, values: (m: number) => ({ usage: 30 + (m % 10) }) },
    { gateway: 'gw-berlin', device: 'thermo-1', profile: 'temperature-sensor', tags: { room: 'lab' }, values: (m: number) => ({ temperature: 21 + m / 100, humidity: 45 }) },
    { gateway: 'gw-lyon', device: 'host-b', profile: 'cpu-monitor', tags: { cpu: 'cpu0' }, values: (m: number) => ({ usage: m >= 50 ? 93 : 50 }) },
    { gateway: 'gw-lyon', device: 'tracker-7', profile: 'gps-tracker', tags: {}, values: (m: number) => ({ lat: 45.76, lon: 4.83 + m / 1e4, speed: 12 }) },
  ];
  const readings: Row[] = [];
  for (let i = 0; i < 120; i++) {
    const m = 0.25 + i / 2; // every 30 s, off the window boundaries
    for (const d of devices) {
      if (d.gateway === 'gw-lyon' && m >= 29 && m < 40) continue; // the gateway was down
      const s = seq(d.gateway);
      for (const [metric, value] of Object.entries(d.values(m))) {
        readings.push({ ts: at(m), gateway: d.gateway, seq: s, metric, value, device: d.device, profile: d.profile,
          received: at(m + 0.01), tags: d.tags, minute: m });
      }
    }
  }
  // Edge aggregates: 5-minute windows per device / tag set / metric, as the gateway sent them.
  const windows = new Map<string, Row[]>();
  for (const r of readings) {
    const key = JSON.stringify([r.gateway, r.device, r.profile, r.tags, r.metric, Math.floor((r.minute as number) / 5)]);
    windows.set(key, [...(windows.get(key) ?? []), r]);
  }
  const stats = (rs: Row[]) => {
    const v = rs.map((r) => r.value as number);
    const sum = v.reduce((a, b) => a + b, 0);
    return { count: v.length, min: Math.min(...v), max: Math.max(...v), avg: sum / v.length, sum, first: v[0], last: v[v.length - 1] };
  };
  const aggregates: Row[] = [...windows.entries()].map(([key, rs]) => {
    const [gateway, device, profile, tags, metric, w] = JSON.parse(key) as [string, string, string, object, string, number];
    return { window_start: at(w * 5), window_end: at(w * 5 + 5), gateway, seq: seq(gateway), device, profile, metric, window_name: '5m', tags, ...stats(rs), late: 0 };
  });
  // A reading of 99 arrived late for host-a cpu0's 10-15 window: the gateway sent a
  // correction holding that reading alone (src/analytics/windows/types.ts, `late`).
  const original = aggregates.find((a) => a.device === 'host-a' && (a.tags as { cpu: string }).cpu === 'cpu0' && a.window_start === at(10))!;
  aggregates.push({ ...original, seq: seq('gw-berlin'), ...stats([{ value: 99 }]), late: 1 });

  const rollups = new Map<string, Row[]>();
  for (const r of readings) {
    const key = JSON.stringify([r.gateway, r.profile, r.metric, Math.floor((r.minute as number) / 5)]);
    rollups.set(key, [...(rollups.get(key) ?? []), r]);
  }
  const fleetRollups = [...rollups.entries()].map(([key, rs]) => {
    const [site, profile, metric, w] = JSON.parse(key) as [string, string, string, number];
    const { count, min, max, avg, sum } = stats(rs);
    return { window_start: at(w * 5), window_end: at(w * 5 + 5), site, profile, metric, readings: count, devices: new Set(rs.map((r) => r.device)).size, min, max, avg, sum };
  });
  const fleetAlerts = readings.filter((r) => r.profile === 'cpu-monitor' && (r.value as number) > 90)
    .map(({ ts, gateway, seq: s, metric, device, profile, value, tags }) => ({ ts, gateway, seq: s, metric, device, profile, value, tags }));

  const alert = (gateway: string, device: string, profile: string, rule: string, state: string, min: number, metric: string, value: number, tags: object): Row =>
    ({ ts: at(min), gateway, seq: seq(gateway), device, profile, rule, kind: 'threshold', state, metric, value, tags });
  const alerts = [
    alert('gw-berlin', 'host-a', 'cpu-monitor', 'usage-high', 'firing', 20.25, 'usage', 95, { cpu: 'cpu0' }),
    alert('gw-berlin', 'host-a', 'cpu-monitor', 'usage-high', 'resolved', 25.25, 'usage', 45.05, { cpu: 'cpu0' }),
    alert('gw-berlin', 'thermo-1', 'temperature-sensor', 'temperature-high', 'firing', 40, 'temperature', 21.4, { room: 'lab' }),
    alert('gw-berlin', 'thermo-1', 'temperature-sensor', 'temperature-high', 'resolved', 45, 'temperature', 21.45, { room: 'lab' }),
    alert('gw-lyon', 'host-b', 'cpu-monitor', 'usage-high', 'firing', 50.25, 'usage', 93, { cpu: 'cpu0' }),
  ];

  const status: Row[] = [];
  const beat = (gateway: string, min: number, event: string, backlog = 0): void => {
    status.push({ ts: at(min), gateway, seq: seq(gateway), event, uplink: backlog > 0 ? 'down' : 'up', backlog,
      oldest_unsent_s: backlog > 0 ? (min - 10) * 60 : 0, journal_bytes: 1_000_000 + backlog * 200, last_seq: seqs.get(gateway) });
  };
  for (let m = 0; m < 60; m++) {
    beat('gw-berlin', m, m === 0 ? 'started' : 'heartbeat', m >= 10 && m < 20 ? (m - 9) * 60 : 0);
    if (m <= 29 || m >= 40) beat('gw-lyon', m, m === 0 || m === 40 ? 'started' : 'heartbeat');
    if (m <= 35) beat('gw-oslo', m, m === 0 ? 'started' : m === 35 ? 'stopped' : 'heartbeat');
  }
  status.push({ ts: at(15.5), gateway: 'gw-berlin', seq: seq('gw-berlin'), event: 'gap', gap_stream: 'weir.readings',
    gap_from_seq: 1000, gap_to_seq: 1499, gap_count: 500, reason: 'journal.maxBytes' });

  const patterns = [
    { first_window: at(15), last_window: at(25), pattern: 'usage-rising', gateway: 'gw-berlin', device: 'host-a', metric: 'usage', first_avg: 43, last_avg: 95 },
    { first_window: at(30), last_window: at(45), pattern: 'temperature-rising', gateway: 'gw-berlin', device: 'thermo-1', metric: 'temperature', first_avg: 21.3, last_avg: 21.45 },
  ];

  for (const [table, rows] of Object.entries({ readings, aggregates, alerts, gateway_status: status, fleet_rollups: fleetRollups, fleet_alerts: fleetAlerts, patterns })) {
    // One statement per table: the rows as JSON, spread over the columns they name.
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((c) => c !== 'minute');
    await pg.query(`INSERT INTO ${table} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM json_populate_recordset(NULL::${table}, $1::json)`,
      [JSON.stringify(rows)]);
  }
}
