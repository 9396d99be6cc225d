// `weir decode` through the CLI's entry point (src/cli/main.ts), as the bin calls it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { cleanupTempDirs, tempDir } from './support.js';

afterEach(() => {
  vi.restoreAllMocks();
  cleanupTempDirs();
});

/** Runs `weir …`; resolves to the exit code and what went to stdout and stderr. */
async function weir(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void out.push(String(line)));
  vi.spyOn(console, 'error').mockImplementation((line: unknown) => void err.push(String(line)));
  const code = await main(argv);
  return { code, out, err };
}

describe('weir decode @FILE', () => {
  it('decodes the payload a file holds', async () => {
    const file = join(tempDir(), 'payload.json');
    writeFileSync(file, JSON.stringify({ hostname: 'h1', cpu: 'cpu0', usage: 42.5, occurred_at: 1_700_000_000_000 }));
    const { code, out } = await weir('decode', '-p', 'cpu-monitor', `@${file}`);
    expect(code).toBe(0);
    expect(out).toHaveLength(1);
    expect(JSON.parse(out[0]!)).toMatchObject({ device: 'h1', ts: 1_700_000_000_000, metrics: { usage: 42.5 } });
  });

  it('names a file it cannot read in one line and exits 1, instead of a stack trace', async () => {
    const missing = join(tempDir(), 'no-such-file.json');
    const { code, out, err } = await weir('decode', '-p', 'cpu-monitor', `@${missing}`);
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toContain('WEIR_INPUT_UNREADABLE');
    expect(err[0]).toContain(missing);
    expect(err[0]).toContain('ENOENT');
  });
});

describe('weir decode without --topic', () => {
  it('asks for a topic when the profile reads named segments from it, instead of using "{device}" as the device id', async () => {
    const { code, out, err } = await weir('decode', '-p', 'temperature-sensor', '{"t":20.5,"time":1714557600}');
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err).toEqual(['weir decode: WEIR_USAGE: temperature-sensor reads {device} from the topic or path (sensors/{device}/temperature): give --topic or --path']);
    const given = await weir('decode', '-p', 'temperature-sensor', '--topic', 'sensors/t-1/temperature', '{"t":20.5,"time":1714557600}');
    expect(given.code).toBe(0);
    expect(JSON.parse(given.out[0]!)).toMatchObject({ device: 't-1' });
  });
});
