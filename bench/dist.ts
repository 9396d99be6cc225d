// The benchmarks run dist/, as deployed: whether it is older than the sources.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../test/support/gateway.js';

/** Newest modification time of the files under `dir` ending in `ext`. */
function newest(dir: string, ext: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith(ext)) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/** True when a source under src/<subdir> changed after dist/<subdir> was built (all of src/ by default). */
export function distStale(subdirs: string[] = ['']): boolean {
  return subdirs.some((d) => newest(join(REPO, 'src', d), '.ts') > newest(join(REPO, 'dist', d), '.js'));
}

/** The URL of dist/<path>, for a benchmark's dynamic import of the built module (what is deployed). */
export function distUrl(path: string): string {
  return new URL(`../dist/${path}`, import.meta.url).href;
}
