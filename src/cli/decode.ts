import { readFileSync } from 'node:fs';
import { loadConfig, resolveConfigPath } from '../config/load.js';
import { WeirError } from '../core/errors.js';
import { loadProfilesOrThrow, profileDirs } from '../profiles/registry.js';
import { parse } from './args.js';

async function readPayload(arg: string): Promise<Buffer> {
  if (arg === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  if (arg.startsWith('@')) {
    try {
      return readFileSync(arg.slice(1));
    } catch (err) {
      throw new WeirError('WEIR_INPUT_UNREADABLE', `cannot read the payload file ${arg.slice(1)}: ${(err as Error).message}`, { cause: err });
    }
  }
  return Buffer.from(arg, 'utf8');
}

/**
 * `weir decode`: decodes one payload exactly as the gateway would and prints the
 * readings as JSON lines; a dead letter prints its code and reason and exits 1.
 */
export async function decodeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    config: { type: 'string', short: 'c' },
    profile: { type: 'string', short: 'p' },
    topic: { type: 'string' },
    path: { type: 'string' },
  }, true);
  if (!values.profile || positionals.length !== 1 || (values.topic && values.path)) {
    throw new WeirError('WEIR_USAGE', 'usage: weir decode -p PROFILE [--topic T | --path P] PAYLOAD|@FILE|-');
  }
  const { config } = loadConfig(resolveConfigPath(values.config));
  const registry = loadProfilesOrThrow(profileDirs(config));
  const profile = registry.get(values.profile);
  if (!profile) {
    throw new WeirError('WEIR_PROFILE_NOT_FOUND', `no profile "${values.profile}" (known: ${registry.list().map((p) => p.name).join(', ')})`);
  }
  const topic = values.topic ?? values.path ?? profile.patterns[0]!.pattern.source;
  const params = profile.patterns.map((p) => p.pattern.match(topic)).find((m) => m !== null);
  if (!params) {
    throw new WeirError('WEIR_NO_PROFILE', `"${topic}" matches none of ${profile.name}'s patterns (${profile.patterns.map((p) => p.pattern.source).join(', ')})`);
  }
  // Without --topic/--path the pattern's own text is the topic: its named segments would
  // come out as the literal "{device}", a device id no real payload has.
  if (values.topic === undefined && values.path === undefined && Object.keys(params).length > 0) {
    throw new WeirError('WEIR_USAGE', `${profile.name} reads ${Object.keys(params).map((n) => `{${n}}`).join(', ')} from the topic or path (${topic}): give --topic or --path`);
  }
  const result = profile.decode({ payload: await readPayload(positionals[0]!), params, received: Date.now() });
  for (const r of result.readings) console.log(JSON.stringify(r));
  for (const r of result.rejects) console.error(`dead letter: ${r.code}: ${r.reason}`);
  return result.rejects.length ? 1 : 0;
}
