import { z } from 'zod';
import { existsSync, readFileSync } from 'node:fs';
import { strayEnvVariables } from '../config/env.js';
import { applyEnvOverrides, ConfigInvalid, describeStray, formatProblem, loadConfig, parseYaml, resolveConfigPath, type ConfigProblem } from '../config/load.js';
import { configSchema, type WeirConfig } from '../config/schema.js';
import { analyticsDeclarations } from '../analytics/declarations.js';
import { loadProfiles, profileDirs } from '../profiles/registry.js';
import { parse } from './args.js';

/** `weir check`: every problem of the config and of every profile, with file, line and key path. */
export async function checkCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, schema: { type: 'boolean' } });
  if (values.schema) {
    console.log(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }), null, 2));
    return 0;
  }
  const problems: ConfigProblem[] = [];
  const file = resolveConfigPath(values.config);
  let config: WeirConfig | undefined;
  // Warnings only (exit 0 if nothing else is wrong): see strayEnvVariables.
  for (const v of strayEnvVariables(configSchema.parse({}), process.env)) console.error(`warning: ${describeStray(v)}`);
  try {
    ({ config } = loadConfig(file));
  } catch (err) {
    if (!(err instanceof ConfigInvalid)) throw err;
    problems.push(...err.problems);
  }
  // Profiles and the analytics overrides are checked even when the config is broken,
  // so one run lists every problem: with those blocks if they are valid, else the defaults.
  config ??= fallbackConfig(file);
  const { registry, problems: profileProblems } = loadProfiles(profileDirs(config));
  problems.push(...profileProblems);
  const analytics = analyticsDeclarations(config.analytics, registry).problems;
  problems.push(...analytics.map((message) => ({ file: file ?? '(defaults)', path: message.split(':')[0]!, message: message.slice(message.indexOf(':') + 2) })));
  for (const p of problems) console.error(formatProblem(p));
  if (problems.length) {
    console.error(`${problems.length} problem(s) found`);
    return 1;
  }
  console.log(`ok: config ${file ?? '(built-in defaults)'}; ${registry.size} device profile(s): ${registry.list().map((p) => p.name).join(', ')}`);
  return 0;
}

/** The defaults, with the file's and the environment's profiles and analytics blocks where each is valid on its own. */
function fallbackConfig(file: string | undefined): WeirConfig {
  const defaults = configSchema.parse({});
  const data = file && existsSync(file) ? parseYaml(file, readFileSync(file, 'utf8')).data : undefined;
  const raw: Record<string, unknown> = data !== null && typeof data === 'object' && !Array.isArray(data) ? structuredClone(data as Record<string, unknown>) : {};
  applyEnvOverrides(raw, defaults as unknown as Record<string, unknown>, process.env);
  const profiles = configSchema.shape.profiles.safeParse(raw.profiles);
  const analytics = configSchema.shape.analytics.safeParse(raw.analytics);
  return {
    ...defaults,
    profiles: profiles.success ? profiles.data : defaults.profiles,
    analytics: analytics.success ? analytics.data : defaults.analytics,
  };
}
