import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProblem, parseYaml, zodProblems, type ConfigProblem } from '../config/load.js';
import type { WeirConfig } from '../config/schema.js';
import { WeirError } from '../core/errors.js';
import { compileProfile } from './compile.js';
import type { CompiledProfile } from './profile.js';
import { profileSchema, type Protocol } from './schema.js';
import { normalizeTopic, type TopicPattern } from './topic-pattern.js';

/** The profiles shipped with Weir (repo root /device-profiles, from src/ or dist/). */
export const BUNDLED_PROFILES_DIR = fileURLToPath(new URL('../../device-profiles/', import.meta.url));

export interface ProfileMatch {
  profile: CompiledProfile;
  params: Record<string, string>;
}

/** Topics seen recently → their match; bounded so a client cycling topics cannot grow it. */
const CACHE_LIMIT = 10_000;

/**
 * All loaded profiles, indexed for the hot path: literal topics by exact lookup,
 * patterns by specificity (most literal segments first, then load order).
 */
export class ProfileRegistry {
  private byName = new Map<string, CompiledProfile>();
  private literal = new Map<string, ProfileMatch>();
  private patterns: Array<{ protocol: Protocol; pattern: TopicPattern; profile: CompiledProfile }> = [];
  private cache = new Map<string, ProfileMatch | null>();

  constructor(profiles: CompiledProfile[]) {
    for (const p of profiles) {
      this.byName.set(p.name, p);
      for (const { protocol, pattern } of p.patterns) {
        if (pattern.literal) {
          const key = `${protocol}:${normalizeTopic(pattern.source, protocol === 'mqtt')}`;
          if (!this.literal.has(key)) this.literal.set(key, { profile: p, params: {} });
        } else {
          this.patterns.push({ protocol, pattern, profile: p });
        }
      }
    }
    this.patterns.sort((a, b) => b.pattern.specificity - a.pattern.specificity);
  }

  get size(): number {
    return this.byName.size;
  }

  list(): CompiledProfile[] {
    return [...this.byName.values()];
  }

  get(name: string): CompiledProfile | undefined {
    return this.byName.get(name);
  }

  /** The profile for a payload that arrived on `topic` (an MQTT topic, or a CoAP/HTTP path). */
  match(protocol: Protocol, topic: string): ProfileMatch | undefined {
    const key = `${protocol}:${normalizeTopic(topic, protocol === 'mqtt')}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    let found: ProfileMatch | null = this.literal.get(key) ?? null;
    if (!found) {
      for (const p of this.patterns) {
        if (p.protocol !== protocol) continue;
        const params = p.pattern.match(topic);
        if (params) {
          found = { profile: p.profile, params };
          break;
        }
      }
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, found);
    return found ?? undefined;
  }
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/** Parses and compiles one profile file, collecting every problem. */
export function loadProfileFile(file: string): { profile?: CompiledProfile; problems: ConfigProblem[] } {
  const src = parseYaml(file, readFileSync(file, 'utf8'));
  if (src.problems.length) return { problems: src.problems };
  const parsed = profileSchema.safeParse(src.data);
  if (!parsed.success) return { problems: zodProblems(src, parsed.error) };
  const compiled = compileProfile(parsed.data, file);
  // Locate the compiler's problems in the YAML, as the schema's are.
  const problems = compiled.problems.map((p) => ({ ...p, ...src.locate(p.path.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s))) }));
  return { profile: compiled.profile, problems };
}

/** The directories a config loads profiles from, in order. */
export function profileDirs(config: WeirConfig, base = process.cwd()): string[] {
  return [...(config.profiles.bundled ? [BUNDLED_PROFILES_DIR] : []), ...config.profiles.dirs.map((d) => resolve(base, d))];
}

/** Loads every profile; returns the problems of all files rather than stopping at the first. */
export function loadProfiles(dirs: string[]): { registry: ProfileRegistry; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const profiles: CompiledProfile[] = [];
  const seen = new Map<string, string>();
  for (const dir of dirs) {
    let files: string[];
    try {
      files = yamlFiles(dir);
    } catch (err) {
      problems.push({ file: dir, path: '', message: `cannot read profile directory: ${(err as Error).message}` });
      continue;
    }
    for (const file of files) {
      const { profile, problems: found } = loadProfileFile(file);
      problems.push(...found);
      if (!profile) continue;
      const first = seen.get(profile.name);
      if (first) {
        problems.push({ file, path: 'name', message: `profile "${profile.name}" is already defined in ${first}` });
        continue;
      }
      seen.set(profile.name, file);
      profiles.push(profile);
    }
  }
  return { registry: new ProfileRegistry(profiles), problems };
}

/** loadProfiles for the gateway: any problem is fatal (WEIR_PROFILE_INVALID). */
export function loadProfilesOrThrow(dirs: string[]): ProfileRegistry {
  const { registry, problems } = loadProfiles(dirs);
  if (problems.length) {
    throw new WeirError('WEIR_PROFILE_INVALID', problems.map(formatProblem).join('\n'));
  }
  return registry;
}
