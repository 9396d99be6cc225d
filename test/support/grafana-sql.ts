// The SQL the Grafana dashboards (docker/grafana/dashboards/*.json) send to the store,
// expanded the way Grafana's PostgreSQL data source does, so a test can run every panel
// query against a real PostgreSQL without a Grafana. Macro reference:
//   https://grafana.com/docs/grafana/latest/datasources/postgres/query-editor/#macros
// That page's example expansions are MySQL-flavoured (UNIX_TIMESTAMP, FROM_UNIXTIME), so
// the exact PostgreSQL strings follow Grafana's source, which is what really runs:
// pkg/tsdb/grafana-postgresql-datasource/macros.go (the macros), its sqleng/sql_engine.go
// `Interpolate` ($__interval, $__interval_ms, $__unixEpochFrom/To), the plugin SDK's
// gtime.FormatInterval / ParseInterval, and the front end's SqlDatasource.interpolateVariable
// (template variables: only multi-value ones are quoted; a single value has ' doubled).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { parse as parseYaml } from 'yaml';

export const GRAFANA_DIR = new URL('../../docker/grafana/', import.meta.url).pathname;
export const DASHBOARD_DIR = join(GRAFANA_DIR, 'dashboards');
export const DATASOURCE_FILE = join(GRAFANA_DIR, 'provisioning/datasources/weir.yaml');

export interface MacroContext {
  from: Date;
  to: Date;
  intervalMs: number;
  vars?: Record<string, string | string[]>;
  /** The datasource's jsonData.timescaledb: $__timeGroup becomes time_bucket(). */
  timescaledb?: boolean;
}

/** Go's time.RFC3339Nano in UTC: fraction without trailing zeros, none at all when zero. */
function rfc3339Nano(d: Date): string {
  const [base, frac = ''] = d.toISOString().slice(0, -1).split('.');
  const f = frac.replace(/0+$/, '');
  return `${base}${f ? `.${f}` : ''}Z`;
}

/** Go's fmt %v of a float64 (shortest %g: exponent form below 1e-4 and from 1e6). */
function goFloat(x: number): string {
  const [mant, e] = x.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (x !== 0 && (exp < -4 || exp >= 6)) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

/** gtime.FormatInterval: the largest whole unit, truncated ("90s" -> "1m"). */
export function formatInterval(ms: number): string {
  const units: [number, string][] = [[365 * 86_400_000, 'y'], [86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1000, 's'], [1, 'ms']];
  for (const [size, unit] of units) if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  return '1ms';
}

/** gtime.ParseInterval, in seconds: Go durations ("1m30s", "500ms") plus Nd / Nw. */
function parseInterval(text: string): number {
  const days = /^(\d+)([dwMy])$/.exec(text);
  if (days) {
    if (days[2] === 'd' || days[2] === 'w') return Number(days[1]) * 86_400 * (days[2] === 'w' ? 7 : 1);
    throw new Error(`interval ${text}: months and years depend on the calendar; not expanded here`);
  }
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let seconds = 0;
  let at = 0;
  for (let m = part.exec(text); m; m = part.exec(text)) {
    seconds += Number(m[1]) * unit[m[2]!]!;
    at = part.lastIndex;
  }
  if (text === '' || at !== text.length) throw new Error(`error parsing interval ${text}`);
  return seconds;
}

/** Grafana's variable syntax: $name, [[name:format]], ${name.field:format}. */
const VARIABLE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;
const quote = (v: string): string => `'${v.replace(/'/g, "''")}'`;

/** Front-end stage: template variables and the interval built-ins; backend macros stay. */
function interpolateVariables(sql: string, ctx: MacroContext): string {
  const builtins: Record<string, string> = {
    __interval: formatInterval(ctx.intervalMs), __interval_ms: String(ctx.intervalMs),
    __from: String(ctx.from.getTime()), __to: String(ctx.to.getTime()),
  };
  return sql.replace(VARIABLE, (match, dollar?: string, bracket?: string, bracketFmt?: string, brace?: string, field?: string, braceFmt?: string) => {
    const name = (dollar ?? bracket ?? brace)!;
    const format = bracketFmt ?? braceFmt;
    if (field !== undefined) throw new Error(`${match}: variable fields are not supported`);
    if (name in builtins) {
      if (format !== undefined) throw new Error(`${match}: formats on built-ins are not supported`);
      return builtins[name]!;
    }
    if (name.startsWith('__')) return match; // a data-source macro: the backend stage expands it
    const value = ctx.vars?.[name];
    if (value === undefined) throw new Error(`unknown template variable ${match}`);
    const values = Array.isArray(value) ? value : [value];
    switch (format) {
      case undefined: return Array.isArray(value) ? values.map(quote).join(',') : value.replace(/'/g, "''");
      case 'sqlstring': return values.map(quote).join(',');
      case 'csv': return values.join(',');
      case 'raw': return values.join(',');
      default: throw new Error(`${match}: variable format ${format} is not supported here`);
    }
  });
}

/** Backend stage: macros.go's evaluateMacro (plus sqleng's $__unixEpochFrom/To). */
function evaluateMacro(name: string, args: string[], ctx: MacroContext): string {
  const col = (): string => {
    if (!args[0]) throw new Error(`missing time column argument for macro $${name}`);
    return args[0];
  };
  const from = rfc3339Nano(ctx.from);
  const to = rfc3339Nano(ctx.to);
  const unix = (d: Date): number => Math.floor(d.getTime() / 1000);
  const nanos = (d: Date): string => String(BigInt(d.getTime()) * 1_000_000n);
  const group = (): number => {
    if (args.length < 2) throw new Error(`macro $${name} needs time column and interval and optional fill value`);
    const seconds = parseInterval(args[1]!.replace(/^'+|'+$/g, ''));
    // The fill value only changes Grafana's post-processing, but a bad one fails the query.
    const fill = args[2];
    if (fill !== undefined && fill !== 'NULL' && fill !== 'previous' && (fill === '' || !Number.isFinite(Number(fill)))) {
      throw new Error(`error parsing fill value ${fill}`);
    }
    return seconds;
  };
  switch (name) {
    case '__time': return `${col()} AS "time"`;
    case '__timeEpoch': return `extract(epoch from ${col()}) as "time"`;
    case '__timeFilter': return `${col()} BETWEEN '${from}' AND '${to}'`;
    case '__timeFrom': return `'${from}'`;
    case '__timeTo': return `'${to}'`;
    case '__timeGroup': {
      const s = group();
      return ctx.timescaledb ? `time_bucket('${s.toFixed(3)}s',${args[0]})` : `floor(extract(epoch from ${args[0]})/${goFloat(s)})*${goFloat(s)}`;
    }
    case '__timeGroupAlias': return `${evaluateMacro('__timeGroup', args, ctx)} AS "time"`;
    case '__unixEpochFilter': return `${col()} >= ${unix(ctx.from)} AND ${col()} <= ${unix(ctx.to)}`;
    case '__unixEpochNanoFilter': return `${col()} >= ${nanos(ctx.from)} AND ${col()} <= ${nanos(ctx.to)}`;
    case '__unixEpochNanoFrom': return nanos(ctx.from);
    case '__unixEpochNanoTo': return nanos(ctx.to);
    case '__unixEpochFrom': return String(unix(ctx.from));
    case '__unixEpochTo': return String(unix(ctx.to));
    case '__unixEpochGroup': {
      const s = group();
      return `floor((${args[0]})/${goFloat(s)})*${goFloat(s)}`;
    }
    case '__unixEpochGroupAlias': return `${evaluateMacro('__unixEpochGroup', args, ctx)} AS "time"`;
    default: throw new Error(`unknown macro $${name}`);
  }
}

/**
 * A dashboard query as PostgreSQL receives it. Throws on any `$__` it cannot expand, so
 * a macro this file does not know fails the test instead of passing through silently.
 */
export function expandMacros(sql: string, ctx: MacroContext): string {
  const original = interpolateVariables(sql, ctx);
  const expanded = original.replace(/\$([_a-zA-Z0-9]+)\(([^)]*)\)/g, (match, name: string, argText: string) => {
    // macros.go: "$__timeGroup(...)," reads as the pre-5.3 form that aliased itself; it
    // decides by the FIRST occurrence of the same text, so do the same.
    const next = original[original.indexOf(match) + match.length];
    const macro = name === '__timeGroup' && next === ',' ? '__timeGroupAlias' : name;
    return evaluateMacro(macro, argText.split(',').map((a) => a.trim()), ctx);
  });
  const left = /\$__\w*/.exec(expanded);
  if (left) throw new Error(`unexpanded ${left[0]} in: ${expanded}`);
  return expanded;
}

export interface DashboardQuery {
  file: string;
  dashboard: string;
  uid: string;
  /** Panel title, or "variable NAME" for a template variable's query. */
  panel: string;
  refId: string;
  kind: 'panel' | 'variable';
  variable?: string;
  format: string;
  rawSql: string;
}

// The Grafana JSON model, as far as these tests read it.
export interface Target { refId?: string; rawSql?: string; format?: string; datasource?: { type?: string; uid?: string } }
export interface Panel { id?: number; type: string; title?: string; datasource?: { type?: string; uid?: string }; targets?: Target[]; panels?: Panel[] }
export interface Variable { name: string; type: string; query?: string | { rawSql?: string }; datasource?: { type?: string; uid?: string } }
export interface Dashboard { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating?: { list?: Variable[] } }

export function loadDashboards(dir = DASHBOARD_DIR): { file: string; json: Dashboard }[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard }));
}

/** Every panel, including those nested in collapsed rows. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every query of every dashboard: variable queries first, in declaration order, then panels. */
export function dashboardQueries(dir = DASHBOARD_DIR): DashboardQuery[] {
  return loadDashboards(dir).flatMap(({ file, json }) => {
    const base = { file, dashboard: json.title, uid: json.uid };
    const vars = (json.templating?.list ?? []).map((v): DashboardQuery => {
      if (v.type !== 'query') throw new Error(`${file}: variable ${v.name} is a ${v.type} variable; only query variables are expanded`);
      const rawSql = typeof v.query === 'string' ? v.query : v.query?.rawSql ?? '';
      return { ...base, panel: `variable ${v.name}`, refId: v.name, kind: 'variable', variable: v.name, format: 'table', rawSql };
    });
    const panels = allPanels(json).flatMap((p) => (p.targets ?? []).map((t): DashboardQuery => ({
      ...base, panel: p.title ?? `panel ${p.id}`, refId: t.refId ?? 'A', kind: 'panel', format: t.format ?? 'time_series', rawSql: t.rawSql ?? '',
    })));
    return [...vars, ...panels];
  });
}

/** The provisioned datasource's jsonData.timescaledb. */
export function datasourceUsesTimescale(file = DATASOURCE_FILE): boolean {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { datasources: { jsonData?: { timescaledb?: boolean } }[] };
  return doc.datasources[0]?.jsonData?.timescaledb === true;
}

export interface QueryRun extends DashboardQuery { sql: string; rows: number; columns: string[]; error?: string }
type Db = { pool: pg.Pool } | pg.Pool | pg.Client;

// Column types Grafana turns into a time / a series value / a label (timestamptz, timestamp,
// date; ints, floats, numeric; text, varchar, name, bpchar).
const TIME_TYPES = new Set([1184, 1114, 1082, 20, 21, 23, 700, 701, 1700]);
const VALUE_TYPES = new Set([20, 21, 23, 700, 701, 1700, 25, 1043, 19, 1042]);

/** What Grafana would reject in a time_series result: no time column, unsorted, odd types. */
function seriesProblem(result: pg.QueryResult): string | undefined {
  const time = result.fields.find((f) => f.name === 'time');
  if (!time) return 'time_series query has no "time" column';
  if (!TIME_TYPES.has(time.dataTypeID)) return `"time" column has type oid ${time.dataTypeID}`;
  const odd = result.fields.find((f) => f !== time && !VALUE_TYPES.has(f.dataTypeID));
  if (odd) return `column "${odd.name}" (type oid ${odd.dataTypeID}) is neither a number nor a label`;
  const t = result.rows.map((r) => Number(r.time instanceof Date ? r.time.getTime() : r.time));
  if (t.some((v, i) => i > 0 && v < t[i - 1]!)) return 'time_series rows are not sorted by time';
  return undefined;
}

/** Grafana's auto interval, roughly: range over ~1000 points, rounded to a nice step. */
function autoIntervalMs(from: Date, to: Date): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400].map((s) => s * 1000);
  const want = (to.getTime() - from.getTime()) / 1000;
  return steps.find((s) => s >= want) ?? steps[steps.length - 1]!;
}

/**
 * Runs every dashboard query against the store for one time range, returning each one's
 * row count (or error) instead of stopping at the first failure. Variables not given in
 * `vars` take the first value their own query returns, in declaration order, as a
 * dashboard opened fresh would. `timescaledb` defaults to what the datasource declares.
 */
export async function runAllPanelQueries(db: Db, opts: {
  from: Date; to: Date; vars?: Record<string, string>; intervalMs?: number; timescaledb?: boolean; dir?: string;
}): Promise<QueryRun[]> {
  const client = 'pool' in db ? db.pool : db;
  const timescaledb = opts.timescaledb ?? datasourceUsesTimescale();
  const intervalMs = opts.intervalMs ?? autoIntervalMs(opts.from, opts.to);
  const vars: Record<string, Record<string, string>> = {};
  const runs: QueryRun[] = [];
  for (const q of dashboardQueries(opts.dir)) {
    const dashVars = (vars[q.uid] ??= { ...opts.vars });
    const run: QueryRun = { ...q, sql: '', rows: 0, columns: [] };
    runs.push(run);
    try {
      run.sql = expandMacros(q.rawSql, { from: opts.from, to: opts.to, intervalMs, vars: dashVars, timescaledb });
      const result = await client.query(run.sql);
      run.rows = result.rowCount ?? result.rows.length;
      run.columns = result.fields.map((f) => f.name);
      if (q.format === 'time_series') run.error = seriesProblem(result);
      if (q.kind === 'variable' && dashVars[q.variable!] === undefined) {
        const first = result.rows[0] as Record<string, unknown> | undefined;
        if (!first) throw new Error(`variable ${q.variable}: its query returned no rows`);
        dashVars[q.variable!] = String('__value' in first ? first.__value : Object.values(first)[0]);
      }
    } catch (err) {
      run.error = (err as Error).message;
    }
  }
  return runs;
}
