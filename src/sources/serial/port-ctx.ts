/**
 * What the stages of one serial port share (`ctx`): PortReader (open, loss, reopen,
 * stop), FrameSubmitter (frames into ingest, frame-submitter.ts) and PathWatch (the
 * path watchdog, path-watch.ts). One object, so each stage is built with it instead of
 * a long list of arguments; the counters and the last error live here because every
 * stage adds to them and status() shows them together.
 *
 * Call order: createPortCtx() once, in PortReader's constructor; noteError() any time.
 * Guarantees: `log` is the port's one child logger ({ component: 'serial', port, path });
 * no I/O, no timers. Errors: none.
 */
import type { SerialPortConfig } from '../../config/serial-schema.js';
import type { Clock } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';

/** The counters a port's status() shows, in that order. */
export interface PortCounters {
  frames: number;
  bytes: number;
  oversize: number;
  deadLetters: number;
  errors: number;
  reopens: number;
}

export interface PortCtx {
  readonly clock: Clock;
  readonly log: Logger;
  readonly config: SerialPortConfig;
  readonly counters: PortCounters;
  /** The latest error of any stage, with when it happened. */
  lastError: { message: string; at: number } | null;
  /** Records `err` as lastError and, unless `count` is false, counts it in counters.errors. */
  noteError(err: unknown, count?: boolean): void;
}

export function createPortCtx(ctx: Context, config: SerialPortConfig): PortCtx {
  const port: PortCtx = {
    clock: ctx.clock,
    log: ctx.log.child({ component: 'serial', port: config.name, path: config.path }),
    config,
    counters: { frames: 0, bytes: 0, oversize: 0, deadLetters: 0, errors: 0, reopens: 0 },
    lastError: null,
    noteError(err, count = true) {
      if (count) port.counters.errors++;
      port.lastError = { message: describeError(err), at: port.clock.now() };
    },
  };
  return port;
}
