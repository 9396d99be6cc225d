// The central tier's Flink SQL jobs (docker/sql/*.sql) in Flink's local mode: the
// runner of docker/flink (the same one the compose file's job submitter uses) on a
// plain `java` command line, with Flink's jars from Maven Central. With no cluster to
// submit to, its TableEnvironment starts a MiniCluster inside that JVM.
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mavenClasspath, repoRoot, spawnJava } from './jvm.js';

export const SQL_DIR = join(repoRoot, 'docker/sql');

/**
 * What Flink 1.20 needs opened on Java 17 (its distribution sets the same list as
 * env.java.opts.all in conf/config.yaml): Kryo and the network stack reflect into
 * these JDK packages.
 */
const JAVA17_OPENS = [
  '--add-exports=java.base/sun.net.util=ALL-UNNAMED',
  '--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED',
  ...['java.lang', 'java.net', 'java.io', 'java.nio', 'sun.nio.ch', 'java.lang.reflect', 'java.text', 'java.time',
    'java.util', 'java.util.concurrent', 'java.util.concurrent.atomic', 'java.util.concurrent.locks']
    .map((p) => `--add-opens=java.base/${p}=ALL-UNNAMED`),
];

/**
 * Builds the runner and resolves Flink's class path (Maven once, then .cache/flink/,
 * keyed by the pom and the runner's source: a changed version or source rebuilds).
 */
export async function flinkClasspath(): Promise<string> {
  const runner = 'docker/flink/src/main/java/dev/weir/flink/SqlRunner.java';
  const classes = 'docker/flink/target/classes';
  const jars = await mavenClasspath({ name: 'flink', pom: 'docker/flink/pom.xml', goals: ['package'], hashed: [runner],
    outputs: [`${classes}/dev/weir/flink/SqlRunner.class`] });
  return `${join(repoRoot, classes)}:${jars}`;
}

export interface FlinkRun {
  child: ChildProcess;
  /** Resolves with the exit code and the output once the JVM exits. */
  done: Promise<{ code: number | null; output: string }>;
  stop(): Promise<void>;
}

/**
 * Starts the runner on `files` (paths; docker/sql/ ones by name) with `env` as the
 * placeholders' values. Bounded jobs make it exit by itself; unbounded ones run
 * until stop().
 */
export async function startFlinkSql(files: string[], env: Record<string, string>): Promise<FlinkRun> {
  const classpath = await flinkClasspath();
  const paths = files.map((f) => (f.includes('/') ? f : join(SQL_DIR, f)));
  const log4j = join(repoRoot, '.cache/flink/log4j2.properties');
  // Flink's MiniCluster logs every task transition at INFO: warnings only.
  await writeFile(log4j, 'rootLogger.level = WARN\nrootLogger.appenderRef.out.ref = OUT\nappender.out.type = Console\n'
    + 'appender.out.name = OUT\nappender.out.layout.type = PatternLayout\nappender.out.layout.pattern = %d %p %c{1} %m%n\n');
  const child = spawnJava([...JAVA17_OPENS, '-Xmx768m', '-Duser.timezone=UTC', `-Dlog4j2.configurationFile=${log4j}`,
    '-cp', classpath, 'dev.weir.flink.SqlRunner', ...paths], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
  const done = new Promise<{ code: number | null; output: string }>((res) => {
    child.once('exit', (code) => {
      res({ code, output });
    });
  });
  return {
    child,
    done,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** Runs bounded jobs to completion; throws with the JVM's output if it fails or outlives `timeoutMs`. */
export async function runFlinkSql(files: string[], env: Record<string, string>, timeoutMs = 240_000): Promise<string> {
  const flink = await startFlinkSql(files, env);
  const timer = setTimeout(() => flink.child.kill('SIGKILL'), timeoutMs);
  const { code, output } = await flink.done;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`Flink SQL runner exited with ${code} on ${files.join(' ')}:\n${output.slice(-8000)}`);
  return output;
}
