// deploy/install.sh and deploy/uninstall.sh, run for real in staging mode (--prefix):
// every file lands under a temporary root and the system steps (apt, npm, useradd,
// chown, systemctl) are printed instead of run, so the documented layout, the
// never-overwritten config and both uninstall modes are checked on any machine.
// ShellCheck (Debian's shellcheck package; .ci/run installs it) lints both scripts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';

const REPO = new URL('../../../', import.meta.url).pathname.replace(/\/$/, '');
const INSTALL = join(REPO, 'deploy/install.sh');
const UNINSTALL = join(REPO, 'deploy/uninstall.sh');

interface Run { status: number | null; stdout: string; stderr: string; out: string }

function sh(script: string, ...args: string[]): Run {
  const r = spawnSync('sh', [script, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out: `${r.stdout}${r.stderr}` };
}

/** Every file under `dir`, as paths relative to it, sorted. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

const mode = (path: string) => statSync(path).mode & 0o777;

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'weir-install-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('deploy/install.sh --prefix', () => {
  let first: Run;
  beforeAll(() => {
    first = sh(INSTALL, '--prefix', root, '--from', REPO);
  });

  it('succeeds, and only prints the system steps', () => {
    expect(first.status, first.out).toBe(0);
    for (const step of [
      'would ensure Node.js >= 20.19 at /usr/bin/node',
      'npm ci --omit=dev --ignore-scripts && npm rebuild && npx --no patch-package',
      'would run: useradd --system --user-group --home-dir /var/lib/weir --no-create-home --shell /usr/sbin/nologin weir',
      'would run: usermod -a -G dialout weir',
      'would run: systemctl daemon-reload',
      'would run: systemctl enable --now weir',
    ]) {
      expect(first.stdout, first.out).toContain(step);
    }
    expect(existsSync(join(root, 'opt/weir/node_modules'))).toBe(false);
  });

  it('puts the app in opt/weir: bin, dist, device-profiles, patches, package.json and package-lock.json', () => {
    const app = join(root, 'opt/weir');
    expect(mode(join(app, 'bin/weir.js')) & 0o111).not.toBe(0);
    expect(readFileSync(join(app, 'bin/weir.js'), 'utf8')).toBe(readFileSync(join(REPO, 'bin/weir.js'), 'utf8'));
    expect(files(join(app, 'device-profiles'))).toEqual(files(join(REPO, 'device-profiles')));
    expect(existsSync(join(app, 'device-profiles/cpu-monitor.yaml'))).toBe(true);
    // patches/: applied by patch-package after the production install (the client's record batches).
    expect(files(join(app, 'patches'))).toEqual(files(join(REPO, 'patches')));
    for (const f of ['package.json', 'package-lock.json', 'README.md']) {
      expect(readFileSync(join(app, f), 'utf8'), f).toBe(readFileSync(join(REPO, f), 'utf8'));
    }
    // dist/ is whatever the checkout has built (`npm ci` runs `prepare`, `npm test` builds).
    if (existsSync(join(REPO, 'dist'))) {
      expect(existsSync(join(app, 'dist/cli/main.js'))).toBe(true);
      expect(files(join(app, 'dist'))).toEqual(files(join(REPO, 'dist')));
    } else {
      expect(existsSync(join(app, 'dist'))).toBe(false);
      expect(first.stderr).toContain('dist/ is missing');
    }
    expect(existsSync(join(root, 'opt/weir.new'))).toBe(false);
  });

  it('writes etc/weir/weir.yaml: valid YAML, a valid config, readable by root and group weir only', () => {
    const file = join(root, 'etc/weir/weir.yaml');
    expect(parse(readFileSync(file, 'utf8'))).toMatchObject({ kafka: { brokers: ['127.0.0.1:9092'] } });
    const { config } = loadConfig(file, {});
    expect(config.dataDir).toBe('/var/lib/weir');
    expect([config.mqtt.port, config.coap.port, config.http.port]).toEqual([1883, 5683, 8080]);
    expect(mode(file)).toBe(0o640);
  });

  it('creates var/lib/weir (0750) and installs the unit unchanged, with the serial drivers to load at boot', () => {
    const state = join(root, 'var/lib/weir');
    expect(statSync(state).isDirectory()).toBe(true);
    expect(mode(state)).toBe(0o750);
    const unit = join(root, 'etc/systemd/system/weir.service');
    expect(readFileSync(unit, 'utf8')).toBe(readFileSync(join(REPO, 'systemd/weir.service'), 'utf8'));
    expect(mode(unit)).toBe(0o644);
    const modules = readFileSync(join(root, 'etc/modules-load.d/weir.conf'), 'utf8').split('\n');
    expect(modules).toEqual(expect.arrayContaining(['usbserial', 'cdc_acm']));
  });

  it('run again, keeps an edited weir.yaml and the journal, and replaces the app', () => {
    const config = join(root, 'etc/weir/weir.yaml');
    const edited = 'gateway: { id: site-7 }\nkafka: { brokers: ["kafka.example:9092"] }\n';
    writeFileSync(config, edited);
    writeFileSync(join(root, 'var/lib/weir/journal.sqlite'), 'journal');
    writeFileSync(join(root, 'opt/weir/stale-file'), 'from an older version');
    const again = sh(INSTALL, '--prefix', root, '--from', REPO, '--no-start');
    expect(again.status, again.out).toBe(0);
    expect(again.stdout).toContain('keeping the existing');
    expect(again.stdout).toContain('would run: systemctl enable weir\n');
    expect(again.stdout).not.toContain('enable --now');
    expect(readFileSync(config, 'utf8')).toBe(edited);
    expect(readFileSync(join(root, 'var/lib/weir/journal.sqlite'), 'utf8')).toBe('journal');
    expect(existsSync(join(root, 'opt/weir/stale-file'))).toBe(false);
    expect(existsSync(join(root, 'opt/weir/bin/weir.js'))).toBe(true);
  });

  it('refuses a directory that is not a Weir source tree, and unknown options', () => {
    const empty = mkdtempSync(join(tmpdir(), 'weir-not-a-tree-'));
    try {
      const r = sh(INSTALL, '--prefix', join(empty, 'root'), '--from', empty);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('is not a Weir source tree');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    const bad = sh(INSTALL, '--prefix', root, '--bogus');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('unknown option: --bogus');
  });
});

describe('deploy/uninstall.sh --prefix', () => {
  let staged: string;
  beforeAll(() => {
    staged = mkdtempSync(join(tmpdir(), 'weir-uninstall-'));
    const r = sh(INSTALL, '--prefix', staged, '--from', REPO);
    expect(r.status, r.out).toBe(0);
    mkdirSync(join(staged, 'var/lib/weir'), { recursive: true });
    writeFileSync(join(staged, 'var/lib/weir/journal.sqlite'), 'unsent readings');
  });
  afterAll(() => rmSync(staged, { recursive: true, force: true }));

  it('by default (--keep-data) removes the app and the unit, keeps etc/weir and var/lib/weir; again, does nothing more', () => {
    const r = sh(UNINSTALL, '--prefix', staged);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toContain('would run: systemctl disable --now weir');
    for (const gone of ['opt/weir', 'etc/systemd/system/weir.service', 'etc/modules-load.d/weir.conf']) {
      expect(existsSync(join(staged, gone)), gone).toBe(false);
    }
    expect(existsSync(join(staged, 'etc/weir/weir.yaml'))).toBe(true);
    expect(readFileSync(join(staged, 'var/lib/weir/journal.sqlite'), 'utf8')).toBe('unsent readings');
    const again = sh(UNINSTALL, '--prefix', staged, '--keep-data');
    expect(again.status, again.out).toBe(0);
    expect(again.stdout).not.toContain('removed');
    expect(existsSync(join(staged, 'var/lib/weir/journal.sqlite'))).toBe(true);
  });

  it('--purge removes etc/weir and var/lib/weir too; again, succeeds', () => {
    const r = sh(UNINSTALL, '--prefix', staged, '--purge');
    expect(r.status, r.out).toBe(0);
    expect(existsSync(join(staged, 'etc/weir'))).toBe(false);
    expect(existsSync(join(staged, 'var/lib/weir'))).toBe(false);
    const again = sh(UNINSTALL, '--prefix', staged, '--purge');
    expect(again.status, again.out).toBe(0);
  });
});

describe('deploy scripts', () => {
  it('are executable POSIX sh scripts with no ShellCheck finding', () => {
    for (const script of [INSTALL, UNINSTALL]) {
      expect(readFileSync(script, 'utf8').split('\n', 1)[0], script).toBe('#!/bin/sh');
      expect(mode(script) & 0o111, `${script} is not executable`).not.toBe(0);
    }
    const r = spawnSync('shellcheck', ['--shell=sh', '--severity=style', INSTALL, UNINSTALL], { encoding: 'utf8' });
    if (r.error) throw new Error(`shellcheck is needed (Debian: apt-get install shellcheck): ${r.error.message}`);
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});
