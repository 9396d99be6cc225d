// quietDisabledDebug() (src/core/quiet-debug.ts) in a child process each time: it swaps
// an entry of Node's module cache, which must not leak into other tests.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('./fixtures/quiet-debug-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(debugEnv: string | undefined) {
  const env = { ...process.env };
  delete env.DEBUG;
  if (debugEnv !== undefined) env.DEBUG = debugEnv;
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return { out: JSON.parse(r.stdout.trim().split('\n').pop()!), stderr: r.stderr };
}

describe('quietDisabledDebug', () => {
  it('hands out silent no-op loggers when DEBUG is unset, and packages using debug keep working', () => {
    const { out, stderr } = run(undefined);
    expect(out.quiet).toBe(true);
    expect(out.probe).toEqual({ enabled: false, namespace: 'weir:probe' });
    expect(out.other).toEqual({ enabled: false, namespace: 'weir:other', extended: 'weir:other:sub' });
    expect(out.parsed).toEqual({ topic: 'sensors/d1/cpu', messageId: 7, payload: '{"usage":1}' });
    expect(stderr).not.toContain('says');
  });

  it("gives namespaces DEBUG enables debug's own logger, which still prints; the others stay silent", () => {
    const { out, stderr } = run('weir:probe,mqtt-packet:*');
    expect(out.probe).toEqual({ enabled: true, namespace: 'weir:probe' });
    expect(out.other.enabled).toBe(false);
    expect(stderr).toContain('weir:probe probe says hello');
    expect(stderr).not.toContain('other says');
    // mqtt-packet's own loggers were made after the swap, and DEBUG enabled them.
    expect(stderr).toMatch(/mqtt-packet:(parser|generate|writeToStream)/);
    expect(out.parsed.messageId).toBe(7);
  });
});
