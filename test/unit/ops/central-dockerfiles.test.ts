// The central tier's Flink image and scripts, without Docker: docker/flink/Dockerfile
// linted by dockerfile-utils (as test/unit/ops/dockerfile.test.ts does for the gateway's)
// and checked for what the compose file relies on; docker/flink/submit-jobs.sh run
// against a stand-in `flink` that records its calls and answers `flink list` as told;
// both shell scripts through shellcheck where it is installed.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = new URL('../../../', import.meta.url).pathname;
const CONTEXT = join(REPO, 'docker'); // the image's build context (docker/compose.yaml)
const DOCKERFILE = join(CONTEXT, 'flink/Dockerfile');
const SUBMIT = join(CONTEXT, 'flink/submit-jobs.sh');
const SQL = join(CONTEXT, 'sql');

/** dockerfile-utils' diagnostics for a Dockerfile, as "line N: severity: message". */
function lint(file: string): string[] {
  const pkg = createRequire(import.meta.url).resolve('dockerfile-utils/package.json');
  const r = spawnSync(process.execPath, [join(dirname(pkg), 'bin/dockerfile-utils'), 'lint', '--json', file], { encoding: 'utf8' });
  const diagnostics = JSON.parse(r.stdout) as { message: string; severity: string; range: { start: { line: number } } }[];
  return diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.severity}: ${d.message}`);
}

/** Instructions by stage (continuations joined, comments dropped); stage 0 is before the first FROM. */
function stages(text: string): { keyword: string; args: string }[][] {
  const out: { keyword: string; args: string }[][] = [[]];
  const joined = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ');
  for (const line of joined.split('\n')) {
    const m = /^\s*(\w+)\s+(.*)$/.exec(line);
    if (!m) continue;
    if (m[1]!.toUpperCase() === 'FROM') out.push([]);
    out.at(-1)!.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ').trim() });
  }
  return out;
}

describe('docker/flink/Dockerfile', () => {
  const [preamble, build, final] = stages(readFileSync(DOCKERFILE, 'utf8'));
  const args = (list: typeof build, keyword: string) => list!.filter((i) => i.keyword === keyword).map((i) => i.args);

  it('has no dockerfile-utils diagnostic, warning or error', () => {
    expect(lint(DOCKERFILE)).toEqual([]);
  });

  it('builds the runner with Maven, then runs it on the Flink 1.20 / Java 17 image', () => {
    expect(args(preamble, 'ARG')).toEqual(['MAVEN_IMAGE=maven:3.9-eclipse-temurin-17', 'FLINK_IMAGE=flink:1.20.3-scala_2.12-java17']);
    expect(args(build, 'FROM')).toEqual(['${MAVEN_IMAGE} AS build']);
    expect(args(final, 'FROM')).toEqual(['${FLINK_IMAGE}']);
    const runs = args(build, 'RUN').join('\n');
    expect(runs).toMatch(/mvn .*dependency:copy-dependencies .*-DincludeScope=runtime .*-DoutputDirectory=\/build\/lib/);
    expect(runs).toMatch(/mvn .* package/);
    // The Maven dependencies are fetched before the sources are copied in (layer cache).
    const order = build!.map((i) => `${i.keyword} ${i.args}`);
    expect(order.findIndex((l) => l.includes('copy-dependencies'))).toBeLessThan(order.findIndex((l) => l.startsWith('COPY flink/src')));
  });

  it('puts the connectors in lib/, the runner, the SQL files and the submitter under /opt/weir', () => {
    expect(args(final, 'COPY')).toEqual([
      '--from=build /build/lib/ /opt/flink/lib/',
      '--from=build /build/weir-flink-jobs.jar /opt/weir/weir-flink-jobs.jar',
      'sql/ /opt/weir/sql/',
      'flink/submit-jobs.sh /opt/weir/submit-jobs.sh',
    ]);
    // Compose mounts the checkpoint volume here; the image makes it the flink user's.
    expect(args(final, 'RUN').join(' ')).toMatch(/chown -R flink:flink \/var\/lib\/weir-flink/);
    expect(args(final, 'VOLUME')).toEqual(['/var/lib/weir-flink']);
  });

  it('copies only paths that exist in its build context, docker/', () => {
    for (const copy of [...build!, ...final!].filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
      for (const src of copy.args.split(' ').slice(0, -1)) expect(existsSync(join(CONTEXT, src)), `COPY ${src}`).toBe(true);
    }
  });
});

describe('docker/flink/submit-jobs.sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-submit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // The stand-in: logs each call, prints $FAKE_LIST for `list` (or fails), and fails
  // a `run` whose arguments contain $FAKE_RUN_FAIL.
  const fake = join(dir, 'flink');
  writeFileSync(fake, [
    '#!/usr/bin/env bash',
    'printf \'%s\\n\' "$*" >> "$FAKE_LOG"',
    'if [[ $1 == list ]]; then [[ -z ${FAKE_LIST_FAIL:-} ]] || { echo "Connection refused" >&2; exit 1; }; printf "%b" "$FAKE_LIST"; exit 0; fi',
    'if [[ -n ${FAKE_RUN_FAIL:-} && "$*" == *"$FAKE_RUN_FAIL"* ]]; then echo "submission failed" >&2; exit 1; fi',
    'echo "Job has been submitted with JobID 00000000000000000000000000000001"',
  ].join('\n'));
  chmodSync(fake, 0o755);

  let n = 0;
  function submit(env: Record<string, string>): { status: number | null; stdout: string; calls: string[] } {
    const log = join(dir, `calls-${n++}.log`);
    writeFileSync(log, '');
    const r = spawnSync('bash', [SUBMIT], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH!, FLINK_BIN: fake, FAKE_LOG: log, WEIR_SQL_DIR: SQL, FAKE_LIST: 'Waiting for response...\nNo running jobs.\nNo scheduled jobs.\n', ...env },
    });
    return { status: r.status, stdout: r.stdout + r.stderr, calls: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
  }
  const runOf = (job: string) => `run -d -m jobmanager:8081 /opt/weir/weir-flink-jobs.jar --detached ${SQL}/00-tables.sql ${SQL}/${job}.sql`;
  const JOBS = ['10-store', '20-fleet-rollups', '30-patterns', '40-gateway-health'];

  it('submits every job file after 00-tables.sql when the cluster runs none', () => {
    const r = submit({});
    expect(r.status, r.stdout).toBe(0);
    expect(r.calls).toEqual(['list -m jobmanager:8081', ...JOBS.map(runOf)]);
    for (const name of ['weir-store', 'weir-fleet-rollups', 'weir-patterns', 'weir-gateway-health']) expect(r.stdout).toContain(`submit-jobs: ${name}: submitted`);
  });

  it('skips a job whose pipeline.name already runs or is scheduled, so a second run starts no copy', () => {
    const listing = [
      'Waiting for response...',
      '------------------ Running/Restarting Jobs -------------------',
      '18.05.2025 10:00:00 : 0a1b2c3d4e5f60718293a4b5c6d7e8f9 : weir-store (RUNNING)',
      '18.05.2025 10:00:01 : 1a1b2c3d4e5f60718293a4b5c6d7e8f9 : weir-gateway-health-old (RUNNING)',
      '--------------------------------------------------------------',
      '----------------------- Scheduled Jobs -----------------------',
      '18.05.2025 10:00:02 : 2a1b2c3d4e5f60718293a4b5c6d7e8f9 : weir-patterns (CREATED)',
      '--------------------------------------------------------------',
    ].join('\n');
    const r = submit({ FAKE_LIST: `${listing}\n` });
    expect(r.status, r.stdout).toBe(0);
    // weir-gateway-health-old is another job: names match whole, not by prefix.
    expect(r.calls).toEqual(['list -m jobmanager:8081', runOf('20-fleet-rollups'), runOf('40-gateway-health')]);
    expect(r.stdout).toContain('submit-jobs: weir-store: already running, skipped');
    expect(r.stdout).toContain('submit-jobs: weir-patterns: already running, skipped');
  });

  it('goes on after a failed submission and exits 1', () => {
    const r = submit({ FAKE_RUN_FAIL: '30-patterns.sql' });
    expect(r.status).toBe(1);
    expect(r.calls).toHaveLength(1 + JOBS.length);
    expect(r.stdout).toContain('submit-jobs: weir-patterns: submission failed');
    expect(r.stdout).toContain('submit-jobs: weir-gateway-health: submitted');
  });

  it('submits nothing when the JobManager cannot be asked, or a job file names no pipeline', () => {
    const down = submit({ FAKE_LIST_FAIL: '1' });
    expect(down.status).toBe(1);
    expect(down.calls).toEqual(['list -m jobmanager:8081']);
    expect(down.stdout).toContain('Connection refused');

    const sqlDir = mkdtempSync(join(dir, 'sql-'));
    writeFileSync(join(sqlDir, '00-tables.sql'), '');
    writeFileSync(join(sqlDir, 'unnamed.sql'), 'INSERT INTO a SELECT * FROM b;\n');
    writeFileSync(join(sqlDir, 'named.sql'), "-- a job\nset 'pipeline.name' = 'weir-named';\nINSERT INTO a SELECT * FROM b;\n");
    const r = submit({ WEIR_SQL_DIR: sqlDir, WEIR_JOBS: 'unnamed named' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`submit-jobs: unnamed: ${sqlDir}/unnamed.sql sets no 'pipeline.name': not submitted`);
    expect(r.calls).toEqual(['list -m jobmanager:8081', `run -d -m jobmanager:8081 /opt/weir/weir-flink-jobs.jar --detached ${sqlDir}/00-tables.sql ${sqlDir}/named.sql`]);
  });
});

const hasShellcheck = !spawnSync('shellcheck', ['--version'], { stdio: 'ignore' }).error;
describe.skipIf(!hasShellcheck)('shellcheck (apt package shellcheck)', () => {
  it.each(['docker/flink/submit-jobs.sh', 'docker/kafka/provision-topics.sh'])('%s is clean', (file) => {
    const r = spawnSync('shellcheck', ['--severity=style', join(REPO, file)], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
