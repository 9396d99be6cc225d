// systemd/weir.service, checked by systemd's own tools (`systemd-analyze verify` and
// `systemd-analyze security --offline`, from Debian's systemd package; no running
// systemd needed) and for the directives the gateway and the install rely on.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const UNIT_FILE = join(REPO, 'systemd/weir.service');
const text = readFileSync(UNIT_FILE, 'utf8');

/**
 * The highest acceptable `systemd-analyze security` exposure (0 = locked down, 10 =
 * unprotected; "OK" is 1.0–4.9, "MEDIUM" from 5.0). With systemd 252 (Debian 12, this
 * CI's) the unit scores 1.5 OK; what is left is inherent to a gateway (network access,
 * the serial devices, the dialout group, V8's JIT needing W+X memory). Dropping any one
 * weighted setting (ProtectSystem=strict, the ~@privileged @resources filter,
 * PrivateMounts=, …) makes it 1.7, so the bound is 1.6. A newer systemd that rates more
 * settings may need the bound and this figure updated together.
 */
const MAX_EXPOSURE = 1.6;

/** The unit's directives: section → key → values, in order (a key may repeat). */
function parseUnit(source: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of source.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`unexpected line in the unit: ${raw}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const unit = parseUnit(text);
const service = unit.get('Service')!;
/** The last value of a key (systemd's rule for single-valued settings). */
const get = (key: string, section = service): string | undefined => section.get(key)?.at(-1);

/** systemd time span ("30s", "10min", "2min 30s", a bare number = seconds) in seconds. */
function seconds(span: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, m: 60, min: 60, h: 3600, ms: 0.001 };
  let total = 0;
  for (const [, n, u] of span.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]*)/g)) {
    if (!(u! in units)) throw new Error(`unknown time unit in ${span}`);
    total += Number(n) * units[u!]!;
  }
  return total;
}

/** Bytes from a systemd size such as 512M. */
function bytes(size: string): number {
  const m = /^(\d+)([KMGT]?)$/.exec(size);
  if (!m) throw new Error(`not a size: ${size}`);
  return Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2] || ' ');
}

function systemdAnalyze(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', env: { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' } });
  if (r.error) throw new Error(`systemd-analyze is needed (Debian: apt-get install systemd): ${r.error.message}`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// `verify` checks that ExecStart's binary exists. The unit runs /usr/bin/node, where
// Debian's and NodeSource's packages put it on a gateway; a test machine may have node
// elsewhere, so the tools check a copy (same name, weir.service) whose ExecStart
// names this test's own node binary. Nothing else differs.
const dir = mkdtempSync(join(tmpdir(), 'weir-unit-systemd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const copy = join(dir, 'weir.service');
writeFileSync(copy, text.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `));

describe('systemd/weir.service', () => {
  it('passes `systemd-analyze verify` without a complaint', () => {
    expect(readFileSync(copy, 'utf8').replace(`ExecStart=${process.execPath} `, 'ExecStart=/usr/bin/node ')).toBe(text);
    const { status, out } = systemdAnalyze(['verify', copy]);
    // verify exits 0 on warnings such as an unknown key, so its output must be clean
    // too, as far as this unit is concerned (lines about the host's units are not ours).
    const ours = out.split('\n').filter((l) => l.includes('weir.service') || l.includes(dir));
    expect(ours, out).toEqual([]);
    expect(status, out).toBe(0);
  });

  it(`has a \`systemd-analyze security\` exposure of at most ${MAX_EXPOSURE} ("OK" or better)`, () => {
    const { status, out } = systemdAnalyze(['security', '--offline=true', '--no-pager', copy]);
    expect(status, out).toBe(0);
    const m = /Overall exposure level for weir\.service: (\d+(?:\.\d+)?) (\w+)/.exec(out);
    expect(m, out).not.toBeNull();
    const [, score, rating] = m!;
    expect(Number(score), out).toBeLessThanOrEqual(MAX_EXPOSURE);
    expect(['PERFECT', 'SAFE', 'OK']).toContain(rating);
  });

  it('is a Type=notify service with a watchdog, restarted always with a back-off and a start limit', () => {
    expect(get('Type')).toBe('notify');
    expect(get('NotifyAccess')).toBe('main');
    expect(seconds(get('WatchdogSec')!)).toBeGreaterThanOrEqual(10);
    expect(get('Restart')).toBe('always');
    expect(seconds(get('RestartSec')!)).toBeGreaterThan(0);
    const unitSection = unit.get('Unit')!;
    const interval = seconds(get('StartLimitIntervalSec', unitSection)!);
    const burst = Number(get('StartLimitBurst', unitSection));
    expect(interval).toBeGreaterThan(0);
    expect(burst).toBeGreaterThan(1);
    // systemd gives up only on a tight crash loop (a broken config or install): a
    // gateway that hangs and is killed by its watchdog on every start keeps restarting.
    const watchdogLoop = seconds(get('WatchdogSec')!) + seconds(get('RestartSec')!);
    expect(burst * watchdogLoop, 'watchdog kills alone would hit the start limit').toBeGreaterThan(interval);
  });

  it('gives the graceful stop more time than the gateway takes for its last forward', () => {
    const stopTimeoutMs = configSchema.parse({}).gateway.stopTimeoutMs;
    expect(seconds(get('TimeoutStopSec')!)).toBeGreaterThanOrEqual(stopTimeoutMs / 1000 + 10);
    expect(get('KillSignal') ?? 'SIGTERM').toBe('SIGTERM');
  });

  it('npm start and the container start Node with the same heap flags as the unit', () => {
    const flags = (cmd: string) => cmd.split(/\s+/).filter((w) => w.startsWith('--'));
    const unitFlags = flags(get('ExecStart')!);
    expect(unitFlags).toEqual(expect.arrayContaining([expect.stringMatching(/^--max-semi-space-size=\d+$/), expect.stringMatching(/^--max-old-space-size=\d+$/)]));
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { start: string } };
    expect(flags(pkg.scripts.start)).toEqual(unitFlags);
    const dockerfile = readFileSync(join(REPO, 'docker/Dockerfile'), 'utf8');
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!;
    expect((JSON.parse(entry) as string[]).filter((w) => w.startsWith('--'))).toEqual(unitFlags);
    // And the same allocator setting (glibc reads it at start; see the unit's comment).
    const unitMalloc = [...text.matchAll(/^Environment=(MALLOC_\w+=\S+)$/gm)].map((m) => m[1]!);
    expect(unitMalloc).toEqual(['MALLOC_MMAP_THRESHOLD_=1048576']);
    expect(pkg.scripts.start.split(/\s+/).filter((w) => w.startsWith('MALLOC_'))).toEqual(unitMalloc);
    expect(dockerfile.match(/MALLOC_\w+=\S+/g)).toEqual(unitMalloc);
  });

  it('runs /opt/weir as the weir user, in dialout, with its config and state directories', () => {
    expect(get('ExecStart')).toBe('/usr/bin/node --max-semi-space-size=4 --max-old-space-size=256 /opt/weir/bin/weir.js run');
    expect(get('User')).toBe('weir');
    expect(get('Group')).toBe('weir');
    expect(get('SupplementaryGroups')!.split(/\s+/)).toContain('dialout');
    expect(get('StateDirectory')).toBe('weir');
    expect(get('ConfigurationDirectory')).toBe('weir');
    expect(service.get('Environment')).toEqual(expect.arrayContaining(['WEIR_CONFIG=/etc/weir/weir.yaml', 'WEIR_DATA_DIR=/var/lib/weir']));
    expect(get('UMask')).toBe('0027');
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('caps memory for a Pi, with MemoryHigh below MemoryMax', () => {
    const max = bytes(get('MemoryMax')!);
    const high = bytes(get('MemoryHigh')!);
    expect(max).toBeLessThanOrEqual(1024 ** 3);
    expect(max).toBeGreaterThanOrEqual(256 * 1024 ** 2);
    expect(high).toBeLessThan(max);
  });

  it('is sandboxed, without capabilities, with the serial ports as its only devices, and lets V8 JIT', () => {
    for (const [key, value] of Object.entries({
      NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'no',
      DevicePolicy: 'closed', ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes', ProtectClock: 'yes', ProtectHostname: 'yes', RestrictNamespaces: 'yes',
      LockPersonality: 'yes', RestrictRealtime: 'yes', RestrictSUIDSGID: 'yes', SystemCallArchitectures: 'native',
      CapabilityBoundingSet: '', AmbientCapabilities: '',
    })) {
      expect(get(key), key).toBe(value);
    }
    expect(get('RestrictAddressFamilies')!.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    expect(service.get('SystemCallFilter')![0]!.split(/\s+/)).toContain('@system-service');
    // Node's JIT maps memory writable and executable: MemoryDenyWriteExecute=yes kills it.
    expect(get('MemoryDenyWriteExecute') ?? 'no').toBe('no');
    const devices = service.get('DeviceAllow')!.map((d) => d.split(/\s+/)[0]);
    expect(devices).toEqual(expect.arrayContaining(['char-ttyUSB', 'char-ttyACM', 'char-ttyAMA', '/dev/serial0']));
  });
});
