// The Java side of the tests: class paths resolved from Maven Central by a pom, and
// JVMs that never outlive the test process. Used by the Kafka broker
// (test/kafka/pom.xml) and by Flink's local mode (docker/flink/pom.xml).
import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const INSTALL_HINT = 'Install with `apt-get install -y openjdk-17-jre-headless maven` (Debian/Ubuntu).';

export function hasCommand(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

export interface MavenClasspath {
  /** The cache's name: .cache/<name>/classpath-<hash>.txt. */
  name: string;
  /** The pom, relative to the repository root. */
  pom: string;
  /** Goals run before dependency:build-classpath (e.g. `package` to compile a runner). */
  goals?: string[];
  /** Further files whose content keys the cache (e.g. the runner's source). */
  hashed?: string[];
  /** Files the build makes that must exist for the cache to count (e.g. a compiled class). */
  outputs?: string[];
  /** Appended to the error when java or mvn is missing (another way to run the tests). */
  orElse?: string;
}

const resolving = new Map<string, Promise<string>>();

/**
 * Resolves a pom's class path with Maven once per process, then reuses the cache file,
 * keyed by a hash of the pom (and `hashed`), so changing a version re-resolves.
 */
export async function mavenClasspath(spec: MavenClasspath): Promise<string> {
  let p = resolving.get(spec.name);
  if (!p) {
    p = resolveClasspath(spec).catch((err: unknown) => {
      resolving.delete(spec.name); // let a later caller retry after e.g. a network blip
      throw err;
    });
    resolving.set(spec.name, p);
  }
  return p;
}

async function resolveClasspath(spec: MavenClasspath): Promise<string> {
  const missing = [
    hasCommand('java', ['-version']) ? null : 'java (a Java 17+ runtime)',
    hasCommand('mvn', ['-v']) ? null : 'mvn (Apache Maven)',
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new Error(`The tests' JVMs need ${missing.join(' and ')}, not found on PATH. ${INSTALL_HINT}${spec.orElse ? ` ${spec.orElse}` : ''}`);
  }
  const pom = join(repoRoot, spec.pom);
  const hash = createHash('sha256');
  for (const f of [pom, ...(spec.hashed ?? []).map((h) => join(repoRoot, h))]) hash.update(await readFile(f));
  const cacheFile = join(repoRoot, '.cache', spec.name, `classpath-${hash.digest('hex').slice(0, 16)}.txt`);
  const built = (spec.outputs ?? []).every((o) => existsSync(join(repoRoot, o)));
  if (built && existsSync(cacheFile)) {
    const cached = (await readFile(cacheFile, 'utf8')).trim();
    // The cache names jars in ~/.m2; a fresh machine may keep .cache but not ~/.m2.
    if (cached && cached.split(':').every((jar) => existsSync(jar))) return cached;
  }
  await mkdir(dirname(cacheFile), { recursive: true });
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    await promisify(execFile)(
      'mvn',
      ['-q', '-B', '-f', pom, ...(spec.goals ?? []), 'dependency:build-classpath', `-Dmdep.outputFile=${tmp}`],
      { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 },
    );
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`mvn could not resolve ${spec.pom}: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  await rename(tmp, cacheFile); // atomic, so a concurrent reader never sees half a file
  return (await readFile(cacheFile, 'utf8')).trim();
}

// JVMs still running when this process exits are killed: one left behind holds ports
// and hundreds of MB on a 2-core box. 'exit' covers normal ends; setpriv's
// parent-death signal covers a test runner killed by a signal.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
const useSetpriv = hasCommand('setpriv', ['--help']);

/** Starts `java` with `args`, killed with this process however it ends. */
export function spawnJava(args: string[], opts: SpawnOptions): ChildProcess {
  const child = useSetpriv
    ? spawn('setpriv', ['--pdeathsig', 'SIGKILL', 'java', ...args], opts)
    : spawn('java', args, opts);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}
