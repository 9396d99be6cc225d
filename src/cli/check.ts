import { z } from 'zod';
import { existsSync, readFileSync } from 'node:fs';
import { ConfigInvalid, formatProblem, loadConfig, parseYaml, resolveConfigPath, type ConfigProblem } from '../config/load.js';
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
  let config: WeirConfig | undefined;
  let file: string | undefined;
  try {
    ({ config, file } = loadConfig(resolveConfigPath(values.config)));
  } catch (err) {
    if (!(err instanceof ConfigInvalid)) throw err;
    problems.push(...err.problems);
  }
  // Profiles are checked even when the config is broken: with its profiles block if
  // that part is valid, else with the defaults.
  config ??= fallbackConfig(file ?? resolveConfigPath(values.config));
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

function fallbackConfig(file: string | undefined): WeirConfig {
  const defaults = configSchema.parse({});
  if (!file || !existsSync(file)) return defaults;
  const raw = parseYaml(file, readFileSync(file, 'utf8')).data as { profiles?: unknown } | undefined;
  const profiles = configSchema.shape.profiles.safeParse(raw?.profiles);
  return profiles.success ? { ...defaults, profiles: profiles.data } : defaults;
}
