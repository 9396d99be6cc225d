// The analytics checkpoint across versions: a version 1 (JSON) snapshot that the gateway
// wrote before the packed format (fixtures/analytics-snapshot-v1.json, produced by
// snapshot-drive.ts at 65b2c87) restores after an upgrade and continues exactly as the
// uninterrupted run; so does a packed version 2 (fixtures/analytics-snapshot-v2.bin, by
// the same sequence at 1e7ba02, before the windows of provisional event times were
// kept); the packed version 3 does the same from bytes, and is far smaller.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AnalyticsStage } from '../../../src/analytics/analytics-stage.js';
import { isPackedSnapshot, unpackSnapshot } from '../../../src/analytics/packed-snapshot.js';
import { makeContext } from '../support.js';
import { COMPAT_CUT, COMPAT_DECL, compatWorkload, drive } from './snapshot-drive.js';

const V1 = readFileSync(new URL('./fixtures/analytics-snapshot-v1.json', import.meta.url), 'utf8');
const V2 = readFileSync(new URL('./fixtures/analytics-snapshot-v2.bin', import.meta.url));

function fresh(): AnalyticsStage {
  const stage = new AnalyticsStage(makeContext(), COMPAT_DECL);
  stage.restore(null);
  return stage;
}

describe('analytics snapshot versions', () => {
  const evs = compatWorkload();
  const whole = fresh();
  const before = drive(whole, evs, 0, COMPAT_CUT);
  const after = drive(whole, evs, COMPAT_CUT, evs.length);

  it('the workload derives aggregates, late corrections and every kind of alert after the cut', () => {
    expect(before.length).toBeGreaterThan(0);
    for (const rule of ['usage-high', 'usage-z', 'silent']) expect(after.some((l) => l.includes(`\\"rule\\":\\"${rule}\\"`)), rule).toBe(true);
    expect(after.some((l) => l.includes('p99'))).toBe(true);
  });

  it('a version 1 snapshot from the previous gateway restores and continues exactly', () => {
    expect(JSON.parse(V1)).toMatchObject({ v: 1 });
    const stage = new AnalyticsStage(makeContext(), COMPAT_DECL);
    stage.restore(V1);
    expect(drive(stage, evs, COMPAT_CUT, evs.length)).toEqual(after);
  });

  it('a version 2 snapshot from the previous gateway restores and continues exactly', () => {
    expect(unpackSnapshot(V2).header).toMatchObject({ v: 2 });
    const stage = new AnalyticsStage(makeContext(), COMPAT_DECL);
    stage.restore(V2);
    expect(drive(stage, evs, COMPAT_CUT, evs.length)).toEqual(after);
  });

  it('a version 3 snapshot restores and continues exactly, and is packed, not JSON', () => {
    const stage = fresh();
    drive(stage, evs, 0, COMPAT_CUT);
    const bytes = stage.snapshot();
    expect(isPackedSnapshot(bytes)).toBe(true);
    expect(bytes.length).toBeLessThan(V1.length);
    const restored = new AnalyticsStage(makeContext(), COMPAT_DECL);
    restored.restore(Buffer.from(bytes));
    expect(drive(restored, evs, COMPAT_CUT, evs.length)).toEqual(after);
  });

  it('a version 3 snapshot at an unaligned offset of a larger Buffer (as a database binding may hand it back) restores exactly', () => {
    const stage = fresh();
    drive(stage, evs, 0, COMPAT_CUT);
    const bytes = stage.snapshot();
    const host = Buffer.alloc(bytes.length + 3);
    host.set(bytes, 3);
    const restored = new AnalyticsStage(makeContext(), COMPAT_DECL);
    restored.restore(host.subarray(3));
    expect(drive(restored, evs, COMPAT_CUT, evs.length)).toEqual(after);
  });

  it('refuses an unknown version with a reason', () => {
    const stage = new AnalyticsStage(makeContext(), COMPAT_DECL);
    expect(() => stage.restore(JSON.stringify({ v: 7 }))).toThrow(/version 7/);
    expect(() => stage.restore(Buffer.from('WSNPxxxx'))).toThrow(/truncated/);
  });
});
