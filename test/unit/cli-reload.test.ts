// SIGHUP (src/cli/reload.ts): profiles and the per-profile analytics overrides are
// swapped in the running gateway; any other change is reported as needing a restart.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { reloadGateway } from '../../src/cli/reload.js';
import { configSchema, type WeirConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/core/logger.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import { cleanupTempDirs, tempDir } from './support.js';

afterEach(cleanupTempDirs);

/** Reloads from a config file holding `text` over `running`; what the gateway was given, what it logged, and the new running config. */
async function reload(text: string, running: WeirConfig) {
  const file = join(tempDir(), 'weir.yaml');
  writeFileSync(file, text);
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  const given: WeirConfig[] = [];
  const gateway = { reload: vi.fn(async (_profiles: unknown, config: WeirConfig) => void given.push(config)) } as unknown as Gateway;
  const next = await reloadGateway(gateway, file, running, createLogger('info', sink));
  return { given, lines, next };
}

describe('reloadGateway', () => {
  const running = configSchema.parse({ gateway: { id: 'gw-r' } });

  it('swaps the analytics overrides of profiles and reports nothing to restart for them', async () => {
    const override = { 'cpu-monitor': { rules: [] } };
    const { given, lines, next } = await reload(`gateway: { id: gw-r }\nanalytics: { profiles: ${JSON.stringify(override)} }\n`, running);
    expect(given[0]!.analytics.profiles).toEqual(override);
    expect(next.analytics.profiles).toEqual(override);
    expect(lines.filter((l) => l.sections !== undefined)).toEqual([]);
  });

  it('reports the other analytics keys as needing a restart, and leaves them as they run', async () => {
    const { given, lines, next } = await reload('gateway: { id: gw-r }\nanalytics: { enabled: false, idleTimeoutMs: 60000 }\n', running);
    const warning = lines.find((l) => l.msg === 'these config changes take effect only after a restart');
    expect(warning?.sections).toEqual(['analytics']);
    // Not half-applied: the gateway would otherwise drop every window and rule for enabled: false.
    expect(given[0]!.analytics).toEqual(running.analytics);
    expect(next.analytics).toEqual(running.analytics);
  });
});
