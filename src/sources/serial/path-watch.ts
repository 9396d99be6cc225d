/**
 * A serial port's path watchdog: while the port is open, its path is stat()ed every
 * WATCH_INTERVAL_MS, and the port is reported lost when the path is gone (ENOENT) or
 * names another device (its rdev changed since the open).
 *
 * Why: a device can vanish without the read failing (seen with a PTY whose other end
 * went away), and a path that now names another device means the one opened is gone;
 * either way the old handle would neither deliver nor fail, and no reopen would start.
 *
 * Call order: start(handle) right after the port opened; stop() when it is lost or
 * halted. Guarantees: at most one timer; a check whose handle is no longer the port's
 * current one (WatchedPort.current()), or that was in flight at stop(), does nothing —
 * halt() keeps the handle until close(), so the handle alone cannot tell; stat errors
 * other than ENOENT just re-arm the check. Errors: none thrown; a loss goes to WatchedPort.lost().
 */
import { stat } from 'node:fs/promises';
import { ignore, type SerialPortHandle } from './open-port.js';
import type { PortCtx } from './port-ctx.js';

/**
 * While a port is open its path is checked this often: a device that vanished
 * without the read failing (seen with a PTY whose other end went away) is noticed.
 */
export const WATCH_INTERVAL_MS = 1000;

/** The reader as the watchdog sees it: its current handle, and where a loss goes. */
export interface WatchedPort {
  current(): SerialPortHandle | null;
  lost(handle: SerialPortHandle, err: Error): void;
}

export class PathWatch {
  private cancelWatch: (() => void) | null = null;
  /** Device number of the tty when opened; a change means another device now has the path. */
  private rdev: number | null = null;
  /** Bumped by start() and stop(): a stat() answering for an older one is ignored. */
  private generation = 0;

  constructor(private readonly ctx: PortCtx, private readonly port: WatchedPort) {}

  /** Notes the device number of the freshly opened `handle`'s path and starts the checks. */
  start(handle: SerialPortHandle): void {
    this.rdev = null;
    const gen = ++this.generation;
    stat(this.ctx.config.path).then((s) => { if (gen === this.generation && this.port.current() === handle) this.rdev = s.rdev; }, ignore);
    this.watch(handle, gen);
  }

  stop(): void {
    this.generation++;
    this.cancelWatch?.();
    this.cancelWatch = null;
  }

  private watch(handle: SerialPortHandle, gen: number): void {
    const { path } = this.ctx.config;
    this.cancelWatch = this.ctx.clock.setTimer(WATCH_INTERVAL_MS, () => {
      this.cancelWatch = null;
      stat(path).then(
        (s) => {
          if (gen !== this.generation || this.port.current() !== handle) return;
          if (this.rdev !== null && s.rdev !== this.rdev) return this.port.lost(handle, new Error(`${path} now names another device`));
          this.watch(handle, gen);
        },
        (err: NodeJS.ErrnoException) => {
          if (gen !== this.generation || this.port.current() !== handle) return;
          if (err.code === 'ENOENT') return this.port.lost(handle, new Error(`${path} disappeared`));
          this.watch(handle, gen);
        },
      );
    });
  }
}
