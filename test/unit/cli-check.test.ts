// `weir check` (src/cli/check.ts) called as a function: PRODUCT.md, CLI — "validate
// config and every device profile; errors name file and path; exit 1 on any error".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkCommand } from '../../src/cli/check.js';
import { cleanupTempDirs, tempDir } from './support.js';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  cleanupTempDirs();
});

/** Runs `weir check -c <file with text>`; resolves to its exit code and the lines it printed on stderr. */
async function check(text: string): Promise<{ code: number; errors: string[]; file: string }> {
  const file = join(tempDir(), 'weir.yaml');
  writeFileSync(file, text);
  const errors: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const code = await checkCommand(['-c', file]);
  return { code, errors, file };
}

describe('weir check', () => {
  it('passes the built-in profiles with an empty config', async () => {
    const { code, errors } = await check('');
    expect(errors).toEqual([]);
    expect(code).toBe(0);
  });

  it('reports an analytics override of an unknown profile even when another key of the config is invalid', async () => {
    const { code, errors, file } = await check([
      'mqtt: { port: "not-a-number" }',
      'analytics:',
      '  profiles:',
      '    no-such-profile: { rules: [] }',
      '',
    ].join('\n'));
    expect(code).toBe(1);
    expect(errors).toContainEqual(expect.stringMatching(/mqtt\.port: /));
    // Every problem at once, not one per run: the analytics block itself is valid, so its check runs too.
    expect(errors).toContainEqual(`${file}: analytics.profiles.no-such-profile: no device profile is named "no-such-profile"`);
    expect(errors.at(-1)).toBe('2 problem(s) found');
  });

  it('warns about a WEIR_ variable that sets nothing, naming the one it likely meant, without failing', async () => {
    vi.stubEnv('WEIR_KAFKA_BROKER', 'central:9092');
    const { code, errors } = await check('');
    expect(errors).toEqual(['warning: $WEIR_KAFKA_BROKER sets nothing (did you mean $WEIR_KAFKA_BROKERS?)']);
    expect(code).toBe(0);
  });
});
