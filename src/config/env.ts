import { closest, distance } from 'fastest-levenshtein';

/**
 * Environment overrides: every leaf of the config can be set as WEIR_<PATH>, the key
 * path in SCREAMING_SNAKE_CASE — kafka.brokers → WEIR_KAFKA_BROKERS, dataDir →
 * WEIR_DATA_DIR, journal.commitIntervalMs → WEIR_JOURNAL_COMMIT_INTERVAL_MS. Lists
 * are comma-separated, or a JSON array (lists of objects). The variable names are
 * derived from the defaults, so a new config key gets its variable without anyone
 * remembering to add it here.
 */

export interface EnvOverride {
  path: string[];
  variable: string;
  value: unknown;
}

/** `commitIntervalMs` → `COMMIT_INTERVAL_MS`. */
function snake(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export function envVariable(path: string[]): string {
  return `WEIR_${path.map(snake).join('_')}`;
}

function coerce(raw: string, example: unknown): unknown {
  if (Array.isArray(example)) {
    // A JSON array for lists of objects (WEIR_BRIDGE_SUBSCRIPTIONS='[{"filter":"a/#"}]'),
    // which no comma-separated text can express; on a JSON error the text goes on to the
    // schema, which names the variable. Text that is no JSON but begins like a bracketed
    // IPv6 address ('[::1]:9092,…', RFC 3986 §3.2.2: '[' then a hex digit or ':') is
    // a comma-separated list of host:port.
    if (raw.trimStart().startsWith('[')) {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        if (!/^\s*\[[0-9a-fA-F:]/.test(raw)) return raw;
      }
    }
    return raw.split(',').map((s) => s.trim()).filter(Boolean);
  }
  if (typeof example === 'number') return raw.trim() === '' ? raw : Number(raw);
  if (typeof example === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    return raw; // let the schema say what is wrong
  }
  return raw;
}

/** The leaves of the default config: each one's key path and default value. */
function* leaves(node: Record<string, unknown>, path: string[] = []): Generator<{ path: string[]; example: unknown }> {
  for (const [key, value] of Object.entries(node)) {
    const here = [...path, key];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) yield* leaves(value as Record<string, unknown>, here);
    else yield { path: here, example: value };
  }
}

/** Lists the overrides present in `env`, walking the leaves of the default config. */
export function envOverrides(defaults: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvOverride[] {
  const found: EnvOverride[] = [];
  for (const { path, example } of leaves(defaults)) {
    const variable = envVariable(path);
    const raw = env[variable];
    if (raw !== undefined) found.push({ path, variable, value: coerce(raw, example) });
  }
  return found;
}

/** Sets `value` at `path` inside `target`, creating objects on the way. */
export function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

/** Variables with the prefix that are not config leaves but are read all the same (resolveConfigPath). */
const OTHER_VARIABLES = new Set(['WEIR_CONFIG']);

export interface StrayVariable {
  variable: string;
  /** The config variable it most likely meant, when one is close. */
  suggestion?: string;
}

/**
 * WEIR_* variables that set nothing: a misspelt override (WEIR_KAFKA_BROKER for
 * WEIR_KAFKA_BROKERS) is otherwise ignored without a word, and the gateway runs on the
 * default it was meant to replace. Reported when the name starts like a config
 * section (WEIR_KAFKA_…) or is within two edits of a real variable, so that unrelated
 * WEIR_ variables of other tools pass unremarked. Warnings, not errors: a variable
 * left over from an older version must not stop a gateway.
 */
export function strayEnvVariables(defaults: Record<string, unknown>, env: NodeJS.ProcessEnv): StrayVariable[] {
  const known = [...leaves(defaults)].map((leaf) => envVariable(leaf.path));
  const knownSet = new Set(known);
  const sections = Object.keys(defaults).map((k) => `${envVariable([k])}_`);
  const stray: StrayVariable[] = [];
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith('WEIR_') || knownSet.has(variable) || OTHER_VARIABLES.has(variable)) continue;
    const nearest = closest(variable, known);
    const suggestion = distance(variable, nearest) <= 2 ? nearest : undefined;
    if (suggestion !== undefined || sections.some((s) => variable.startsWith(s))) stray.push(suggestion === undefined ? { variable } : { variable, suggestion });
  }
  return stray;
}
