// A pair of pseudo-terminals joined by socat: the gateway opens `dev` as its serial
// port, the test writes to `peer` as the device would. Killing socat is unplugging the
// device (both PTYs and their links vanish); start() again on the same links is
// plugging it back in. Not a test file (vitest only picks *.test.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../support/wait.js';

export class SocatPty {
  readonly dev: string;
  readonly peer: string;
  private proc: ChildProcess | null = null;
  private fd: number | null = null;
  private log = '';

  constructor(dir: string, name = 'tty') {
    this.dev = join(dir, `${name}-dev`);
    this.peer = join(dir, `${name}-peer`);
  }

  /** Starts socat; resolves once both links exist and the peer end is open for writing. */
  async start(): Promise<void> {
    if (this.proc) throw new Error('socat already running');
    const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.dev}`, `pty,raw,echo=0,link=${this.peer}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    this.log = '';
    proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`socat exited (${proc.exitCode}): ${this.log}`);
      return this.log.includes('starting data transfer loop') && existsSync(this.dev) && existsSync(this.peer);
    }, 5000, 'socat PTYs', 10);
    // Held open for the PTY pair's life: socat ends the transfer when the last writer closes.
    this.fd = openSync(this.peer, constants.O_RDWR | constants.O_NOCTTY);
  }

  /** Writes bytes to the device end, as the device would send them. */
  write(data: Buffer | string): void {
    if (this.fd === null) throw new Error('socat is not running');
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
  }

  /** Unplugs: kills socat and waits until it exited and the links are gone. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await exited;
    }
    await waitFor(() => !existsSync(this.dev), 5000, 'PTY links removed', 10);
  }
}
