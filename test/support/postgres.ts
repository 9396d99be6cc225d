// A real PostgreSQL server for the central tier's tests: a fresh cluster (initdb) in a
// temporary directory, on a free port on 127.0.0.1, loaded with the store schema the
// compose file uses (docker/store/postgres/*.sql, through psql as the image's initdb
// does). No TimescaleDB in Debian, so the tests exercise the partitioned-table layout.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { repoRoot } from './jvm.js';
import { freePort } from './kafka-broker.js';

const run = promisify(execFile);
export const STORE_SCHEMA_DIR = join(repoRoot, 'docker/store/postgres');

/** The server binaries: pg_config's bindir, else the newest /usr/lib/postgresql/N/bin. */
function pgBinDir(): string {
  const cfg = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const fromConfig = cfg.status === 0 ? cfg.stdout.trim() : '';
  if (fromConfig && existsSync(join(fromConfig, 'initdb'))) return fromConfig;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin/initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('PostgreSQL server not found: apt-get install -y postgresql');
  return join(base, versions[0] as string, 'bin');
}

export class Postgres {
  readonly user = 'weir';
  readonly database = 'weir';
  readonly pool: pg.Pool;

  private constructor(readonly dir: string, readonly port: number, private readonly bin: string, private readonly asUser: string[]) {
    this.pool = new pg.Pool({ host: '127.0.0.1', port, user: this.user, database: this.database, max: 4 });
  }

  get jdbcUrl(): string {
    return `jdbc:postgresql://127.0.0.1:${this.port}/${this.database}`;
  }

  /** initdb + start + the store schema. Root cannot run PostgreSQL: as root it runs as `postgres`. */
  static async start(): Promise<Postgres> {
    const bin = pgBinDir();
    const dir = await mkdtemp(join(tmpdir(), 'weir-pg-'));
    const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
    if (asUser.length > 0) {
      const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
      const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
      await chown(dir, Number(ids.stdout.trim()), Number(gid.stdout.trim()));
    }
    await chmod(dir, 0o700);
    const port = await freePort();
    const pgServer = new Postgres(dir, port, bin, asUser);
    await pgServer.exec(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'weir', '-E', 'UTF8', '--no-sync']);
    // fsync off: a test server is thrown away; durability is not what is under test here.
    await pgServer.exec(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start',
      '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c TimeZone=UTC`]);
    await run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'weir', 'weir']);
    await pgServer.loadSchema();
    return pgServer;
  }

  /** Runs the store's .sql files through psql, in name order, as the PostgreSQL image does. */
  async loadSchema(): Promise<void> {
    const files = readdirSync(STORE_SCHEMA_DIR).filter((f) => f.endsWith('.sql')).sort();
    await this.psql(files.flatMap((f) => ['-f', join(STORE_SCHEMA_DIR, f)]));
  }

  async psql(args: string[]): Promise<string> {
    const { stdout } = await run('psql', ['-h', '127.0.0.1', '-p', String(this.port), '-U', this.user, '-d', this.database,
      '-v', 'ON_ERROR_STOP=1', '-q', '-X', ...args], { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }

  async query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query<T>(sql, params)).rows;
  }

  async count(table: string): Promise<number> {
    const rows = await this.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    return Number(rows[0]?.n ?? 0);
  }

  async stop(): Promise<void> {
    await this.pool.end().catch(() => undefined);
    await this.exec(join(this.bin, 'pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  private async exec(cmd: string, args: string[]): Promise<void> {
    const [c, ...rest] = [...this.asUser, cmd, ...args];
    await run(c as string, rest, { timeout: 120_000 });
  }
}
