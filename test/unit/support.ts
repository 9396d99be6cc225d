// Shared helpers for the unit tests (not a test file: vitest only picks *.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import type { Context } from '../../src/core/context.js';
import { silentLogger } from '../../src/core/logger.js';
import { Metrics } from '../../src/core/metrics.js';
import { afterEach } from 'vitest';
import type Database from 'better-sqlite3';
import type { SqliteJournal } from '../../src/journal/sqlite-journal.js';

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

/** Schedules `fn` to run after the current test; the returned function cancels it (see useCleanups). */
export type Defer = (fn: () => unknown) => () => void;

/**
 * Call once at the top of a test file: after each test, runs what the test deferred,
 * newest first (what was opened last is closed first: a source before its journal),
 * awaiting each, then removes the temporary directories. A test that abandons
 * something on purpose (a journal left unclosed, as SIGKILL leaves it) cancels its
 * cleanup with the function `defer` returned.
 */
export function useCleanups(): Defer {
  const pending: Array<() => unknown> = [];
  afterEach(async () => {
    for (const fn of pending.splice(0).reverse()) await fn();
    cleanupTempDirs();
  });
  return (fn) => {
    pending.push(fn);
    return () => {
      const i = pending.indexOf(fn);
      if (i >= 0) pending.splice(i, 1);
    };
  };
}

/**
 * A directory holding one profile, `timeless`, for devices without a clock: MQTT topic
 * `<root>/{device}`, metric `v`, no event-time field — so a reading's ts is its time of
 * receipt, and ingest cannot recognise a resend by its content (the tests of duplicate
 * handling need that).
 */
export function timelessProfileDir(root: string): string {
  const dir = tempDir('weir-profiles-');
  writeFileSync(join(dir, 'timeless.yaml'), `name: timeless
description: test-only profile with no event time (ts = received)
match:
  - { protocol: mqtt, topic: '${root}/{device}' }
decoder: { type: json }
device: { segment: device }
metrics:
  v: { field: v, required: true }
samples:
  - topic: ${root}/d1
    payload: '{"v": 5}'
    expect:
      - { device: d1, metrics: { v: 5 } }
`);
  return dir;
}

const killable = new WeakMap<SqliteJournal, () => void>();

/** Opens `journal` for this test: closed after it (through `defer`), unless killJournal() drops it first. */
export function openJournal(journal: SqliteJournal, defer: Defer): SqliteJournal {
  journal.open();
  killable.set(journal, defer(() => journal.close()));
  return journal;
}

/** What SIGKILL leaves: the file as committed, the connection dropped without close() (nothing checkpointed or persisted on the way out). */
export function killJournal(journal: SqliteJournal): void {
  killable.get(journal)?.();
  (journal as unknown as { db: Database.Database }).db.close();
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
