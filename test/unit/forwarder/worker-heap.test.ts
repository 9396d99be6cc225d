// The forwarder thread's own young generation (src/forwarder/worker-heap.ts), checked in
// real isolates: a child Node process started with the unit's kind of flag, whose threads
// churn memory until V8 has grown their new space to its cap, and report its size.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { processSemiSpaceMb } from '../../../src/forwarder/worker-heap.js';

const HELPER = fileURLToPath(new URL('../../../src/forwarder/worker-heap.ts', import.meta.url));

/** (`v8` is node:v8, imported by each side.) Keeps a fifth of a million small objects alive while allocating more: V8 grows the new space to its cap. */
const CHURN = `
const keep = [];
for (let i = 0; i < 600000; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 200000) keep.length = 0; }
const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
`;

const CHILD = `
import { Worker } from 'node:worker_threads';
import { spawnWithSemiSpace, processSemiSpaceMb } from ${JSON.stringify(HELPER)};
import * as v8 from 'node:v8';
const WORKER = ${JSON.stringify(`const v8 = require('node:v8');${CHURN}require('node:worker_threads').parentPort.postMessage(young());`)};
// (execArgv: [] — the eval'd code is CommonJS, not this script's --input-type=module.)
const youngOf = (w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
const raised = await youngOf(spawnWithSemiSpace(8, (resourceLimits) => new Worker(WORKER, { eval: true, resourceLimits, execArgv: [] })));
// Spawned after the first is online: the process's own cap must be back.
const plain = await youngOf(new Worker(WORKER, { eval: true, execArgv: [] }));
${CHURN}
console.log(JSON.stringify({ own: processSemiSpaceMb(), raised, plain, main: young() }));
`;

function child(flags: string[]): { own?: number; raised: number; plain: number; main: number } {
  const r = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', CHILD], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

describe('the forwarder thread\'s young generation', () => {
  it('is raised to 8 MB semi-spaces under a process cap of 2 MB, which the gateway thread and later threads keep', () => {
    const r = child(['--max-semi-space-size=2']);
    expect(r.own).toBe(2);
    // The new space is two semi-spaces: 4 MB at most under the cap, 16 MB at most raised.
    expect(r.main).toBeLessThanOrEqual(4);
    expect(r.plain).toBeLessThanOrEqual(4);
    expect(r.raised).toBeGreaterThan(4);
    expect(r.raised).toBeLessThanOrEqual(16);
  });

  it('without a process cap, is bounded by the worker\'s resource limit', () => {
    const r = child([]);
    expect(r.own).toBeUndefined();
    expect(r.raised).toBeLessThanOrEqual(16);
    // V8's own sizing lets an unlimited thread grow further (16 MB semi-spaces on 64-bit).
    expect(r.plain).toBeGreaterThan(16);
  });
});

describe('processSemiSpaceMb', () => {
  it('reads the flag from the command line and NODE_OPTIONS, the last one winning, in either spelling', () => {
    expect(processSemiSpaceMb(['--max-semi-space-size=4', '--max-old-space-size=256'], '')).toBe(4);
    expect(processSemiSpaceMb(['--max_semi_space_size', '6'], '')).toBe(6);
    expect(processSemiSpaceMb(['--max-semi-space-size=4'], '--max-semi-space-size=2')).toBe(4);
    expect(processSemiSpaceMb([], '--inspect --max-semi-space-size=3')).toBe(3);
    expect(processSemiSpaceMb(['--max-old-space-size=256'], '')).toBeUndefined();
    expect(processSemiSpaceMb(['--max-semi-space-size'], '')).toBeUndefined();
  });
});
