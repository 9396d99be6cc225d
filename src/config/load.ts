import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { WeirError } from '../core/errors.js';
import { envOverrides, setPath, strayEnvVariables, type EnvOverride, type StrayVariable } from './env.js';
import { configSchema, type WeirConfig } from './schema.js';

/** One problem found in a config or profile file, pointing at the place to fix. */
export interface ConfigProblem {
  file: string;
  /** Key path, e.g. `mqtt.port`; empty for the document itself. */
  path: string;
  line?: number;
  column?: number;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
  return `${where}: ${p.path || '(document)'}: ${p.message}`;
}

/** Parsed YAML plus a way to find the line of a key path. */
export interface YamlSource {
  file: string;
  data: unknown;
  problems: ConfigProblem[];
  /** Line and column of the node at `path`; with `atKey`, of the key naming it. */
  locate(path: ReadonlyArray<PropertyKey>, atKey?: boolean): { line: number; column: number } | undefined;
}

export function parseYaml(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = doc.errors.map((e) => {
    const pos = lineCounter.linePos(e.pos[0]);
    return { file, path: '', line: pos.line, column: pos.col, message: e.message.split('\n')[0] ?? e.message };
  });
  const locate = (path: ReadonlyArray<PropertyKey>, atKey = false) => {
    if (atKey && path.length > 0) {
      const parent = doc.getIn(path.slice(0, -1) as unknown[], true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
        const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
        if (range) {
          const pos = lineCounter.linePos(range[0]);
          return { line: pos.line, column: pos.col };
        }
      }
    }
    // Walk up to the deepest existing node: a missing key is reported at its parent.
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
      if (node?.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return undefined;
  };
  return { file, data: problems.length ? undefined : (doc.toJS() ?? {}), problems, locate };
}

/** Turns zod issues into problems located in the YAML source. */
export function zodProblems(src: YamlSource, error: z.ZodError, prefix: PropertyKey[] = []): ConfigProblem[] {
  return error.issues.flatMap((issue) => {
    // One problem per unknown key, located at the key itself (typos are the usual cause).
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys.map((key) => {
      const path = [...prefix, ...issue.path, ...(key === undefined ? [] : [key])];
      const message = key === undefined ? issue.message : 'unknown key';
      return { file: src.file, path: path.map(String).join('.'), ...src.locate(path, key !== undefined), message };
    });
  });
}

/** Which file `weir run`/`check` reads: -c, else $WEIR_CONFIG, else ./weir.yaml if present, else none. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag) return resolve(flag);
  if (env.WEIR_CONFIG) return resolve(env.WEIR_CONFIG);
  const local = resolve('weir.yaml');
  return existsSync(local) ? local : undefined;
}

export interface LoadedConfig {
  config: WeirConfig;
  file: string | undefined;
  overrides: EnvOverride[];
  /** WEIR_* variables that set nothing (likely misspelt): for a warning. */
  stray: StrayVariable[];
}

/**
 * Reads, overrides from the environment and validates the config.
 * Throws WEIR_CONFIG_NOT_FOUND or WEIR_CONFIG_INVALID; the latter carries every
 * problem (not just the first) in `problems`.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let src: YamlSource = { file: '(defaults)', data: {}, problems: [], locate: () => undefined };
  if (file) {
    if (!existsSync(file)) throw new WeirError('WEIR_CONFIG_NOT_FOUND', `config file not found: ${file}`);
    src = parseYaml(file, readFileSync(file, 'utf8'));
  }
  if (src.problems.length) throw new ConfigInvalid(src.problems);
  const raw = src.data === null || typeof src.data !== 'object' ? src.data : structuredClone(src.data);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigInvalid([{ file: src.file, path: '', message: 'the config must be a YAML mapping' }]);
  }
  const defaults = configSchema.parse({}) as unknown as Record<string, unknown>;
  // The file is checked on its own first: an override replaces what it sets, and a
  // block the file got wrong altogether (kafka: 5, or an empty `kafka:`), so checked
  // merged only, the file's problems there would go unreported until the variable goes.
  const inFile = configSchema.safeParse(raw);
  const merged = structuredClone(raw) as Record<string, unknown>;
  const overrides = applyEnvOverrides(merged, defaults, env);
  const parsed = overrides.length ? configSchema.safeParse(merged) : inFile;
  if (!inFile.success || !parsed.success) {
    const fromFile = inFile.success ? [] : zodProblems(src, inFile.error);
    const fromEnv = parsed.success || parsed === inFile ? [] : envProblems(zodProblems(src, parsed.error), fromFile, overrides);
    throw new ConfigInvalid([...fromFile, ...fromEnv]);
  }
  return { config: parsed.data, file, overrides, stray: strayEnvVariables(defaults, env) };
}

/**
 * The problems of the config with the overrides that the file alone does not have,
 * each blamed on its variables: the one setting the key or a block around it, else —
 * a cross-field check (kafka.client against the file's compression) — the overrides
 * nearest to the key.
 */
function envProblems(merged: ConfigProblem[], fromFile: ConfigProblem[], overrides: EnvOverride[]): ConfigProblem[] {
  const known = new Set(fromFile.map((p) => `${p.path}\n${p.message}`));
  const out: ConfigProblem[] = [];
  for (const p of merged) {
    const setting = overrides.filter((o) => `${p.path}.`.startsWith(`${o.path.join('.')}.`));
    if (setting.length === 0 && known.has(`${p.path}\n${p.message}`)) continue;
    const blamed = setting.length ? setting : nearest(p.path.split('.'), overrides);
    out.push({ file: blamed.map((o) => `$${o.variable}`).join(', '), path: p.path, message: p.message });
  }
  return out;
}

/** The overrides whose key paths share the longest prefix with `path`. */
function nearest(path: string[], overrides: EnvOverride[]): EnvOverride[] {
  const shared = (o: EnvOverride) => {
    let n = 0;
    while (n < path.length && o.path[n] === path[n]) n++;
    return n;
  };
  const most = Math.max(...overrides.map(shared));
  return overrides.filter((o) => shared(o) === most);
}

/** Sets every WEIR_* override found in `env` on the raw config (in place); returns them, to name a bad one's variable. */
export function applyEnvOverrides(raw: Record<string, unknown>, defaults: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvOverride[] {
  const overrides = envOverrides(defaults, env);
  for (const o of overrides) setPath(raw, o.path, o.value);
  return overrides;
}

/** One line about a stray variable, for `weir check` and the log. */
export function describeStray(v: StrayVariable): string {
  return `$${v.variable} sets nothing${v.suggestion ? ` (did you mean $${v.suggestion}?)` : ''}`;
}

export class ConfigInvalid extends WeirError {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super('WEIR_CONFIG_INVALID', problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}
