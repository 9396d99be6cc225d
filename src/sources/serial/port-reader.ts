/**
 * One serial port's lifecycle: open, loss (error, close, end of stream, path gone),
 * reopen with backoff, stop. The bytes read go to FrameSubmitter (frame-submitter.ts),
 * the open path is watched by PathWatch (path-watch.ts); the three share one PortCtx
 * (port-ctx.ts) with the port's logger, counters and last error.
 *
 * Call order: start() once; halt() then close() to stop; status() any time.
 * Guarantees: one handle at a time; events of a handle already replaced are ignored;
 * one warning per outage and one info line when the port is back. Errors: none
 * thrown; open failures and losses schedule a reopen and show in status().
 */
import type { SerialPortConfig } from '../../config/serial-schema.js';
import type { Context } from '../../core/context.js';
import { describeError } from '../../core/errors.js';
import { backoffDelay } from '../../forwarder/backoff.js';
import type { Ingest } from '../../ingest/ingest.js';
import { FrameSubmitter, type SubmitTracker } from './frame-submitter.js';
import { detach, ignore, type OpenPort, type SerialPortHandle } from './open-port.js';
import { PathWatch } from './path-watch.js';
import { createPortCtx, type PortCtx } from './port-ctx.js';

export type PortState = 'opening' | 'open' | 'closed' | 'stopped';

/**
 * One configured serial port: opens it, cuts what it reads into frames and submits
 * each to ingest in stream order; on error, close or disappearance of the device it
 * reopens with exponential backoff and full jitter (reopenMinMs … reopenMaxMs),
 * logging once when the port is lost and once when it is back. Serial devices get no
 * acknowledgement, so a frame the journal refuses is lost: it is counted and logged.
 */
export class PortReader {
  private state: PortState = 'closed';
  private handle: SerialPortHandle | null = null;
  private readonly ctx: PortCtx;
  private readonly frames: FrameSubmitter;
  private readonly watch: PathWatch;
  /** Reopen attempts since the port was lost. */
  private attempt = 0;
  private cancelReopen: (() => void) | null = null;
  /** The open attempt in progress, awaited by halt(). */
  private opening: Promise<void> | null = null;
  private lostAt: number | null = null;
  private since: number;

  constructor(
    ctx: Context,
    ingest: Ingest,
    readonly config: SerialPortConfig,
    private readonly openPort: OpenPort,
    tracker: SubmitTracker,
  ) {
    this.ctx = createPortCtx(ctx, config);
    this.frames = new FrameSubmitter(this.ctx, ingest, tracker);
    this.watch = new PathWatch(this.ctx, { current: () => this.handle, lost: (handle, err) => this.lost(handle, err) });
    this.since = ctx.clock.now();
  }

  /** The first open attempt; resolves once it succeeded or failed (a failure schedules retries). */
  start(): Promise<void> {
    return this.tryOpen();
  }

  private setState(state: PortState): void {
    this.state = state;
    this.since = this.ctx.clock.now();
  }

  private tryOpen(): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    const { path, baudRate, dataBits, parity, stopBits } = this.config;
    this.setState('opening');
    this.opening = new Promise<void>((resolve) => {
      let handle: SerialPortHandle;
      try {
        handle = this.openPort({ path, baudRate, dataBits, parity, stopBits, autoOpen: false, lock: true });
      } catch (err) {
        this.openFailed(err);
        return resolve();
      }
      handle.on('error', (err) => this.lost(handle, err));
      handle.open((err) => {
        if (err) {
          detach(handle);
          this.openFailed(err);
        } else if (this.state === 'stopped') {
          detach(handle);
          this.handle = handle; // opened while stopping: close() closes it
        } else {
          this.opened(handle);
        }
        resolve();
      });
    }).finally(() => (this.opening = null));
    return this.opening;
  }

  private opened(handle: SerialPortHandle): void {
    const c = this.ctx;
    this.handle = handle;
    this.setState('open');
    handle.on('data', (chunk) => this.frames.push(chunk));
    handle.on('close', (err) => this.lost(handle, err ?? new Error('port closed')));
    handle.on('end', () => this.lost(handle, new Error('end of stream')));
    if (this.lostAt === null) {
      c.log.info({ baudRate: this.config.baudRate, framing: this.config.framing }, 'serial port open');
    } else {
      c.counters.reopens++;
      c.log.info({ attempts: this.attempt, downMs: c.clock.now() - this.lostAt }, 'serial port reopened; reading resumes');
    }
    this.lostAt = null;
    this.attempt = 0;
    this.watch.start(handle);
  }

  private openFailed(err: unknown): void {
    if (this.state === 'stopped') return;
    const c = this.ctx;
    // An outage counts as one error however many retries fail; lastError shows the latest.
    c.noteError(err, this.lostAt === null);
    this.setState('closed');
    if (this.lostAt === null) {
      // The first failure of an outage is logged; the retries are not (they would flood the log while unplugged).
      this.lostAt = c.clock.now();
      c.log.warn({ err: describeError(err), retryMaxMs: this.config.reopenMaxMs }, 'serial port cannot be opened; retrying with backoff');
    } else {
      c.log.debug({ err: describeError(err), attempt: this.attempt }, 'serial port still cannot be opened');
    }
    this.scheduleReopen();
  }

  /** The device went away (error, close, end of stream, path gone): close what is left and reopen. */
  private lost(handle: SerialPortHandle, err: unknown): void {
    if (handle !== this.handle || this.state !== 'open') return; // stale: an earlier handle, or already handled
    const c = this.ctx;
    c.noteError(err);
    this.handle = null;
    this.watch.stop();
    detach(handle);
    if (handle.isOpen) handle.close(ignore);
    const dropped = this.frames.reset();
    this.setState('closed');
    this.lostAt = c.clock.now();
    this.attempt = 0;
    c.log.warn({ err: describeError(err), droppedBytes: dropped }, 'serial port lost; reopening with backoff');
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    const delay = backoffDelay(this.attempt++, this.config.reopenMinMs, this.config.reopenMaxMs);
    this.cancelReopen = this.ctx.clock.setTimer(delay, () => {
      this.cancelReopen = null;
      void this.tryOpen();
    });
  }

  /** Stops reading and reopening; resolves once no open attempt is in progress. The port stays open until close(). */
  async halt(): Promise<void> {
    this.setState('stopped');
    this.cancelReopen?.();
    this.cancelReopen = null;
    this.watch.stop();
    const dropped = this.frames.reset();
    if (dropped) this.ctx.log.debug({ droppedBytes: dropped }, 'partial frame dropped at stop');
    if (this.handle) {
      this.handle.removeAllListeners();
      this.handle.on('error', ignore);
      this.handle.pause();
    }
    await this.opening;
  }

  /** Closes the port (after halt()). */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (!handle?.isOpen) return;
    await new Promise<void>((resolve) => handle.close(() => resolve()));
  }

  status(): Record<string, unknown> {
    const c = this.config;
    return {
      path: c.path,
      state: this.state,
      open: this.state === 'open',
      since: this.since,
      framing: c.framing,
      baudRate: c.baudRate,
      // Reopen attempts of the current outage, the scheduled one included.
      attempt: this.state === 'open' ? 0 : this.attempt,
      ...this.ctx.counters,
      discardedBytes: this.frames.discardedBytes,
      lastError: this.ctx.lastError,
    };
  }
}
