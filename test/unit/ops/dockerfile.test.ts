// docker/Dockerfile: linted by dockerfile-utils (the Dockerfile validator of the Docker
// language server, from npm; a devDependency) with every diagnostic, warning or error,
// failing the test; and checked for what the image promises: multi-stage, native addons
// built for the target platform, no architecture named, a non-root user, the journal
// on a volume, a health check.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = new URL('../../../', import.meta.url).pathname;
const DOCKERFILE = join(REPO, 'docker/Dockerfile');
const text = readFileSync(DOCKERFILE, 'utf8');

interface Diagnostic { message: string; severity: string; range: { start: { line: number } } }

/** Runs `dockerfile-utils lint --json FILE`; its diagnostics (an empty list when clean). */
function lint(file: string): Diagnostic[] {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('dockerfile-utils/package.json');
  } catch {
    throw new Error('dockerfile-utils is not installed: it is a devDependency (package.json; `npm ci` installs it)');
  }
  const r = spawnSync(process.execPath, [join(dirname(pkg), 'bin/dockerfile-utils'), 'lint', '--json', file], { encoding: 'utf8' });
  if (r.error) throw r.error;
  // Exit status 1 only for errors: warnings are read from the JSON.
  try {
    return JSON.parse(r.stdout) as Diagnostic[];
  } catch {
    throw new Error(`dockerfile-utils gave no JSON (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  }
}

interface Instruction { keyword: string; args: string; line: number }

/** The instructions, with continuation lines joined and comments dropped, by stage. */
function stages(source: string): Instruction[][] {
  const out: Instruction[][] = [[]];
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1);
      do i++; while (i < lines.length && /^\s*#/.test(lines[i]!));
      line += ` ${(lines[i] ?? '').trim()}`;
    }
    const m = /^\s*(\w+)\s*(.*)$/.exec(line)!;
    const ins = { keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start };
    if (ins.keyword === 'FROM') out.push([]);
    out.at(-1)!.push(ins);
  }
  return out;
}

const [preamble, ...builds] = stages(text);
const final = builds.at(-1)!;
const all = builds.flat();
const find = (list: Instruction[], keyword: string) => list.filter((i) => i.keyword === keyword);

describe('docker/Dockerfile', () => {
  it('has no dockerfile-utils diagnostic, warning or error', () => {
    const problems = lint(DOCKERFILE).map((d) => `line ${d.range.start.line + 1}: ${d.severity}: ${d.message}`);
    expect(problems).toEqual([]);
  });

  it('(the linter does report problems: a bad Dockerfile is not clean)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-dockerfile-'));
    try {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM node:20-bookworm-slim\nMAINTAINER someone\nCOPY onlyone\n');
      expect(lint(join(dir, 'Dockerfile')).map((d) => d.severity).sort()).toEqual(['error', 'warning']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is multi-stage on a slim Node 20 base, and the runtime stage has no compilers', () => {
    expect(find(preamble!, 'ARG').map((i) => i.args)).toContain('NODE_IMAGE=node:20-bookworm-slim');
    const froms = builds.map((s) => s[0]!);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from.args).toMatch(/\$\{NODE_IMAGE\}/);
    for (const from of froms.slice(0, -1)) expect(from.args, `stage at line ${from.line} needs a name`).toMatch(/\sAS\s+\w+$/i);
    expect(final.map((i) => i.args).join('\n')).not.toMatch(/apt-get|g\+\+|\bmake\b|python3/);
  });

  it('names no architecture, and builds the native addons on the target platform', () => {
    for (const i of all) expect(i.args, `line ${i.line}`).not.toMatch(/amd64|arm64|aarch64|x86_64|armv7|armhf/i);
    // Only the JavaScript stage may run on the build machine's platform.
    for (const from of builds.map((s) => s[0]!)) {
      const platform = /--platform=(\S+)/.exec(from.args)?.[1];
      expect([undefined, '$BUILDPLATFORM']).toContain(platform);
    }
    const addonStage = builds.find((s) => s.some((i) => i.keyword === 'RUN' && /npm ci --omit=dev/.test(i.args)))!;
    expect(addonStage, 'a stage runs npm ci --omit=dev').toBeDefined();
    expect(addonStage[0]!.args).not.toMatch(/--platform/);
    expect(addonStage.some((i) => /npm rebuild/.test(i.args))).toBe(true);
    // --ignore-scripts skips the package's postinstall: the stage applies patches/ itself.
    expect(addonStage.some((i) => i.keyword === 'COPY' && /^patches\s/.test(i.args))).toBe(true);
    expect(addonStage.some((i) => i.keyword === 'RUN' && /npx --no patch-package/.test(i.args))).toBe(true);
    const nodeModules = find(final, 'COPY').find((i) => /node_modules/.test(i.args))!;
    expect(nodeModules.args).toMatch(new RegExp(`--from=${/\sAS\s+(\w+)$/i.exec(addonStage[0]!.args)![1]}\\s`));
  });

  it('runs as a non-root user, keeps the journal on a volume and has a health check', () => {
    const user = find(final, 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
    expect(find(final, 'VOLUME').map((i) => i.args).join(' ')).toContain('/var/lib/weir');
    expect(find(final, 'ENV').map((i) => i.args).join(' ')).toContain('WEIR_DATA_DIR=/var/lib/weir');
    const health = find(final, 'HEALTHCHECK');
    expect(health).toHaveLength(1);
    expect(health[0]!.args).toMatch(/CMD \["node",.*\/healthz/);
    expect(find(final, 'EXPOSE')[0]!.args.split(/\s+/).sort()).toEqual(['1883/tcp', '5683/udp', '8080/tcp']);
    expect(find(final, 'ENTRYPOINT')[0]!.args).toBe('["node", "--max-semi-space-size=4", "--max-old-space-size=256", "/opt/weir/bin/weir.js"]');
  });

  it('copies only paths that exist in the repository', () => {
    for (const copy of find(all, 'COPY').filter((i) => !i.args.startsWith('--from'))) {
      const sources = copy.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const src of sources) expect(existsSync(join(REPO, src)), `COPY ${src} (line ${copy.line})`).toBe(true);
    }
  });
});
