// npm 11.16 added package.json's `allowScripts` (advisory: unreviewed install scripts
// still run, with a warning); npm 12 blocks every dependency's install script that it
// does not allow (docs: npm-approve-scripts, npm RFC 868). Blocked, better-sqlite3 and
// the serial and sd_notify addons would install without their native builds and fail at
// run time, not at install. So every package in the lockfile that has an install script
// must be allowed here, and nothing else (a stale entry would allow a package nobody reviewed
// when it returns).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '../../..');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { hasInstallScript?: boolean }>;
};

/** The package name of a lockfile path (node_modules/a/node_modules/@s/b → @s/b). */
const nameOf = (path: string): string => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);

describe('package.json allowScripts (npm 12 runs no unlisted install script)', () => {
  const withScripts = [...new Set(Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.hasInstallScript).map(([path]) => nameOf(path)))].sort();

  it('the lockfile has the native addons this gateway needs', () => {
    expect(withScripts).toEqual(expect.arrayContaining(['better-sqlite3', '@serialport/bindings-cpp', 'unix-dgram']));
  });

  it('allows exactly the packages whose install scripts the lockfile lists', () => {
    const allowed = Object.entries(pkg.allowScripts ?? {}).filter(([, ok]) => ok === true).map(([name]) => name.replace(/(?<=.)@[^@]*$/, '')).sort();
    expect(allowed).toEqual(withScripts);
  });
});
