// The journal's durability at synchronous FULL, checked on the real system calls: the
// gateway's journal code runs in a child under strace(1), and every acknowledgement
// must come after an fdatasync/fsync of the WAL that began after the WAL's last write
// (src/journal/wal-sync.ts). NORMAL, which acknowledges without a flush, is the control:
// the same check must find its acknowledgements unflushed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs, tempDir } from '../support.js';

afterEach(() => cleanupTempDirs());

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHILD = fileURLToPath(new URL('../fixtures/journal-flush-child.ts', import.meta.url));

interface Verdict {
  acks: number;
  /** Acknowledgements given while a WAL write had no completed flush begun after it. */
  unflushed: number;
  /** Completed WAL flushes (SQLite's own at open and close included). */
  flushes: number;
  /** Acknowledgements whose covering flush ran on the main (event-loop) thread. */
  coveredOnMainThread: number;
}

/** `inlineBelowMs`: journal.flushInlineBelowMs (0: every flush on the thread pool; 1000: every one inline). */
function traceChild(synchronous: 'FULL' | 'NORMAL', inlineBelowMs = 1): Verdict {
  const dir = tempDir();
  const out = join(dir, 'strace.txt');
  const run = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat,pwrite64,write,fsync,fdatasync', '-e', 'signal=none', '-o', out,
    process.execPath, '--import', 'tsx', CHILD, join(dir, 'data'), synchronous, String(inlineBelowMs)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`could not run strace (${run.error.message}): install it with \`apt-get install -y strace\``);
  expect(run.status, run.stderr).toBe(0);
  return judge(readFileSync(out, 'utf8').split('\n'));
}

/**
 * Walks the trace in order (strace reports a thread's syscall exit before anything that
 * thread does next can happen, so causal order is kept across threads).
 */
function judge(lines: string[]): Verdict {
  const paths = new Map<string, string>(); // fd → path (no closes of these fds happen mid-run)
  const pendingFlush = new Map<string, { fd: string; began: number }>(); // tid → unfinished flush
  const mainTid = lines[0]!.split(/\s+/)[0]!;
  let lastWalWrite = -1;
  let coveredThrough = -1; // index where the latest completed flush began
  let coveringTid = '';
  const v: Verdict = { acks: 0, unflushed: 0, flushes: 0, coveredOnMainThread: 0 };
  const isWal = (fd: string) => paths.get(fd)?.endsWith('journal.sqlite-wal') ?? false;
  const flushed = (tid: string, fd: string, began: number) => {
    if (!isWal(fd)) return;
    v.flushes++;
    if (began < coveredThrough) return;
    coveredThrough = began;
    coveringTid = tid;
  };
  lines.forEach((line, i) => {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) return;
    const [, tid, call] = m as unknown as [string, string, string];
    let c: RegExpExecArray | null;
    if ((c = /^openat\(\w+, "([^"]+)".*\)\s+= (\d+)$/.exec(call))) paths.set(c[2]!, c[1]!);
    else if ((c = /^pwrite64\((\d+),/.exec(call)) && isWal(c[1]!)) lastWalWrite = i;
    else if ((c = /^f(?:data)?sync\((\d+)\)\s+= 0$/.exec(call))) flushed(tid, c[1]!, i);
    else if ((c = /^f(?:data)?sync\((\d+) <unfinished/.exec(call))) pendingFlush.set(tid, { fd: c[1]!, began: i });
    else if (/^<\.\.\. f(?:data)?sync resumed>\)\s+= 0$/.test(call) && pendingFlush.has(tid)) {
      const p = pendingFlush.get(tid)!;
      pendingFlush.delete(tid);
      flushed(tid, p.fd, p.began);
    } else if (/^write\(\d+, "ACK \d+\\n"/.test(call)) {
      v.acks++;
      if (lastWalWrite > coveredThrough) v.unflushed++;
      else if (coveringTid === mainTid) v.coveredOnMainThread++;
    }
  });
  return v;
}

describe('journal durability at synchronous FULL (strace)', () => {
  it('acknowledges a group only after a flush of the WAL that began after its writes, on the thread pool when flushes are slow', () => {
    const pool = traceChild('FULL', 0);
    expect(pool.acks).toBe(8);
    expect(pool.unflushed).toBe(0);
    expect(pool.flushes).toBeGreaterThanOrEqual(8);
    expect(pool.coveredOnMainThread).toBe(0);
  });

  it('the same with fast flushes, made inline on the event loop', () => {
    const inline = traceChild('FULL', 1000);
    expect(inline.acks).toBe(8);
    expect(inline.unflushed).toBe(0);
    expect(inline.coveredOnMainThread).toBe(8);
  });

  it('control: at NORMAL the same check finds acknowledgements without a flush', () => {
    const normal = traceChild('NORMAL');
    expect(normal.acks).toBe(8);
    expect(normal.unflushed).toBe(8);
  });
});
