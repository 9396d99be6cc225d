/**
 * Environment overrides: every leaf of the config can be set as WEIR_<PATH>, the key
 * path in SCREAMING_SNAKE_CASE — kafka.brokers → WEIR_KAFKA_BROKERS, dataDir →
 * WEIR_DATA_DIR, journal.commitIntervalMs → WEIR_JOURNAL_COMMIT_INTERVAL_MS. Lists
 * are comma-separated. The variable names are derived from the defaults, so a new
 * config key gets its variable without anyone remembering to add it here.
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
  if (Array.isArray(example)) return raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (typeof example === 'number') return raw.trim() === '' ? raw : Number(raw);
  if (typeof example === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    return raw; // let the schema say what is wrong
  }
  return raw;
}

/** Lists the overrides present in `env`, walking the leaves of the default config. */
export function envOverrides(defaults: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvOverride[] {
  const found: EnvOverride[] = [];
  const walk = (node: Record<string, unknown>, path: string[]): void => {
    for (const [key, value] of Object.entries(node)) {
      const here = [...path, key];
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        walk(value as Record<string, unknown>, here);
        continue;
      }
      const variable = envVariable(here);
      const raw = env[variable];
      if (raw !== undefined) found.push({ path: here, variable, value: coerce(raw, value) });
    }
  };
  walk(defaults, []);
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
