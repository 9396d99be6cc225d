// Shared helpers for the unit tests (not a test file: vitest only picks *.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import type { Context } from '../../src/core/context.js';
import { silentLogger } from '../../src/core/logger.js';
import { Metrics } from '../../src/core/metrics.js';

const dirs: string[] = [];

/** A fresh temporary directory, removed by cleanupTempDirs(). */
export function tempDir(prefix = 'weir-unit-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function cleanupTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface TestContext extends Context {
  abort: AbortController;
}

/** A Context as the gateway builds one, with a silent logger and its own registry. */
export function makeContext(input: ConfigInput = {}, clock: Clock = systemClock): TestContext {
  const abort = new AbortController();
  return {
    config: configSchema.parse(input),
    log: silentLogger,
    clock,
    metrics: new Metrics({ processMetrics: false }),
    signal: abort.signal,
    abort,
  };
}

/** Lets pending setImmediate / nextTick work run (`turns` turns of the event loop). */
export async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}
