// Per-process counters from /proc, read from outside the process so every peer
// (Weir, Mosquitto, the Kafka JVM, the generator) is measured the same way.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** user + system CPU seconds of all the process's threads (zlib, libuv pool and GC threads count). */
export function cpuSeconds(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, so utime (14) and stime (15) are at 11 and 12.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/**
 * Bytes this process caused to be written to the block device (write_bytes in
 * /proc/<pid>/io): page-cache writeback and fsync included, so SQLite's WAL,
 * checkpoints and deletes all count — what wears the flash.
 */
export function writeBytes(pid: number): number {
  const m = /^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Resident set now and its high-water mark, in MB. */
export function memoryMB(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/**
 * Where the resident set is, in MB, from /proc/<pid>/smaps. `v8Pages`: anonymous
 * mappings of exactly 256 KiB, V8's heap page size on x64 (every isolate's heap,
 * young and old); `malloc`: the brk heap, glibc's main arena (SQLite, Node's buffers
 * under MALLOC_MMAP_THRESHOLD_); `otherAnon`: everything else anonymous (thread
 * arenas and stacks, large buffers); `file`: the node binary and shared libraries,
 * pages shared with other processes and reclaimable by the kernel.
 */
export function memoryBreakdownMB(pid: number): { v8Pages: number; malloc: number; otherAnon: number; file: number } {
  const out = { v8Pages: 0, malloc: 0, otherAnon: 0, file: 0 };
  let bucket: keyof typeof out = 'otherAnon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const name = m[3]!;
      const size = parseInt(m[2]!, 16) - parseInt(m[1]!, 16);
      bucket = name === '[heap]' ? 'malloc' : name.startsWith('/') ? 'file' : name === '' && size === 256 * 1024 ? 'v8Pages' : 'otherAnon';
    } else if (line.startsWith('Rss:')) {
      out[bucket] += Number(line.split(/\s+/)[1]) / 1024;
    }
  }
  return out;
}

/**
 * Samples a process's RSS every `everyMs` until stop(): RSS at the start and at stop(), the
 * largest seen (the stop() reading included) and the kernel's high-water mark, in MB.
 */
export function rssSampler(pid: number, everyMs = 250): { stop(): { startMB: number; endMB: number; maxMB: number; hwmMB: number } } {
  const start = memoryMB(pid).rss;
  let max = start;
  const t = setInterval(() => { try { max = Math.max(max, memoryMB(pid).rss); } catch { /* exited */ } }, everyMs);
  return { stop: () => { clearInterval(t); const m = memoryMB(pid); return { startMB: start, endMB: m.rss, maxMB: Math.max(max, m.rss), hwmMB: m.hwm }; } };
}

/** The first process whose command line contains `needle` (e.g. the Kafka JVM by its data dir). */
export function findPid(needle: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(needle)) return Number(d);
    } catch {
      // the process went away while we looked
    }
  }
  return undefined;
}

/** CPU seconds of every process on the machine, by pid, with its name. */
function snapshotAll(): Map<number, { comm: string; cpu: number }> {
  const m = new Map<number, { comm: string; cpu: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      m.set(Number(d), { comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), cpu: cpuSeconds(Number(d)) });
    } catch {
      // gone meanwhile
    }
  }
  return m;
}

/**
 * CPU seconds per process between two snapshots, plus what the rest of the machine
 * burned meanwhile: `other` (other processes, e.g. someone's test run on a shared box
 * — it distorts every figure, and this says by how much; the biggest are named in
 * `otherTop`), `irq` (interrupt/softirq time no process is billed for) and `steal`.
 */
export class CpuMeter {
  private start = new Map<string, number>();
  private machine0 = machineBusySeconds();
  private all0 = snapshotAll();
  /** The biggest other processes at the last read(), e.g. "java 4.1s, node 2.0s". */
  otherTop = '';
  /** `exclude`: our own helpers (the generator) that are neither measured here nor "other". */
  constructor(private readonly pids: Record<string, number | undefined>, private readonly exclude: number[] = []) {
    for (const [name, pid] of Object.entries(pids)) if (pid) this.start.set(name, cpuSeconds(pid));
  }
  /** `known`: CPU of processes that measured themselves (and may have exited), e.g. the generator. */
  read(known: Record<string, number> = {}): Record<string, number> {
    const out: Record<string, number> = { ...known };
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = this.start.get(name);
      if (pid && s !== undefined) {
        try { out[name] = cpuSeconds(pid) - s; } catch { /* exited */ }
      }
    }
    const m = machineBusySeconds();
    const ours = new Set([...Object.values(this.pids), ...this.exclude]);
    const others: Array<[string, number]> = [];
    for (const [pid, { comm, cpu }] of snapshotAll()) {
      const before = this.all0.get(pid);
      if (!ours.has(pid) && before && before.comm === comm && cpu - before.cpu > 0.05) others.push([comm, cpu - before.cpu]);
    }
    others.sort((a, b) => b[1] - a[1]);
    // Machine-wide process time less ours also catches what the snapshots cannot see:
    // short-lived processes, and other sandboxes' processes in their own PID namespaces.
    const oursS = Object.values(out).reduce((a, b) => a + b, 0);
    out.other = Math.max(others.reduce((a, [, c]) => a + c, 0), m.procs - this.machine0.procs - oursS);
    out.irq = m.irq - this.machine0.irq;
    out.steal = m.steal - this.machine0.steal;
    this.otherTop = others.slice(0, 4).map(([c, s]) => `${c} ${s.toFixed(1)}s`).join(', ');
    return out;
  }
}

export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

export function fsType(dir: string): string {
  return spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
}

/**
 * Machine-wide CPU seconds (all cores) from /proc/stat: process time, irq+softirq,
 * and steal — time the hypervisor gave to other VMs, invisible from in here.
 */
export function machineBusySeconds(): { procs: number; irq: number; steal: number } {
  // user nice system idle iowait irq softirq steal (guest time is inside user)
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { procs: (f[0]! + f[1]! + f[2]!) / CLK_TCK, irq: (f[5]! + f[6]!) / CLK_TCK, steal: f[7]! / CLK_TCK };
}

/**
 * Waits (up to `maxMs`) until processes other than `ours` use less than `cores` of
 * CPU, so a scenario does not start while someone else's test run owns the box.
 * Returns what the others were using when it gave up or went ahead.
 */
export async function waitQuiet(ours: number[], cores = 0.3, maxMs = 600_000, log?: (s: string) => void): Promise<number> {
  const deadline = Date.now() + maxMs;
  let told = false;
  for (;;) {
    const meter = new CpuMeter(Object.fromEntries(ours.map((pid, i) => [`p${i}`, pid])));
    await new Promise((r) => setTimeout(r, 2000));
    const busy = meter.read().other! / 2;
    if (busy < cores || Date.now() > deadline) {
      if (busy >= cores) log?.(`  machine still busy (${busy.toFixed(2)} cores: ${meter.otherTop}); going ahead`);
      return busy;
    }
    if (!told) log?.(`  waiting for other processes to quieten (${busy.toFixed(2)} cores: ${meter.otherTop})`);
    told = true;
  }
}
