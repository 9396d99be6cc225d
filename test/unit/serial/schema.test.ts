import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { serialConfigSchema } from '../../../src/config/serial-schema.js';
import { loadProfiles } from '../../../src/profiles/registry.js';
import { cleanupTempDirs, tempDir } from '../support.js';

afterEach(cleanupTempDirs);

const problems = (input: unknown) => {
  const r = serialConfigSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('serial config schema', () => {
  it('defaults: no ports; a port needs only name and path', () => {
    expect(serialConfigSchema.parse({})).toEqual({ ports: [] });
    expect(serialConfigSchema.parse({ ports: [{ name: 'gps', path: '/dev/ttyUSB0' }] }).ports[0]).toEqual({
      name: 'gps', path: '/dev/ttyUSB0', baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1,
      framing: 'lines', lineDelimiter: '\n', lengthPrefix: { bytes: 2, endian: 'big', includesHeader: false },
      maxFrameBytes: 4096, reopenMinMs: 500, reopenMaxMs: 30000,
    });
  });

  it('rejects what cannot work, naming the key', () => {
    expect(problems({ ports: [{ name: 'a/b', path: '/x' }] })).toEqual([expect.stringMatching(/^ports\.0\.name: must be/)]);
    expect(problems({ ports: [{ name: 'a', path: '/x', framing: 'slip' }] })).toEqual([expect.stringMatching(/^ports\.0\.framing:/)]);
    expect(problems({ ports: [{ name: 'a', path: '/x', lengthPrefix: { bytes: 3 } }] })).toEqual([expect.stringMatching(/^ports\.0\.lengthPrefix\.bytes:/)]);
    expect(problems({ ports: [{ name: 'a', path: '/x', dataBits: 9 }] })).toEqual([expect.stringMatching(/^ports\.0\.dataBits:/)]);
    expect(problems({ ports: [{ name: 'a', path: '/x', reopenMinMs: 5000, reopenMaxMs: 1000 }] })).toEqual(['ports.0.reopenMinMs: must not exceed reopenMaxMs (1000)']);
    expect(problems({ ports: [{ name: 'a', path: '/x', speed: 9600 }] })).toEqual([expect.stringMatching(/^ports\.0: Unrecognized key/)]);
    expect(problems({ ports: [{ name: 'a', path: '/x' }, { name: 'a', path: '/y' }, { name: 'b', path: '/x' }] })).toEqual([
      'ports.1.name: name "a" is already used by ports[0]',
      'ports.2.path: path "/x" is already used by ports[0]',
    ]);
  });

  it('documents every key (JSON Schema has a description on each property)', () => {
    const json = z.toJSONSchema(serialConfigSchema, { io: 'input' }) as unknown as { properties: { ports: { description?: string; items: { properties: Record<string, { description?: string; properties?: Record<string, { description?: string }> }> } } } };
    expect(json.properties.ports.description).toBeTruthy();
    const port = json.properties.ports.items.properties;
    for (const [key, p] of Object.entries(port)) expect(p.description, key).toBeTruthy();
    for (const [key, p] of Object.entries(port.lengthPrefix!.properties!)) expect(p.description, `lengthPrefix.${key}`).toBeTruthy();
  });

  it('a profile rule { protocol: serial, port: <name> } matches the port name the source sends as topic', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p.yaml'), [
      'name: serial-meter', 'match: [ { protocol: serial, port: meter-1.a } ]', 'device: { field: id }', 'metrics: { v: {} }',
      "samples: [ { payload: '{\"id\":\"d\",\"v\":1}', expect: [ { device: d, metrics: { v: 1 } } ] } ]", '',
    ].join('\n'));
    const { registry, problems: found } = loadProfiles([dir]);
    expect(found).toEqual([]);
    const name = serialConfigSchema.parse({ ports: [{ name: 'meter-1.a', path: '/dev/ttyS0' }] }).ports[0]!.name;
    expect(registry.match('serial', name)?.profile.name).toBe('serial-meter');
    expect(registry.match('serial', 'meter-2')).toBeUndefined();
    expect(registry.match('mqtt', name)).toBeUndefined();
  });
});
