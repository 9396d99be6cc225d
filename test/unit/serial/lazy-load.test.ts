// serialport (a native addon, an optional dependency) is loaded only when a serial
// port is configured, and a failure to load it is a clear error, not a crash.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { serialConfigSchema } from '../../../src/config/serial-schema.js';
import { loadSerialPort, SerialUnavailableError } from '../../../src/sources/serial/open-port.js';
import { SerialSource } from '../../../src/sources/serial/serial-source.js';
import { cleanupTempDirs, makeContext, tempDir } from '../support.js';

afterEach(cleanupTempDirs);

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const url = (rel: string) => pathToFileURL(join(ROOT, rel)).href;

/**
 * Runs a SerialSource for `ports` in a fresh Node process (start, then stop) and
 * reports what of serialport that process loaded: CommonJS modules from
 * serialport / @serialport, and native addons (.node shared objects) in memory.
 */
async function probe(ports: unknown[]): Promise<{ modules: string[]; addons: string[]; status: Record<string, unknown> }> {
  const script = join(tempDir('weir-serial-probe-'), 'probe.mts');
  writeFileSync(script, `
import { createRequire } from 'node:module';
import { SerialSource } from '${url('src/sources/serial/serial-source.ts')}';
import { serialConfigSchema } from '${url('src/config/serial-schema.ts')}';
import { makeContext } from '${url('test/unit/support.ts')}';
const src = new SerialSource(makeContext(), {} as never, serialConfigSchema.parse({ ports: ${JSON.stringify(ports)} }));
await src.start();
await src.stop();
const modules = Object.keys(createRequire(import.meta.url).cache).filter((k) => /[\\\\/]node_modules[\\\\/](serialport|@serialport)[\\\\/]/.test(k));
const addons = (process.report.getReport() as unknown as { sharedObjects: string[] }).sharedObjects.filter((s) => s.endsWith('.node'));
console.log(JSON.stringify({ modules, addons, status: src.status() }));
`);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, timeout: 60_000 }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)));
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('lazy serialport', () => {
  it('no port configured: a fresh process running the serial source never loads serialport or its addon', async () => {
    const got = await probe([]);
    expect(got.modules).toEqual([]);
    expect(got.addons.filter((a) => a.includes('serialport'))).toEqual([]);
    expect(got.status).toEqual({ listening: false, ports: {} }); // stopped
  });

  it('control: with a port configured the same probe sees serialport and its native addon loaded', async () => {
    const got = await probe([{ name: 'x', path: '/nonexistent/tty' }]);
    expect(got.modules.length).toBeGreaterThan(0);
    expect(got.addons.some((a) => a.includes('bindings-cpp'))).toBe(true);
  });

  it('serialport missing: start() resolves, the error names the package and how to install it, status shows it', async () => {
    const missing = Object.assign(new Error("Cannot find package 'serialport' imported from /opt/weir/dist/sources/serial/open-port.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    const errors: string[] = [];
    const ctx = makeContext();
    ctx.log = Object.assign(Object.create(ctx.log), { error: (_obj: unknown, msg: string) => errors.push(msg) });
    const src = new SerialSource(ctx, {} as never, serialConfigSchema.parse({ ports: [{ name: 'gps', path: '/dev/ttyUSB0' }] }), {
      loadSerialPort: () => loadSerialPort(() => Promise.reject(missing)),
    });
    await expect(src.start()).resolves.toBeUndefined();
    const status = src.status();
    expect(status).toMatchObject({ listening: false, ports: {} });
    expect(status.error).toMatch(/optional package "serialport".*not installed.*npm install serialport@13/);
    expect(errors).toEqual([status.error]);
    await src.stop();
  });

  it('loadSerialPort: an addon that fails to load, or a module without SerialPort, is a SerialUnavailableError', async () => {
    const broken = loadSerialPort(() => Promise.reject(new Error('No native build was found for platform=linux arch=riscv64')));
    await expect(broken).rejects.toBeInstanceOf(SerialUnavailableError);
    await expect(broken).rejects.toMatchObject({ code: 'WEIR_SERIAL_UNAVAILABLE', retryable: false });
    await expect(broken).rejects.toThrow(/loading it failed \(No native build was found.*npm install serialport@13/);
    await expect(loadSerialPort(() => Promise.resolve({ default: {} }))).rejects.toThrow(/no SerialPort class/);
    const open = await loadSerialPort(); // the real one: installed in this checkout
    expect(typeof open).toBe('function');
  });
});
